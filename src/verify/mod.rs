//! `bootstrap verify`: prove each context works layer by layer (dns, tcp, tls, auth, api) and,
//! when one does not, say which layer broke and what to do about it.
//!
//! `target` resolves kubeconfig contexts, `probe` dials them (the shell), `diagnose` turns
//! failure facts into advice (pure; `gateway` reads a refusal through host.docker.internal with
//! Docker's facts), `environment` reads what the file declares and judges the
//! Docker and secret facts `observe` gathers (pure / shell), `report` renders the outcome.

pub mod diagnose;
pub mod environment;
pub mod gateway;
pub mod observe;
pub mod probe;
pub mod report;
pub mod target;

pub use probe::{
    check_passthrough, verify_contexts, verify_contexts_with, HostFacts, PassthroughExpect,
};
pub use report::Report;
pub use target::{load_kubeconfig, resolve, Resolved, Target, TargetError};

use crate::core::config::{Env, Provider};
use kube::config::Kubeconfig;
use std::time::Duration;

/// Everything `bootstrap verify` checks for an environment file, what `up` ends with: each
/// declared context (host cluster first), Docker and the kind node (provider kind), the router
/// passing each vcluster's hostname through, and the secrets in the host cluster.
/// `facts: None` (access `auto`) detects where we stand only when a diagnosis needs it.
pub async fn verify_env(
    env: &Env,
    kc: &Kubeconfig,
    timeout: Duration,
    facts: Option<HostFacts>,
) -> Report {
    let targets: Vec<Resolved> = environment::declared_contexts(env)
        .into_iter()
        .map(|(name, route)| resolve(kc, &name, route))
        .collect();
    let passthrough = environment::passthrough_routes(env);
    // Where we stand matters only for a vcluster whose context does not carry a route to the
    // router (missing, or pointed elsewhere); then the access table's route for here is dialed.
    let needs_here = passthrough.as_ref().is_some_and(|(_, routes)| {
        routes.iter().any(|(context, _)| {
            let dial = context_dial(&targets, context);
            environment::router_server(env, context, dial, crate::core::access::Zone::Host)
                .as_deref()
                != dial.map(|d| d.server)
        })
    });
    let mut facts = facts;
    let here = if !needs_here {
        crate::core::access::Zone::Host
    } else if env.access.mode != crate::core::config::AccessMode::Auto {
        crate::core::access::Zone::for_mode(env.access.mode)[0]
    } else {
        let f = match facts {
            Some(f) => f,
            None => HostFacts::detect().await,
        };
        facts = Some(f);
        if f.in_container {
            crate::core::access::Zone::Devcontainer
        } else {
            crate::core::access::Zone::Host
        }
    };
    let expects: Vec<PassthroughExpect> = passthrough
        .map(|(https_port, routes)| {
            routes
                .into_iter()
                .filter_map(|(context, hostname)| {
                    let t = targets.iter().flatten().find(|t| t.context == context);
                    let server = environment::router_server(
                        env,
                        &context,
                        context_dial(&targets, &context),
                        here,
                    )?;
                    Some(PassthroughExpect {
                        // the vcluster's own CA, from its context: the router must not answer
                        // in its place
                        ca_pem: t.and_then(|t| t.ca_pem.clone()),
                        context,
                        hostname,
                        server,
                        https_port,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let router = async {
        if expects.is_empty() {
            Vec::new()
        } else {
            check_passthrough(expects, timeout, facts).await
        }
    };
    let docker = async {
        match env.cluster.provider {
            Provider::Kind => Some(observe::docker_facts(&env.cluster.name, timeout).await),
            Provider::Existing => None,
        }
    };
    let (contexts, router_checks, docker) =
        tokio::join!(probe::probe_all(targets, timeout, facts), router, docker);
    let mut checks = docker
        .map(|d| environment::docker_checks(env, &d))
        .unwrap_or_default();
    checks.extend(router_checks);
    // secrets are read through the host cluster's context, and only once it verified
    let host_ok = contexts
        .iter()
        .any(|c| c.name == env.cluster.context && c.ok);
    let wanted = environment::wanted_secrets(env);
    let seen = if host_ok && !wanted.is_empty() {
        Some(observe::secrets_seen(kc, &env.cluster.context, &wanted, timeout).await)
    } else {
        None
    };
    checks.extend(environment::secret_checks(env, &|ns, name| match &seen {
        None => None,
        Some(Err(e)) => Some(environment::Seen::Error(e.clone())),
        Some(Ok(found)) => found.get(&(ns.to_string(), name.to_string())).cloned(),
    }));
    Report::new(contexts, checks)
}

/// How a resolved context dials, if it resolved.
fn context_dial<'a>(targets: &'a [Resolved], context: &str) -> Option<environment::Dial<'a>> {
    targets
        .iter()
        .flatten()
        .find(|t| t.context == context)
        .map(|t| environment::Dial {
            server: &t.server,
            sni: t.tls_server_name.as_deref().unwrap_or(&t.host),
        })
}
