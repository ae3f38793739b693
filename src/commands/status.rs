//! `bootstrap status`: where you stand (zone, with its evidence), Docker, and the cluster as
//! observed against the file. Reads only.

use super::{Failure, Outcome};
use crate::cli::{Global, Output};
use crate::core::cluster_diff::Verdict;
use crate::core::config::{Env, Provider};
use crate::core::zone::{Evidence, ZoneVerdict};
use crate::drivers::docker::ObservedNode;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    zone: ZoneReport,
    docker: DockerReport,
    tools: Vec<ToolReport>,
    cluster: ClusterReport,
    /// Each context's routes in the order `up` tries them from here, and why.
    routes: Vec<RouteReport>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RouteReport {
    context: String,
    tried: Vec<crate::core::access::Dial>,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

/// Pure: why the kind API is reached the way it is from where we stand.
fn kind_api_reason(v: &ZoneVerdict, env: &Env) -> String {
    use crate::core::zone::Zone;
    if crate::drivers::docker::network::should_join(v) {
        format!(
            "a devcontainer on a Linux engine: host.docker.internal is refused for ports published on {}, so `up` joins this container to the `kind` network and dials {}-control-plane:6443 (a name kind's certificate holds)",
            env.cluster.api_server.address, env.cluster.name
        )
    } else if v.zone == Zone::Devcontainer {
        "a devcontainer on Docker Desktop: host.docker.internal reaches ports published on 127.0.0.1; tls-server-name localhost matches kind's certificate".into()
    } else {
        format!(
            "on the engine's host: kind publishes the API on {}:{}, a name its certificate holds",
            env.cluster.api_server.address, env.cluster.api_server.port
        )
    }
}

fn routes(env: &Env, v: &ZoneVerdict) -> Vec<RouteReport> {
    use crate::core::access::Endpoint;
    use crate::steps::vcluster_dial::ordered;
    let mut out = Vec::new();
    if env.cluster.provider == Provider::Kind {
        out.push(RouteReport {
            context: env.cluster.context.clone(),
            tried: ordered(env, Endpoint::KindApi, env.access.mode, v.access),
            why: Some(kind_api_reason(v, env)),
        });
    }
    for vc in &env.vclusters {
        out.push(RouteReport {
            context: vc.context.clone(),
            tried: ordered(env, Endpoint::Vcluster(vc), env.access.mode, v.access),
            why: None,
        });
    }
    out
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolReport {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// Each tool as `up` would find it without downloading: variable, PATH, or the cache.
fn tools() -> Vec<ToolReport> {
    use crate::drivers::toolchain::{observe, Options, HELM_PIN, KIND_PIN};
    let opts = Options::from_env(true);
    [KIND_PIN, HELM_PIN]
        .into_iter()
        .map(|pin| {
            let t = pin.tool;
            let found = observe(&pin, &opts).map(|l| l.path);
            match found {
                Ok(p) => ToolReport {
                    name: t.name,
                    path: Some(p.display().to_string()),
                    problem: None,
                },
                Err(e) => ToolReport {
                    name: t.name,
                    path: None,
                    problem: Some(e.to_string()),
                },
            }
        })
        .collect()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ZoneReport {
    #[serde(flatten)]
    verdict: ZoneVerdict,
    evidence: Evidence,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerReport {
    endpoint: String,
    source: String,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operating_system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// absent, converged, stopped, drifted; `unknown` without Docker or a file.
    state: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    differences: Vec<String>,
    nodes: Vec<ObservedNode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

pub fn run(g: &Global) -> Outcome {
    // status works anywhere: without the file it still shows the zone and Docker.
    let env = if g.file.exists() {
        Some(super::load_env(g)?)
    } else {
        None
    };
    let report = super::runtime()?.block_on(gather(g, env.as_ref()));
    match g.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Output::Table => print_table(&report),
    }
    if !report.docker.reachable {
        return Err(Failure::Failed(String::new()));
    }
    Ok(())
}

async fn gather(g: &Global, env: Option<&Env>) -> Report {
    let mut docker = DockerReport::default();
    let mut cluster = ClusterReport {
        name: env.map(|e| e.cluster.name.clone()),
        state: "unknown".into(),
        differences: vec![],
        nodes: vec![],
        note: None,
    };
    let conn = crate::drivers::docker::connect().await;
    let mut info = None;
    match &conn {
        Err(e) => {
            let ep = crate::drivers::docker::connect::resolve(
                std::env::var("DOCKER_HOST").ok().as_deref(),
                std::env::var_os("HOME")
                    .map(std::path::PathBuf::from)
                    .as_deref(),
                |p| p.exists(),
            );
            docker.endpoint = ep.uri;
            docker.source = ep.source.describe().into();
            docker.error = Some(e.to_string());
        }
        Ok(c) => {
            docker.endpoint = c.endpoint.uri.clone();
            docker.source = c.endpoint.source.describe().into();
            docker.reachable = true;
            docker.api_version = Some(c.api_version.clone());
            match c.docker.info().await {
                Ok(i) => {
                    docker.server_version = i.server_version.clone();
                    docker.operating_system = i.operating_system.clone();
                    info = Some(i);
                }
                Err(e) => docker.error = Some(c.error("reading /info", e).to_string()),
            }
        }
    }
    let evidence = crate::drivers::zone::gather(
        info.as_ref(),
        docker.reachable.then(|| docker.endpoint.clone()),
    );
    let verdict = crate::core::zone::classify(&evidence);
    match (env, &conn) {
        (None, _) => cluster.note = Some(format!("no environment file at {}", g.file.display())),
        (Some(e), _) if e.cluster.provider == Provider::Existing => {
            cluster.note = Some(format!(
                "provider `existing`: context `{}`, not managed here",
                e.cluster.context
            ))
        }
        (Some(_), Err(_)) => cluster.note = Some("Docker is unreachable".into()),
        (Some(e), Ok(c)) => {
            match crate::steps::cluster::assess(e, c, verdict.access, false).await {
                Ok((seen, verdict, _)) => {
                    cluster.state = verdict.word().into();
                    match verdict {
                        Verdict::Drifted { differences } => cluster.differences = differences,
                        Verdict::Stopped { .. } | Verdict::Absent | Verdict::Converged => {}
                    }
                    cluster.nodes = seen.nodes;
                }
                Err(err) => cluster.note = Some(format!("{err:#}")),
            }
        }
    }
    Report {
        routes: env.map(|e| routes(e, &verdict)).unwrap_or_default(),
        zone: ZoneReport { verdict, evidence },
        docker,
        tools: tools(),
        cluster,
    }
}

fn print_table(r: &Report) {
    let z = &r.zone.verdict;
    println!(
        "ZONE     {}{}  (access auto -> {})",
        z.zone.as_str(),
        if z.docker_desktop {
            " + Docker Desktop"
        } else {
            ""
        },
        z.access
            .map(|a| a.as_str())
            .unwrap_or("none: no local route to a remote engine")
    );
    for reason in &z.reasons {
        println!("         because {reason}");
    }
    let d = &r.docker;
    if d.reachable {
        println!(
            "DOCKER   {} ({}), engine {} API {}, {}",
            d.endpoint,
            d.source,
            d.server_version.as_deref().unwrap_or("?"),
            d.api_version.as_deref().unwrap_or("?"),
            d.operating_system.as_deref().unwrap_or("?")
        );
    } else {
        println!("DOCKER   {} ({}): unreachable", d.endpoint, d.source);
    }
    if let Some(e) = &d.error {
        for line in e.lines() {
            println!("         {line}");
        }
    }
    for t in &r.tools {
        match (&t.path, &t.problem) {
            (Some(p), _) => println!("TOOL     {} {p}", t.name),
            (None, Some(problem)) => {
                println!("TOOL     {} missing", t.name);
                for line in problem.lines() {
                    println!("         {}", line.trim());
                }
            }
            (None, None) => {}
        }
    }
    let c = &r.cluster;
    println!("CLUSTER  {} {}", c.name.as_deref().unwrap_or("-"), c.state);
    if let Some(n) = &c.note {
        println!("         {n}");
    }
    for diff in &c.differences {
        println!("         differs: {diff}");
    }
    if !c.nodes.is_empty() {
        println!(
            "  {:<32} {:<14} {:<10} {:<28} {:<12} PORTS",
            "NODE", "ROLE", "STATE", "IMAGE", "NETWORKS"
        );
        for n in &c.nodes {
            println!(
                "  {:<32} {:<14} {:<10} {:<28} {:<12} {}",
                n.name,
                n.role,
                n.status,
                n.image,
                n.networks.join(","),
                n.ports
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    for route in &r.routes {
        let tried: Vec<String> = route
            .tried
            .iter()
            .map(|t| {
                format!(
                    "{}{}",
                    t.server,
                    t.tls_server_name
                        .as_ref()
                        .map(|n| format!(" (tls-server-name {n})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        println!("ROUTE    {}: {}", route.context, tried.join(" | "));
        if let Some(why) = &route.why {
            println!("         because {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::zone::Zone;

    fn verdict(zone: Zone, docker_desktop: bool) -> ZoneVerdict {
        ZoneVerdict {
            zone,
            docker_desktop,
            access: None,
            reasons: Vec::new(),
        }
    }

    #[test]
    fn the_kind_api_choice_is_explained_per_zone() {
        let env = crate::core::config::load_str("cluster: {name: localdev}\n", "t", &[])
            .env
            .unwrap();
        let linux_dc = kind_api_reason(&verdict(Zone::Devcontainer, false), &env);
        assert!(
            linux_dc.contains("joins this container to the `kind` network"),
            "{linux_dc}"
        );
        assert!(
            linux_dc.contains("localdev-control-plane:6443"),
            "{linux_dc}"
        );
        let desktop_dc = kind_api_reason(&verdict(Zone::Devcontainer, true), &env);
        assert!(
            desktop_dc.contains("tls-server-name localhost"),
            "{desktop_dc}"
        );
        let host = kind_api_reason(&verdict(Zone::NativeHost, false), &env);
        assert!(host.contains("127.0.0.1:6443"), "{host}");
    }
}
