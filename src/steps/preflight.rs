//! Preflight: what must hold before anything changes. Docker answers (the connection is shared
//! with the later steps), where we stand is known, and every host port the file publishes is
//! free or held by this cluster's own nodes (or by our registry, which its step judges). The
//! executables are the steps' own concern: each says what its changes run (`Step::tools`), and
//! the runner finds or fetches them all before the first change.

use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::config::Provider;
use crate::core::plan::{act, Op};
use crate::core::ports::{self, PortConflict};
use crate::core::zone::Zone;
use anyhow::Result;

#[derive(Default)]
pub struct Preflight {
    conflicts: Vec<PortConflict>,
    out: Vec<super::Output>,
}

#[async_trait::async_trait(?Send)]
impl Step for Preflight {
    fn id(&self) -> super::StepId {
        super::StepId::Preflight
    }

    fn outputs(&mut self) -> Vec<super::Output> {
        std::mem::take(&mut self.out)
    }

    fn name(&self) -> String {
        "preflight".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        if cx.env.cluster.provider == Provider::Existing {
            return Ok(Looked::Yes);
        }
        let step = cx.progress.begin("docker");
        let conn = match crate::drivers::docker::connect().await {
            Ok(c) => c,
            Err(e) => {
                step.fail("unreachable");
                return Err(e.into());
            }
        };
        step.finish(&format!("{} (API {})", conn.endpoint.uri, conn.api_version));
        // The first real request after the version handshake: a daemon that went away is
        // reported here, by what we were doing, not swallowed by the optional /info below.
        let holders = crate::drivers::docker::observe::port_holders(&conn).await?;
        let zone = crate::drivers::zone::detect(&conn).await;
        eprintln!(
            "you stand in: {} ({})",
            zone.zone.as_str(),
            zone.reasons.join("; ")
        );
        self.out.push(super::Output::Zone(zone.clone()));
        if cx.mode == Mode::Down {
            self.out.push(super::Output::Docker(conn));
            return Ok(Looked::Yes);
        }
        let needed = ports::needed(cx.env);
        let step = cx.progress.begin("ports");
        let mut conflicts = ports::container_conflicts(&needed, cx.cluster(), &holders);
        match zone.zone {
            // Published ports live on the Docker host; from a container or another machine a bind
            // test here would check the wrong network, so only containers are checked.
            Zone::Devcontainer | Zone::RemoteDocker => {}
            Zone::NativeHost | Zone::Wsl2 => {
                let held = ports::held_by_containers(&needed, &holders);
                conflicts.extend(crate::drivers::ports::process_conflicts(&needed, &held));
            }
        }
        if conflicts.is_empty() {
            step.finish(&format!("{} host port(s) free or ours", needed.len()));
        } else {
            step.fail(&format!("{} host port(s) taken", conflicts.len()));
        }
        self.conflicts = conflicts;
        self.out.push(super::Output::Docker(conn));
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        let env = cx.env;
        let check = match env.cluster.provider {
            Provider::Kind => {
                let ports: Vec<String> = ports::needed(env)
                    .iter()
                    .map(|n| n.port.host_port.to_string())
                    .collect();
                act(
                    Op::Preflight,
                    "host",
                    format!(
                        "Docker reachable; host ports {} free or ours; the tools the changes run (kind, helm) found or fetched before the first change",
                        ports.join(", ")
                    ),
                    "always checked before any change",
                )
            }
            Provider::Existing => act(
                Op::Preflight,
                format!("context/{}", env.cluster.context),
                "the existing cluster's context answers; helm found or fetched before the first change",
                "always checked before any change",
            ),
        };
        let mut d = Diff::one(check);
        if cx.mode != Mode::Offline && !self.conflicts.is_empty() {
            d.blockers.extend(self.conflicts.iter().map(|c| {
                format!(
                    "{c}\n    hint: stop what holds the port, or choose other ports in the file (cluster.apiServer.port, cluster.portMappings[].hostPort)"
                )
            }));
        }
        d
    }
}
