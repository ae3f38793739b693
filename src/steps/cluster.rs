//! The cluster step of `up`, and the cluster part of `down`: observe through Docker, decide with
//! the pure diff, check before changing, then act through kind (or Docker for start/remove).

use crate::core::cluster_diff::{self, Action, Verdict};
use crate::core::config::{Env, Provider};
use crate::core::ports::{self, PortConflict};
use crate::drivers::docker::{nodes, observe, Conn, ObservedCluster};
use crate::drivers::tools;
use crate::progress::Progress;
use crate::zone::Zone;
use anyhow::{anyhow, bail, Result};

/// What the cluster step found and did.
#[derive(Debug)]
pub struct UpOutcome {
    pub verdict: Verdict,
    pub action: Action,
    /// kind's admin kubeconfig when the cluster was (re)created, for the kubeconfig step.
    pub kubeconfig: Option<String>,
}

/// Observe and decide, changing nothing: what `plan` and `status` show and `up` starts from.
pub async fn assess(
    env: &Env,
    conn: &Conn,
    recreate: bool,
) -> Result<(ObservedCluster, Verdict, Action)> {
    let seen = observe::observe_cluster(conn, &env.cluster.name).await?;
    let verdict = cluster_diff::diff(&cluster_diff::desired(env), &seen);
    let action = cluster_diff::action(&verdict, recreate);
    Ok((seen, verdict, action))
}

pub async fn up(env: &Env, conn: &Conn, recreate: bool, progress: &Progress) -> Result<UpOutcome> {
    let name = env.cluster.name.as_str();
    let step = progress.begin("observe");
    let (seen, verdict, action) = match assess(env, conn, recreate).await {
        Ok(x) => x,
        Err(e) => {
            step.fail("could not observe the cluster");
            return Err(e);
        }
    };
    step.finish(&format!("cluster `{name}` is {}", verdict.word()));

    if let Action::Refuse { differences } = &action {
        bail!(
            "cluster `{name}` needs to be recreated: it differs from the file in what cannot change in place:\n  - {}\n  \
hint: run `bootstrap up --recreate` to delete and recreate it (what runs inside it is lost), or change the file back",
            differences.join("\n  - ")
        );
    }
    if action == Action::Nothing {
        return Ok(UpOutcome {
            verdict,
            action,
            kubeconfig: None,
        });
    }

    let step = progress.begin("preflight");
    let kind = match &action {
        Action::Create | Action::Recreate { .. } => match tools::locate(tools::KIND) {
            Ok(p) => Some(p),
            Err(e) => {
                step.fail("kind is missing");
                bail!("{e}\nnothing was changed");
            }
        },
        _ => None,
    };
    if let Err(e) = tools::locate(tools::HELM) {
        // Not needed by the cluster step; said now so the later steps do not surprise.
        step.note(&format!(
            "warning: the router and vcluster steps will need helm: {}",
            first_line(&e.to_string())
        ));
    }
    let zone = crate::zone::detect(conn).await;
    step.note(&format!("zone: {}", zone.zone.as_str()));
    let conflicts = port_conflicts(env, conn, zone.zone, &step).await?;
    if !conflicts.is_empty() {
        step.fail("host ports are taken");
        bail!(
            "cannot bring cluster `{name}` up: {} host port{} taken; nothing was changed:\n  - {}\n  \
hint: stop what holds the port, or choose other ports in the file (cluster.apiServer.port, cluster.portMappings[].hostPort)",
            conflicts.len(),
            if conflicts.len() == 1 { " is" } else { "s are" },
            conflicts.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  - ")
        );
    }
    step.finish("ports free, tools found");

    let step = progress.begin("cluster");
    let result: Result<Option<String>> = async {
        match &action {
            Action::Start { .. } => {
                let started = nodes::start_nodes(conn, &seen).await?;
                step.note(&format!("started {}", started.join(", ")));
                Ok(None)
            }
            Action::Create => {
                let kind = kind
                    .as_deref()
                    .ok_or_else(|| anyhow!("kind was not located"))?;
                Ok(Some(
                    crate::drivers::kind::create(kind, env, &step)
                        .await?
                        .kubeconfig,
                ))
            }
            Action::Recreate { differences } => {
                let kind = kind
                    .as_deref()
                    .ok_or_else(|| anyhow!("kind was not located"))?;
                step.note(&format!("recreating: {}", differences.join("; ")));
                crate::drivers::kind::delete(kind, name, &step).await?;
                Ok(Some(
                    crate::drivers::kind::create(kind, env, &step)
                        .await?
                        .kubeconfig,
                ))
            }
            Action::Nothing | Action::Refuse { .. } => Ok(None),
        }
    }
    .await;
    let kubeconfig = match result {
        Ok(k) => k,
        Err(e) => {
            step.fail("failed");
            return Err(e);
        }
    };
    // Check what kind (or the start) left against the file: trust, but observe.
    let after = observe::observe_cluster(conn, name).await?;
    match cluster_diff::diff(&cluster_diff::desired(env), &after) {
        Verdict::Converged => step.finish(match action {
            Action::Start { .. } => "started",
            Action::Recreate { .. } => "recreated",
            _ => "created",
        }),
        other => {
            step.fail("not converged");
            bail!(
                "after the cluster step, cluster `{name}` is still {}: {other:?}",
                other.word()
            );
        }
    }
    Ok(UpOutcome {
        verdict,
        action,
        kubeconfig,
    })
}

async fn port_conflicts(
    env: &Env,
    conn: &Conn,
    zone: Zone,
    step: &crate::progress::Step,
) -> Result<Vec<PortConflict>> {
    let needed = cluster_diff::desired(env).ports;
    let holders = observe::port_holders(conn).await?;
    let mut conflicts = ports::container_conflicts(&needed, &env.cluster.name, &holders);
    match zone {
        // Published ports live on the Docker host; from a container or another machine a bind
        // test here would check the wrong network, so only containers are checked.
        Zone::Devcontainer | Zone::RemoteDocker => {
            step.note("host ports checked against containers only: the Docker host's processes are not visible from here")
        }
        Zone::NativeHost | Zone::Wsl2 => {
            let held = ports::held_by_containers(&needed, &holders);
            conflicts.extend(crate::drivers::ports::process_conflicts(&needed, &held));
        }
    }
    Ok(conflicts)
}

/// What `down` did to the cluster.
#[derive(Debug, PartialEq)]
pub enum DownOutcome {
    NotManaged,
    AlreadyAbsent,
    Deleted {
        nodes: Vec<String>,
        by: &'static str,
    },
}

pub async fn down(env: &Env, conn: &Conn, progress: &Progress) -> Result<DownOutcome> {
    if env.cluster.provider == Provider::Existing {
        return Ok(DownOutcome::NotManaged);
    }
    let name = env.cluster.name.as_str();
    let step = progress.begin("cluster");
    let seen = observe::observe_cluster(conn, name).await?;
    if seen.nodes.is_empty() {
        step.finish(&format!("cluster `{name}` is absent: nothing to delete"));
        return Ok(DownOutcome::AlreadyAbsent);
    }
    let names: Vec<String> = seen.nodes.iter().map(|n| n.name.clone()).collect();
    let by = match tools::locate(tools::KIND) {
        Ok(kind) => {
            if let Err(e) = crate::drivers::kind::delete(&kind, name, &step).await {
                step.fail("kind delete failed");
                return Err(e);
            }
            "kind"
        }
        Err(e) => {
            step.note(&format!(
                "{}; removing the nodes labelled {}={name} through Docker",
                first_line(&e.to_string()),
                observe::CLUSTER_LABEL
            ));
            nodes::remove_nodes(conn, &seen).await?;
            "docker"
        }
    };
    let left = observe::observe_cluster(conn, name).await?;
    if !left.nodes.is_empty() {
        step.fail("nodes remain");
        bail!(
            "after deleting cluster `{name}`, these nodes remain: {}",
            left.nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    step.finish(&format!("deleted {} (through {by})", names.join(", ")));
    Ok(DownOutcome::Deleted { nodes: names, by })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
