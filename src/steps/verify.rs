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
    fn id(&self) -> super::StepId {
        super::StepId::Verify
    }

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
        let known = Known {
            docker: cx.docker.lock().ok().and_then(|d| d.clone()),
            client: cx.api().map(|a| a.client.clone()),
            proven: cx.proofs(),
        };
        let facts = cx.zone().as_ref().map(HostFacts::of);
        let r = verify_env(cx.env, &kc, cx.opts.timeout, facts, known).await;
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

/// What the `up` that ends with verify already holds: its Docker connection, its client of the
/// host cluster, and the contexts its route probes proved (each with the entry it proved), so
/// verify neither connects nor probes again what nothing has changed since. `bootstrap verify`
/// has none of it.
#[derive(Default)]
pub struct Known {
    pub docker: Option<crate::drivers::docker::Conn>,
    pub client: Option<kube::Client>,
    pub proven: std::collections::BTreeMap<
        String,
        (
            crate::core::kubeconfig::Entry,
            crate::core::verify::report::ContextReport,
        ),
    >,
}

/// Whether the kubeconfig's context still dials what the probe proved: the same server, name,
/// trust and credentials.
fn same_route(t: &crate::core::verify::Target, e: &crate::core::kubeconfig::Entry) -> bool {
    t.server == e.server
        && t.tls_server_name == e.tls_server_name
        && t.insecure == e.insecure_skip_tls_verify
        && t.ca_pem.as_deref().unwrap_or_default() == e.ca_pem.as_slice()
        && t.client_cert_pem == e.client_cert_pem
        && t.client_key_pem == e.client_key_pem
        && t.token == e.token
        && t.plugin.is_none()
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
    known: Known,
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
    // What each context dials (server, the name it sends as SNI, CA), to tell which router
    // checks its own connection already made.
    type DialedWith = (String, String, String, Option<Vec<u8>>);
    let dials: Vec<DialedWith> = targets
        .iter()
        .flatten()
        .map(|t| {
            (
                t.context.clone(),
                t.server.clone(),
                t.tls_server_name.clone().unwrap_or_else(|| t.host.clone()),
                t.ca_pem.clone(),
            )
        })
        .collect();
    let docker = async {
        match env.cluster.provider {
            Provider::Kind => {
                Some(observe::docker_facts(&env.cluster.name, timeout, known.docker.clone()).await)
            }
            Provider::Existing => None,
        }
    };
    // A context the run's route probe proved, still dialling that same route, keeps its proof.
    let proven: Vec<Option<crate::core::verify::report::ContextReport>> = targets
        .iter()
        .map(|t| {
            let t = t.as_ref().ok()?;
            let (entry, report) = known.proven.get(&t.context)?;
            same_route(t, entry).then(|| {
                let mut r = report.clone();
                r.name = t.context.clone();
                r
            })
        })
        .collect();
    let to_probe: Vec<Resolved> = targets
        .into_iter()
        .zip(&proven)
        .filter(|(_, p)| p.is_none())
        .map(|(t, _)| t)
        .collect();
    let (probed, docker) = tokio::join!(probe::probe_all(to_probe, timeout, facts), docker);
    let mut probed = probed.into_iter();
    let contexts: Vec<crate::core::verify::report::ContextReport> = proven
        .into_iter()
        .map(|p| p.or_else(|| probed.next()).expect("one report per context"))
        .collect();
    // A vcluster context that dials the router with its hostname as SNI, and whose TLS layer
    // verified the vcluster's own CA, has shown the passthrough: that very handshake was
    // answered by the vcluster, not by the router. Only the others are dialled for it.
    let shown_by = |e: &PassthroughExpect| {
        let (_, _, _, ca) = dials.iter().find(|(c, server, sni, ca)| {
            *c == e.context && *server == e.server && *sni == e.hostname && *ca == e.ca_pem
        })?;
        ca.as_ref()?;
        let tls = contexts
            .iter()
            .find(|c| c.name == e.context)?
            .layers
            .iter()
            .find(|l| l.name == crate::core::verify::diagnose::Layer::Tls && l.ok)?;
        Some(tls.detail.clone())
    };
    let mut router_checks: Vec<Option<crate::core::verify::report::EnvCheck>> = Vec::new();
    let mut to_dial = Vec::new();
    for e in expects {
        match shown_by(&e) {
            Some(detail) => {
                let dialed = e
                    .server
                    .split_once("://")
                    .map(|(_, r)| r)
                    .unwrap_or(&e.server);
                router_checks.push(Some(crate::core::verify::report::EnvCheck {
                    name: format!("router passthrough {} ({dialed})", e.hostname),
                    status: crate::core::verify::report::CheckStatus::Pass,
                    detail: format!(
                        "answers with the vcluster's certificate: {detail} (context `{}`)",
                        e.context
                    ),
                    hint: None,
                }));
            }
            None => {
                router_checks.push(None);
                to_dial.push(e);
            }
        }
    }
    let mut dialled = if to_dial.is_empty() {
        Vec::new()
    } else {
        check_passthrough(to_dial, timeout, facts).await
    }
    .into_iter();
    let router_checks: Vec<crate::core::verify::report::EnvCheck> = router_checks
        .into_iter()
        .map(|c| {
            c.or_else(|| dialled.next())
                .expect("one check per hostname")
        })
        .collect();
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
        Some(
            observe::secrets_seen(
                kc,
                &env.cluster.context,
                &wanted,
                timeout,
                known.client.clone(),
            )
            .await,
        )
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
