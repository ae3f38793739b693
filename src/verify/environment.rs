//! What the environment file asks verify to check: which contexts and how each is routed, which
//! hostnames the passthrough router must pass through, and the environment checks this build
//! does not perform yet (reported as such, never as passed). Pure.

use super::diagnose::Route;
use super::report::{CheckStatus, EnvCheck};
use crate::config::{Env, Provider, VclusterAccess};

/// The contexts the file declares, host cluster first, each with its route.
pub fn declared_contexts(env: &Env) -> Vec<(String, Route)> {
    let mut out = vec![(env.cluster.context.clone(), Route::Api)];
    for v in &env.vclusters {
        out.push((v.context.clone(), vcluster_route(env, v)));
    }
    out
}

fn vcluster_route(env: &Env, v: &crate::config::Vcluster) -> Route {
    match v.access {
        VclusterAccess::Ingress => Route::Passthrough {
            hostname: v.hostname.clone(),
            https_port: env.router.https_port,
        },
        VclusterAccess::PortForward => Route::PortForward {
            local_port: v.local_port.unwrap_or_default(),
            namespace: v.namespace.clone(),
            service: v.release.clone(),
        },
    }
}

/// The route of any context name: what the file says, or `Unknown` for a context it does not declare.
pub fn route_for(env: Option<&Env>, context: &str) -> Route {
    env.and_then(|e| declared_contexts(e).into_iter().find(|(c, _)| c == context))
        .map(|(_, r)| r)
        .unwrap_or_default()
}

/// The router port and the (context, hostname) pairs it must pass through, when the file routes
/// any vcluster through passthrough.
pub fn passthrough_routes(env: &Env) -> Option<(u16, Vec<(String, String)>)> {
    if !env.router.passthrough {
        return None;
    }
    let routes: Vec<(String, String)> = env
        .vclusters
        .iter()
        .filter(|v| v.access == VclusterAccess::Ingress)
        .map(|v| (v.context.clone(), v.hostname.clone()))
        .collect();
    (!routes.is_empty()).then_some((env.router.https_port, routes))
}

/// The environment checks that need Docker and cluster observation, which this build does not
/// have: listed so the report says plainly they were not made.
pub fn not_checked(env: &Env) -> Vec<EnvCheck> {
    let item = |name: String| EnvCheck {
        name,
        status: CheckStatus::NotChecked,
        detail: "not checked in this build (needs the Docker and cluster observation)".into(),
        hint: None,
    };
    let mut out = Vec::new();
    if env.cluster.provider == Provider::Kind {
        out.push(item("Docker daemon".into()));
        out.push(item(format!(
            "node container {}-control-plane running",
            env.cluster.name
        )));
        out.push(item(format!(
            "API port {}:{} published",
            env.cluster.api_server.address, env.cluster.api_server.port
        )));
    }
    for v in &env.vclusters {
        out.push(item(format!(
            "vcluster secret {}/{}",
            v.namespace,
            v.secret_name()
        )));
        if env.argocd.register {
            out.push(item(format!(
                "ArgoCD cluster secret for {} in {}",
                v.name, env.argocd.namespace
            )));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> Env {
        let loaded = crate::config::load_str(text, "envs.yaml", &[]);
        loaded
            .env
            .unwrap_or_else(|| panic!("invalid test env: {:?}", loaded.diags.items))
    }

    const FILE: &str = r#"
cluster: { name: localdev }
router: { domain: cnoe.localtest.me, httpsPort: 8443 }
vclusters:
  - name: dev
  - name: staging
    access: port-forward
    localPort: 9443
argocd: { register: true }
"#;

    #[test]
    fn contexts_and_routes_come_from_the_file() {
        let e = env(FILE);
        let ctx = declared_contexts(&e);
        assert_eq!(ctx[0].1, Route::Api);
        assert_eq!(ctx.len(), 3);
        let dev = &ctx[1];
        assert!(
            matches!(&dev.1, Route::Passthrough { hostname, https_port: 8443 } if hostname.contains("dev")),
            "{dev:?}"
        );
        assert!(
            matches!(
                &ctx[2].1,
                Route::PortForward {
                    local_port: 9443,
                    ..
                }
            ),
            "{:?}",
            ctx[2]
        );
        assert_eq!(route_for(Some(&e), &ctx[1].0), ctx[1].1);
        assert_eq!(route_for(Some(&e), "someone-elses"), Route::Unknown);
        assert_eq!(route_for(None, &ctx[1].0), Route::Unknown);
    }

    #[test]
    fn passthrough_covers_only_ingress_vclusters() {
        let e = env(FILE);
        let (port, routes) = passthrough_routes(&e).unwrap();
        assert_eq!(port, 8443);
        assert_eq!(routes.len(), 1);
    }

    #[test]
    fn unperformed_checks_are_listed_as_not_checked() {
        let checks = not_checked(&env(FILE));
        assert!(checks.iter().all(|c| c.status == CheckStatus::NotChecked));
        assert!(checks
            .iter()
            .any(|c| c.name == "node container localdev-control-plane running"));
        assert_eq!(
            checks
                .iter()
                .filter(|c| c.name.starts_with("ArgoCD"))
                .count(),
            2
        );
    }
}
