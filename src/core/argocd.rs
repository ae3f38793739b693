//! ArgoCD cluster registration: one Secret per vcluster, the way the seeds register them.

use crate::core::config::{Env, Vcluster};
use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Credentials read from the vcluster's `vc-<release>` secret (PEM).
pub struct VclusterCreds<'a> {
    pub ca_pem: &'a [u8],
    pub cert_pem: &'a [u8],
    pub key_pem: &'a [u8],
}

pub fn secret_name(v: &Vcluster) -> String {
    format!("cluster-{}", v.context)
}

/// In-cluster address: ArgoCD runs in the host cluster and dials the vcluster's service, whose
/// name the rendered values put in the certificate (`extraSANs`).
pub fn server(v: &Vcluster) -> String {
    format!("https://{}.{}.svc:443", v.release, v.namespace)
}

pub fn cluster_secret(env: &Env, v: &Vcluster, creds: &VclusterCreds) -> Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    // Argo CD's cluster config (its `ClusterConfig`, not a Kubernetes type), stored as text: the
    // converged check compares that text with the live Secret's byte for byte.
    let config = json!({
        "tlsClientConfig": {
            "caData": b64(creds.ca_pem),
            "certData": b64(creds.cert_pem),
            "keyData": b64(creds.key_pem),
        }
    });
    let mut labels = crate::core::ownership::labels(&env.cluster.name);
    labels.insert("argocd.argoproj.io/secret-type".into(), "cluster".into());
    labels.insert(
        crate::core::ownership::VCLUSTER_LABEL.into(),
        v.name.clone(),
    );
    labels.extend(env.argocd.labels.clone());
    crate::core::objects::manifest(&Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(v)),
            namespace: Some(env.argocd.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([
            ("name".into(), v.context.clone()),
            ("server".into(), server(v)),
            ("config".into(), config.to_string()),
        ])),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

    #[test]
    fn secret_is_labelled_and_points_at_the_service() {
        let env = load_str("vclusters: [{name: dev, release: vcluster-dev-helm, namespace: dev-vcluster}]\nargocd: {register: true, labels: {environment: dev}}\n", "t", &[])
            .env
            .unwrap();
        let s = cluster_secret(
            &env,
            &env.vclusters[0],
            &VclusterCreds {
                ca_pem: b"CA",
                cert_pem: b"C",
                key_pem: b"K",
            },
        );
        assert_eq!(s["metadata"]["name"], "cluster-dev-vcluster");
        assert_eq!(s["metadata"]["namespace"], "argocd");
        assert_eq!(
            s["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
            "cluster"
        );
        assert_eq!(s["metadata"]["labels"]["environment"], "dev");
        assert_eq!(
            s["stringData"]["server"],
            "https://vcluster-dev-helm.dev-vcluster.svc:443"
        );
        let config: Value =
            serde_json::from_str(s["stringData"]["config"].as_str().unwrap()).unwrap();
        assert_eq!(config["tlsClientConfig"]["caData"], "Q0E=");
    }
}
