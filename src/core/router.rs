//! The passthrough router behind one interface, so a Gateway API TLSRoute router is a small
//! addition: its Helm release and the route objects for the vclusters it fronts.

use crate::core::config::{Env, RouterKind};
use crate::core::release::Release;

pub trait Router {
    /// The router's Helm release.
    fn release(&self, env: &Env) -> Release;
    /// Route objects (multi-document YAML) sending each hostname to its vcluster's service,
    /// TLS untouched; empty for vclusters reached by port-forward.
    fn routes(&self, env: &Env, vcluster: &str) -> String;
}

pub struct IngressNginx;

impl Router for IngressNginx {
    fn release(&self, env: &Env) -> Release {
        Release {
            name: env.router.release.clone(),
            namespace: env.router.namespace.clone(),
            chart: env.router.chart.clone(),
            values: crate::core::render::router_values(env),
        }
    }

    fn routes(&self, env: &Env, vcluster: &str) -> String {
        crate::core::render::routes(env)
            .iter()
            .filter(|r| r["metadata"]["labels"]["bootstrap/vcluster"] == vcluster)
            .map(|r| format!("---\n{}", crate::core::render::to_yaml(r)))
            .collect()
    }
}

/// The router the file asks for. Validation rejects kinds not implemented yet, so this is total
/// over valid files.
pub fn router_for(env: &Env) -> Box<dyn Router + Send + Sync> {
    match env.router.kind {
        RouterKind::IngressNginx | RouterKind::GatewayApi => Box::new(IngressNginx),
    }
}
