//! vcluster's kubeconfig secret `vc-<release>`: read directly instead of `vcluster connect`,
//! which hangs in scripts.

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VclusterSecret {
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub token: Option<String>,
    /// The kubeconfig vcluster exported (server is the in-cluster service).
    pub config: Option<Vec<u8>>,
}

fn field(s: &Secret, key: &str) -> Option<Vec<u8>> {
    s.data
        .as_ref()?
        .get(key)
        .map(|b| b.0.clone())
        .filter(|b| !b.is_empty())
}

fn decode(ns: &str, name: &str, s: &Secret) -> Result<VclusterSecret> {
    let need = |key: &str| {
        field(s, key).with_context(|| {
            format!("secret {ns}/{name} has no `{key}` key (is the vcluster still starting?)")
        })
    };
    Ok(VclusterSecret {
        ca_pem: need("certificate-authority")?,
        cert_pem: need("client-certificate")?,
        key_pem: need("client-key")?,
        token: field(s, "token").and_then(|t| String::from_utf8(t).ok()),
        config: field(s, "config"),
    })
}

pub async fn read_vcluster_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<VclusterSecret>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api
        .get_opt(name)
        .await
        .with_context(|| format!("reading secret {namespace}/{name}"))?
    {
        Some(s) => decode(namespace, name, &s).map(Some),
        None => Ok(None),
    }
}

/// Poll until the secret exists with all its keys, at most `timeout`.
pub async fn wait_for_vcluster_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<VclusterSecret> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match read_vcluster_secret(client, namespace, name).await {
            Ok(Some(s)) => return Ok(s),
            Ok(None) => format!("secret {namespace}/{name} does not exist yet"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!(
                "vcluster secret {namespace}/{name} not ready within {:.1}s: {last}",
                timeout.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
