//! Verify: `up` ends by proving every context it wrote, layer by layer, with the environment's
//! own checks (Docker, the router passing each hostname through, the secrets in the cluster).

use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::config::{Env, Provider};
use crate::core::plan::{act, Op};
use crate::core::verify::{environment, resolve, Report, Resolved};
use crate::drivers::probe::{self, check_passthrough, observe, HostFacts, PassthroughExpect};
use anyhow::Result;
use std::time::Duration;

#[derive(Default)]
pub struct Verify;

#[async_trait::async_trait(?Send)]
impl Step for Verify {
    fn name(&self) -> String {
        "verify".into()
    }

    async fn observe(&mut self, _cx: &Cx<'_>) -> Result<Looked> {
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        let names: Vec<String> = environment::declared_contexts(cx.env)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        Diff::one(act(
            Op::Verify,
            "contexts",
            names.join(", "),
            "always, after converging",
        ))
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        if cx.mode != Mode::Up || !cx.opts.verify {
            return Ok(Vec::new());
        }
        let step = cx.progress.begin("verify");
        // What kubectl sees: every file of the list, merged.
        let kc = crate::drivers::kubeconfig::store::read_merged(&cx.paths)?;
        let r = verify_env(cx.env, &kc, cx.opts.timeout, None).await;
        if r.ok {
            step.finish("every context answered");
        } else {
            step.fail("some contexts failed");
        }
        Cx::set(&cx.report, Some(r));
        Ok(Vec::new())
    }

    async fn remove(&mut self, _cx: &Cx<'_>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// Everything `bootstrap verify` checks for an environment file, what `up` ends with: each
/// declared context (host cluster first), Docker and the kind node (provider kind), the router
/// passing each vcluster's hostname through, and the secrets in the host cluster.
/// `facts: None` (access `auto`) detects where we stand only when a diagnosis needs it.
pub async fn verify_env(
    env: &Env,
    kc: &serde_json::Value,
    timeout: Duration,
    facts: Option<HostFacts>,
) -> Report {
    // With `router.domainFromAddress`, the hostnames are those `up` derived and wrote.
    let derived;
    let env = match crate::core::exposure::needs_address(env)
        .then(|| {
            let servers: Vec<(String, String)> = crate::core::kubeconfig::doc::servers(kc);
            crate::core::exposure::domain_from_contexts(env, &servers)
        })
        .flatten()
    {
        Some(domain) => {
            derived = crate::core::exposure::with_domain(env, &domain);
            &derived
        }
        None => env,
    };
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
