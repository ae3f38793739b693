//! Each context's server, tls-server-name and where its CA and credentials come from.

use crate::core::access::{candidates, Dial, Endpoint};
use crate::core::config::{AccessMode, Env, Provider};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextPlan {
    pub name: String,
    pub endpoint: String,
    pub ca: String,
    pub credentials: String,
    /// Tried in order; in auto mode the first that completes TLS and an authenticated /version wins.
    pub routes: Vec<Dial>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_tls_verify: bool,
}

pub fn contexts(env: &Env, mode: AccessMode) -> Vec<ContextPlan> {
    let insecure = env.access.insecure_skip_tls_verify;
    let mut out = Vec::new();
    if env.cluster.provider == Provider::Kind {
        out.push(ContextPlan {
            name: env.cluster.context.clone(),
            endpoint: format!("kind cluster {} API server", env.cluster.name),
            ca: "the kubeconfig kind wrote (certificate-authority-data)".into(),
            credentials: "the kubeconfig kind wrote (client certificate)".into(),
            routes: candidates(env, Endpoint::KindApi, mode),
            insecure_skip_tls_verify: insecure,
        });
    }
    for v in &env.vclusters {
        let secret = format!("secret {}/{}", v.namespace, v.secret_name());
        out.push(ContextPlan {
            name: v.context.clone(),
            endpoint: format!("vcluster {} ({:?})", v.name, v.access).to_lowercase(),
            ca: format!("{secret}, key certificate-authority"),
            credentials: format!("{secret}, keys client-certificate and client-key"),
            routes: candidates(env, Endpoint::Vcluster(v), mode),
            insecure_skip_tls_verify: insecure,
        });
    }
    out
}
