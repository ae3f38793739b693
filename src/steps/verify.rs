//! Verify: `up` ends by proving every context it wrote, layer by layer, with the environment's
//! own checks (Docker, the router passing each hostname through, the secrets in the cluster).

use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::access::Origin;
use crate::core::config::{Env, Provider};
use crate::core::plan::{act, Op};
use crate::core::verify::report::{ContextReport, EnvCheck};
use crate::core::verify::{environment, Report, Resolved};
use crate::drivers::probe::{
    self, check_passthrough, observe, resolve, HostFacts, PassthroughExpect,
};
use anyhow::Result;
use std::time::Duration;

#[derive(Default)]
pub struct Verify {
    out: Vec<super::Output>,
}

#[async_trait::async_trait(?Send)]
impl Step for Verify {
    fn id(&self) -> super::StepId {
        super::StepId::Verify
    }

    fn outputs(&mut self) -> Vec<super::Output> {
        std::mem::take(&mut self.out)
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
            docker: cx.docker(),
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
        self.out.push(super::Output::Report(r));
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
    pub proven: std::collections::BTreeMap<String, (crate::core::kubeconfig::Entry, ContextReport)>,
}

/// Whether the kubeconfig's context still dials what the probe proved: the same server, name,
/// trust and credentials.
fn same_route(t: &crate::core::verify::Target, e: &crate::core::kubeconfig::Entry) -> bool {
    t.server == e.creds.server
        && t.tls_server_name == e.tls_server_name
        && t.insecure == e.insecure_skip_tls_verify
        && t.ca_pem.as_deref().unwrap_or_default() == e.creds.ca_pem.as_slice()
        && t.client_cert_pem == e.creds.client_cert_pem
        && t.client_key_pem == e.creds.client_key_pem
        && t.token == e.creds.token
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
    let derived = with_derived_domain(env, kc);
    let env = derived.as_ref().unwrap_or(env);
    let targets: Vec<Resolved> = environment::declared_contexts(env)
        .into_iter()
        .map(|(name, route)| resolve(kc, &name, route))
        .collect();
    let passthrough = environment::passthrough_routes(env);
    let mut facts = facts;
    let here = where_we_stand(env, &targets, passthrough.as_ref(), &mut facts).await;
    let expects = passthrough_expects(env, &targets, passthrough, here);
    let dials = dialled_with(&targets);
    let docker = async {
        match env.cluster.provider {
            Provider::Kind => {
                Some(observe::docker_facts(&env.cluster.name, timeout, known.docker.clone()).await)
            }
            Provider::Existing => None,
        }
    };
    let proven = still_proven(&targets, &known);
    let to_probe: Vec<Resolved> = targets
        .into_iter()
        .zip(&proven)
        .filter(|(_, p)| p.is_none())
        .map(|(t, _)| t)
        .collect();
    let (probed, docker) = tokio::join!(probe::probe_all(to_probe, timeout, facts), docker);
    let mut probed = probed.into_iter();
    let contexts: Vec<ContextReport> = proven
        .into_iter()
        .map(|p| p.or_else(|| probed.next()).expect("one report per context"))
        .collect();
    let router_checks = router_checks(expects, &dials, &contexts, timeout, facts).await;
    let mut checks = docker
        .map(|d| environment::docker_checks(env, &d))
        .unwrap_or_default();
    checks.extend(router_checks);
    checks.extend(secret_checks(env, kc, &contexts, timeout, &known).await);
    Report::new(contexts, checks)
}

/// With `router.domainFromAddress`, the hostnames are those `up` derived and wrote.
fn with_derived_domain(env: &Env, kc: &serde_json::Value) -> Option<Env> {
    if !crate::core::exposure::needs_address(env) {
        return None;
    }
    let servers: Vec<(String, String)> = crate::core::kubeconfig::doc::servers(kc);
    let domain = crate::core::exposure::domain_from_contexts(env, &servers)?;
    Some(crate::core::exposure::with_domain(env, &domain))
}

/// Where we stand matters only for a vcluster whose context does not carry a route to the
/// router (missing, or pointed elsewhere); then the access table's route for here is dialed.
/// Detects the host's facts into `facts` when it has to look.
async fn where_we_stand(
    env: &Env,
    targets: &[Resolved],
    passthrough: Option<&(u16, Vec<(String, String)>)>,
    facts: &mut Option<HostFacts>,
) -> Origin {
    let needs_here = passthrough.is_some_and(|(_, routes)| {
        routes.iter().any(|(context, _)| {
            let dial = context_dial(targets, context);
            environment::router_server(env, context, dial, Origin::Host).as_deref()
                != dial.map(|d| d.server)
        })
    });
    if !needs_here {
        return Origin::Host;
    }
    if env.access.mode != crate::core::config::AccessMode::Auto {
        return Origin::for_mode(env.access.mode)[0];
    }
    let f = match *facts {
        Some(f) => f,
        None => HostFacts::detect().await,
    };
    *facts = Some(f);
    if f.in_container {
        Origin::Devcontainer
    } else {
        Origin::Host
    }
}

fn passthrough_expects(
    env: &Env,
    targets: &[Resolved],
    passthrough: Option<(u16, Vec<(String, String)>)>,
    here: Origin,
) -> Vec<PassthroughExpect> {
    let Some((https_port, routes)) = passthrough else {
        return Vec::new();
    };
    routes
        .into_iter()
        .filter_map(|(context, hostname)| {
            let t = targets.iter().flatten().find(|t| t.context == context);
            let server =
                environment::router_server(env, &context, context_dial(targets, &context), here)?;
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
}

/// What a context dials: its server, the name it sends as SNI, the CA it trusts.
struct DialedWith {
    context: String,
    server: String,
    sni: String,
    ca_pem: Option<Vec<u8>>,
}

/// What each context dials, to tell which router checks its own connection already made.
fn dialled_with(targets: &[Resolved]) -> Vec<DialedWith> {
    targets
        .iter()
        .flatten()
        .map(|t| DialedWith {
            context: t.context.clone(),
            server: t.server.clone(),
            sni: t.tls_server_name.clone().unwrap_or_else(|| t.host.clone()),
            ca_pem: t.ca_pem.clone(),
        })
        .collect()
}

/// A context the run's route probe proved, still dialling that same route, keeps its proof.
fn still_proven(targets: &[Resolved], known: &Known) -> Vec<Option<ContextReport>> {
    targets
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
        .collect()
}

/// A vcluster context that dials the router with its hostname as SNI, and whose TLS layer
/// verified the vcluster's own CA, has shown the passthrough: that very handshake was
/// answered by the vcluster, not by the router. Only the others are dialled for it.
async fn router_checks(
    expects: Vec<PassthroughExpect>,
    dials: &[DialedWith],
    contexts: &[ContextReport],
    timeout: Duration,
    facts: Option<HostFacts>,
) -> Vec<EnvCheck> {
    let shown_by = |e: &PassthroughExpect| {
        let dial = dials.iter().find(|d| {
            d.context == e.context
                && d.server == e.server
                && d.sni == e.hostname
                && d.ca_pem == e.ca_pem
        })?;
        dial.ca_pem.as_ref()?;
        let tls = contexts
            .iter()
            .find(|c| c.name == e.context)?
            .layers
            .iter()
            .find(|l| l.name == crate::core::verify::diagnose::Layer::Tls && l.ok)?;
        Some(tls.detail.clone())
    };
    let mut checks: Vec<Option<EnvCheck>> = Vec::new();
    let mut to_dial = Vec::new();
    for e in expects {
        match shown_by(&e) {
            Some(detail) => {
                let dialed = e
                    .server
                    .split_once("://")
                    .map(|(_, r)| r)
                    .unwrap_or(&e.server);
                checks.push(Some(EnvCheck {
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
                checks.push(None);
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
    checks
        .into_iter()
        .map(|c| {
            c.or_else(|| dialled.next())
                .expect("one check per hostname")
        })
        .collect()
}

/// Secrets are read through the host cluster's context, and only once it verified.
async fn secret_checks(
    env: &Env,
    kc: &serde_json::Value,
    contexts: &[ContextReport],
    timeout: Duration,
    known: &Known,
) -> Vec<EnvCheck> {
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
    environment::secret_checks(env, &|ns, name| match &seen {
        None => None,
        Some(Err(e)) => Some(environment::Seen::Error(e.clone())),
        Some(Ok(found)) => found.get(&(ns.to_string(), name.to_string())).cloned(),
    })
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
