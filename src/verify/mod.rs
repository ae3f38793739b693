//! `bootstrap verify`: prove each context works layer by layer (dns, tcp, tls, auth, api) and,
//! when one does not, say which layer broke and what to do about it.
//!
//! `target` resolves kubeconfig contexts, `probe` dials them (the shell), `diagnose` turns
//! failure facts into advice (pure), `environment` reads what the file declares (pure), `report`
//! renders the outcome.

pub mod diagnose;
pub mod environment;
pub mod probe;
pub mod report;
pub mod target;

pub use probe::{
    check_passthrough, verify_contexts, verify_contexts_with, HostFacts, PassthroughExpect,
};
pub use report::Report;
pub use target::{load_kubeconfig, resolve, Resolved, Target, TargetError};

use crate::config::Env;
use kube::config::Kubeconfig;
use std::time::Duration;

/// Everything `bootstrap verify` checks for an environment file, what `up` ends with: each
/// declared context (host cluster first), the router passing each vcluster's hostname through,
/// and the environment checks this build does not make, listed as not checked.
pub async fn verify_env(env: &Env, kc: &Kubeconfig, timeout: Duration, facts: HostFacts) -> Report {
    let targets: Vec<Resolved> = environment::declared_contexts(env)
        .into_iter()
        .map(|(name, route)| resolve(kc, &name, route))
        .collect();
    let passthrough = environment::passthrough_routes(env).map(|(port, routes)| {
        let expects: Vec<PassthroughExpect> = routes
            .into_iter()
            .map(|(context, hostname)| {
                // the vcluster's own CA, from its context: the router must not answer in its place
                let ca_pem = targets
                    .iter()
                    .flatten()
                    .find(|t| t.context == context)
                    .and_then(|t| t.ca_pem.clone());
                PassthroughExpect {
                    context,
                    hostname,
                    ca_pem,
                }
            })
            .collect();
        (port, expects)
    });
    let router = async {
        match passthrough {
            Some((port, expects)) => check_passthrough(port, expects, timeout, facts).await,
            None => Vec::new(),
        }
    };
    let (contexts, mut checks) = tokio::join!(probe::probe_all(targets, timeout, facts), router);
    checks.extend(environment::not_checked(env));
    Report::new(contexts, checks)
}
