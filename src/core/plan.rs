//! The plan: what `up` would do, as ordered actions, from what the file wants and what exists.
//! Pure. Observation (Docker, the cluster, the kubeconfig) fills `Observed`; what was not
//! observed counts as absent, so with nothing observed the plan is everything.

use crate::core::access::{candidates, Endpoint};
use crate::core::config::{Env, Provider, VclusterAccess};
use serde::Serialize;
use std::collections::BTreeSet;

/// What exists, as far as we looked. `None` means "not observed".
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// False until something was actually looked at; reasons then say "not observed".
    pub looked: bool,
    /// The kind cluster's node container: Some(true) running, Some(false) stopped.
    pub cluster_running: Option<bool>,
    /// Things the cluster step found that cannot change in place.
    pub cluster_drift: Vec<String>,
    /// Helm releases found converged (release name -> our values hash matches).
    pub converged_releases: BTreeSet<String>,
    /// Contexts already in the kubeconfig with our mark and the wanted route.
    pub converged_contexts: BTreeSet<String>,
    /// Route objects present as wanted.
    pub converged_routes: BTreeSet<String>,
    pub argocd_registered: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Preflight,
    CreateCluster,
    StartCluster,
    RecreateCluster,
    InstallRouter,
    InstallVcluster,
    ApplyRoute,
    WriteContext,
    RegisterArgocd,
    Verify,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub op: Op,
    pub target: String,
    pub detail: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Counted changes, Preflight and Verify excluded: zero means converged.
    pub changes: usize,
}

fn act(op: Op, target: impl Into<String>, detail: impl Into<String>, reason: &str) -> Action {
    Action {
        op,
        target: target.into(),
        detail: detail.into(),
        reason: reason.to_owned(),
    }
}

fn chart_ref(c: &crate::core::config::Chart) -> String {
    match (&c.path, &c.version) {
        (Some(p), _) => format!("chart {p}"),
        (None, Some(v)) => format!("chart {} {v}", c.name),
        (None, None) => format!("chart {}", c.name),
    }
}

pub fn plan(env: &Env, obs: &Observed) -> Plan {
    let mut a = Vec::new();
    let absent = |_: bool| {
        if obs.looked {
            "not found"
        } else {
            "not observed"
        }
    };
    let cl = &env.cluster;
    if cl.provider == Provider::Kind {
        let ports: Vec<String> = std::iter::once(cl.api_server.port)
            .chain(cl.port_mappings.iter().map(|m| m.host_port))
            .map(|p| p.to_string())
            .collect();
        a.push(act(
            Op::Preflight,
            "host",
            format!(
                "Docker reachable; kind and helm found; host ports {} free or ours",
                ports.join(", ")
            ),
            "always checked before any change",
        ));
        let mapped: Vec<String> = crate::core::render::kind::kind_config_value(env)["nodes"][0]
            ["extraPortMappings"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        format!(
                            "{}:{}->{}",
                            m["listenAddress"].as_str().unwrap_or(""),
                            m["hostPort"],
                            m["containerPort"]
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let detail = format!(
            "kind create cluster: API {}:{}, ports {}{}",
            cl.api_server.address,
            cl.api_server.port,
            mapped.join(", "),
            cl.node_image
                .as_ref()
                .map(|i| format!(", image {i}"))
                .unwrap_or_default()
        );
        match obs.cluster_running {
            None => a.push(act(
                Op::CreateCluster,
                format!("kind/{}", cl.name),
                detail,
                absent(false),
            )),
            Some(_) if !obs.cluster_drift.is_empty() => a.push(act(
                Op::RecreateCluster,
                format!("kind/{}", cl.name),
                obs.cluster_drift.join("; "),
                "drifted in what cannot change in place (needs --recreate)",
            )),
            Some(false) => a.push(act(
                Op::StartCluster,
                format!("kind/{}", cl.name),
                "start the node container",
                "stopped",
            )),
            Some(true) => {}
        }
    } else {
        a.push(act(
            Op::Preflight,
            format!("context/{}", cl.context),
            "the existing cluster's context answers; helm found",
            "always checked before any change",
        ));
    }

    let r = &env.router;
    let needs_router = env
        .vclusters
        .iter()
        .any(|v| v.access == VclusterAccess::Ingress);
    if needs_router && !obs.converged_releases.contains(&r.release) {
        a.push(act(
            Op::InstallRouter,
            format!("helm/{}/{}", r.namespace, r.release),
            format!(
                "{} {}, TLS passthrough {}, node 443 on host {}",
                r.kind.as_str(),
                chart_ref(&r.chart),
                if r.passthrough { "on" } else { "off" },
                r.https_port
            ),
            absent(false),
        ));
    }
    for v in &env.vclusters {
        if !obs.converged_releases.contains(&v.release) {
            a.push(act(
                Op::InstallVcluster,
                format!("helm/{}/{}", v.namespace, v.release),
                format!(
                    "vcluster `{}`, {}, extraSANs += {}",
                    v.name,
                    chart_ref(&v.chart),
                    v.hostname
                ),
                absent(false),
            ));
        }
        if v.access == VclusterAccess::Ingress && !obs.converged_routes.contains(&v.hostname) {
            a.push(act(
                Op::ApplyRoute,
                format!("ingress/{}/{}-api", v.namespace, v.release),
                format!(
                    "https://{}:{} -> service {}:443 (passthrough)",
                    v.hostname, r.https_port, v.release
                ),
                absent(false),
            ));
        }
    }
    let mut contexts: Vec<(String, Vec<crate::core::access::Route>)> = Vec::new();
    if cl.provider == Provider::Kind {
        contexts.push((
            cl.context.clone(),
            candidates(env, Endpoint::KindApi, env.access.mode),
        ));
    }
    for v in &env.vclusters {
        contexts.push((
            v.context.clone(),
            candidates(env, Endpoint::Vcluster(v), env.access.mode),
        ));
    }
    for (name, routes) in &contexts {
        if obs.converged_contexts.contains(name) {
            continue;
        }
        let detail = match routes.as_slice() {
            [one] => format!(
                "server {}{}",
                one.server,
                one.tls_server_name
                    .as_ref()
                    .map(|t| format!(", tls-server-name {t}"))
                    .unwrap_or_default()
            ),
            many => format!(
                "first verified of: {}",
                many.iter()
                    .map(|r| r.server.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
        };
        a.push(act(
            Op::WriteContext,
            format!("context/{name}"),
            detail,
            absent(false),
        ));
    }
    if env.argocd.register {
        for v in &env.vclusters {
            if !obs.argocd_registered.contains(&v.name) {
                a.push(act(
                    Op::RegisterArgocd,
                    format!("secret/{}/cluster-{}", env.argocd.namespace, v.context),
                    format!(
                        "ArgoCD cluster `{}` -> https://{}.{}.svc:443",
                        v.context, v.release, v.namespace
                    ),
                    absent(false),
                ));
            }
        }
    }
    a.push(act(
        Op::Verify,
        "contexts",
        contexts
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        "always, after converging",
    ));
    let changes = a
        .iter()
        .filter(|x| !matches!(x.op, Op::Preflight | Op::Verify))
        .count();
    Plan {
        actions: a,
        changes,
    }
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Preflight => "preflight",
            Op::CreateCluster => "create-cluster",
            Op::StartCluster => "start-cluster",
            Op::RecreateCluster => "recreate-cluster",
            Op::InstallRouter => "install-router",
            Op::InstallVcluster => "install-vcluster",
            Op::ApplyRoute => "apply-route",
            Op::WriteContext => "write-context",
            Op::RegisterArgocd => "register-argocd",
            Op::Verify => "verify",
        }
    }
}

/// The plan as a person reads it.
pub fn format_plan(p: &Plan) -> String {
    let mut s = String::new();
    let width = p
        .actions
        .iter()
        .map(|a| a.op.as_str().len())
        .max()
        .unwrap_or(0);
    for (i, a) in p.actions.iter().enumerate() {
        s.push_str(&format!(
            "{:>2}. {:<width$}  {}\n    {}  ({})\n",
            i + 1,
            a.op.as_str(),
            a.target,
            a.detail,
            a.reason
        ));
    }
    if p.changes == 0 {
        s.push_str("Nothing to change: the environment is converged.\n");
    } else {
        s.push_str(&format!(
            "{} change{} to make.\n",
            p.changes,
            if p.changes == 1 { "" } else { "s" }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

    fn env() -> Env {
        load_str(
            "cluster: {name: x}\nvclusters: [{name: dev}, {name: qa}]\nargocd: {register: true}\n",
            "t",
            &[],
        )
        .env
        .unwrap()
    }

    #[test]
    fn nothing_observed_plans_everything_in_order() {
        let p = plan(&env(), &Observed::default());
        let ops: Vec<Op> = p.actions.iter().map(|a| a.op).collect();
        assert_eq!(
            ops,
            vec![
                Op::Preflight,
                Op::CreateCluster,
                Op::InstallRouter,
                Op::InstallVcluster,
                Op::ApplyRoute,
                Op::InstallVcluster,
                Op::ApplyRoute,
                Op::WriteContext,
                Op::WriteContext,
                Op::WriteContext,
                Op::RegisterArgocd,
                Op::RegisterArgocd,
                Op::Verify
            ]
        );
        assert_eq!(p.changes, 11);
    }

    #[test]
    fn converged_plans_nothing_but_checks() {
        let e = env();
        let obs = Observed {
            looked: true,
            cluster_running: Some(true),
            converged_releases: ["ingress-nginx", "vcluster-dev", "vcluster-qa"]
                .map(String::from)
                .into(),
            converged_routes: e.vclusters.iter().map(|v| v.hostname.clone()).collect(),
            converged_contexts: ["kind-x", "dev-vcluster", "qa-vcluster"]
                .map(String::from)
                .into(),
            argocd_registered: ["dev", "qa"].map(String::from).into(),
            ..Default::default()
        };
        let p = plan(&e, &obs);
        assert_eq!(p.changes, 0, "{}", format_plan(&p));
        assert!(format_plan(&p).contains("Nothing to change"));
    }

    #[test]
    fn stopped_and_drifted() {
        let e = env();
        let p = plan(
            &e,
            &Observed {
                cluster_running: Some(false),
                ..Default::default()
            },
        );
        assert_eq!(p.actions[1].op, Op::StartCluster);
        let p = plan(
            &e,
            &Observed {
                cluster_running: Some(true),
                cluster_drift: vec!["API port 6443 -> 7443".into()],
                ..Default::default()
            },
        );
        assert_eq!(p.actions[1].op, Op::RecreateCluster);
        assert!(p.actions[1].detail.contains("7443"));
    }
}
