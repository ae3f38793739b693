//! The host cluster. For `provider: kind`: observe the node containers through Docker, judge them
//! against the file with the pure diff (`core::cluster_diff`), read whether we made them (the
//! record `up` writes into the node it created), and create, start or recreate through kind.
//! A cluster bootstrap did not make is adopted when it matches the file and never deleted.
//! For `provider: existing`: the user's context, read and never changed.

use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::cluster_diff::{self, Action, Verdict};
use crate::core::config::Env;
use crate::core::kubeconfig::doc;
use crate::core::kubeconfig::doc::Credentials;
use crate::core::ownership::{NodeRecord, NODE_RECORD};
use crate::core::plan::{act, Op};
use crate::drivers::docker::{files, nodes, observe, Conn, ObservedCluster};
use crate::drivers::toolchain::KIND_PIN;
use anyhow::{anyhow, bail, Context, Result};

/// Observe and decide, changing nothing: what `status` shows and `up` starts from.
pub async fn assess(
    env: &Env,
    conn: &Conn,
    here: Option<crate::core::config::AccessMode>,
    recreate: bool,
) -> Result<(ObservedCluster, Verdict, Action)> {
    let (seen, _, _) = look(env, conn, here, None, false).await?;
    let (verdict, action) = judge(env, &seen, recreate);
    Ok((seen, verdict, action))
}

/// The node containers, what runs inside them, and kind's admin kubeconfig when it can be read
/// (a stopped node, or one without admin.conf yet, stays unobserved: not an error).
/// The cluster as Docker and its API show it, and admin credentials for it (a kubeconfig).
/// `ours` is the kubeconfig of the cluster's context bootstrap already wrote: when the cluster's
/// API accepts it (the node's labels read with it), kind's admin.conf need not be read through
/// Docker's archive API, tens of milliseconds on a node with kind's mounts. Otherwise (absent,
/// or refused: a cluster made anew under the same name) admin.conf is read, as always.
///
/// With `record`, the read of our record in the node starts at once, in the background (its
/// handle is returned): Docker's archive API holds the node container while it reads, so the
/// sooner it starts the sooner the node is free for the steps after this one.
async fn look(
    env: &Env,
    conn: &Conn,
    here: Option<crate::core::config::AccessMode>,
    ours: Option<String>,
    record: bool,
) -> Result<(ObservedCluster, Option<String>, Option<RecordRead>)> {
    let mut seen = observe::observe_cluster(conn, &env.cluster.name).await?;
    let read = record.then(|| {
        let (conn, name, seen) = (conn.clone(), env.cluster.name.clone(), seen.clone());
        tokio::spawn(async move { is_ours(&conn, &name, &seen).await })
    });
    if let Some(text) = ours {
        let mut tried = seen.clone();
        if crate::drivers::kind_node::observe_running(env, here, &mut tried, Some(&text)).await {
            return Ok((tried, Some(text), read));
        }
    }
    let admin = admin_kubeconfig(conn, &seen).await.ok();
    crate::drivers::kind_node::observe_running(env, here, &mut seen, admin.as_deref()).await;
    Ok((seen, admin, read))
}

type RecordRead = tokio::task::JoinHandle<Result<bool>>;

/// The cluster's context as this environment wrote it into the user's kubeconfig (marked ours),
/// alone, as a kubeconfig: the admin credentials kind gave when the cluster was made.
fn written_admin(cx: &Cx<'_>) -> Option<String> {
    let merged = cx.kubeconfig_merged().ok()?;
    let ctx = &cx.env.cluster.context;
    if doc::context_view(&merged, ctx)?.owner.as_deref() != Some(cx.owner().as_str()) {
        return None;
    }
    doc::to_yaml(&doc::standalone(&merged, ctx).ok()?).ok()
}

fn judge(env: &Env, seen: &ObservedCluster, recreate: bool) -> (Verdict, Action) {
    let verdict = cluster_diff::diff(&cluster_diff::desired(env), seen);
    let action = cluster_diff::action(&verdict, recreate);
    (verdict, action)
}

/// The node that holds kind's admin kubeconfig and our record: the control plane.
fn control_plane(seen: &ObservedCluster) -> Option<&crate::core::observed::ObservedNode> {
    seen.control_plane().or(seen.nodes.first())
}

/// Whether the cluster's control-plane node carries our record.
pub async fn is_ours(conn: &Conn, cluster: &str, seen: &ObservedCluster) -> Result<bool> {
    let Some(node) = control_plane(seen) else {
        return Ok(false);
    };
    let bytes = files::read(conn, &node.id, NODE_RECORD).await?;
    Ok(bytes
        .and_then(|b| serde_json::from_slice::<NodeRecord>(&b).ok())
        .is_some_and(|r| r.owns(cluster, &node.id)))
}

/// Admin credentials from a kubeconfig's current context (kind's admin.conf or the one `kind
/// create` wrote for us).
pub fn creds_from_kubeconfig(text: &str) -> Result<Credentials> {
    let d = doc::parse(text)?;
    let current = d["current-context"]
        .as_str()
        .ok_or_else(|| anyhow!("the admin kubeconfig names no current context"))?
        .to_owned();
    Ok(doc::credentials(&d, &current)?)
}

/// kind's admin kubeconfig, read from the control-plane node as `kind get kubeconfig` does, but
/// through Docker's archive API: no process is spawned for a converged cluster.
async fn admin_creds(conn: &Conn, seen: &ObservedCluster) -> Result<Credentials> {
    let node = control_plane(seen).ok_or_else(|| anyhow!("the cluster has no node"))?;
    creds_from_kubeconfig(&admin_kubeconfig(conn, seen).await?)
        .with_context(|| format!("reading kind's admin kubeconfig from node {}", node.name))
}

async fn admin_kubeconfig(conn: &Conn, seen: &ObservedCluster) -> Result<String> {
    let node = control_plane(seen).ok_or_else(|| anyhow!("the cluster has no node"))?;
    let text = files::read(conn, &node.id, "/etc/kubernetes/admin.conf")
        .await?
        .ok_or_else(|| anyhow!("node {} holds no /etc/kubernetes/admin.conf", node.name))?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

#[derive(Default)]
pub struct Cluster {
    seen: Option<ObservedCluster>,
    verdict: Option<Verdict>,
    action: Option<Action>,
    ours: bool,
    /// Ours by the record of a `kind create` that was interrupted before the node got our mark
    /// (`drivers::state`): `up` finishes it by writing the mark.
    unfinished: bool,
    /// The read of our record, started by `observe` and awaited by `settle`: it goes through
    /// Docker's archive API (tens of milliseconds), while the steps after this one observe.
    record: Option<(RecordRead, crate::progress::Step)>,
    out: Vec<super::Output>,
}

impl Cluster {
    fn conn(cx: &Cx<'_>) -> Result<Conn> {
        cx.docker()
            .ok_or_else(|| anyhow!("Docker was not reached (preflight did not run)"))
    }

    fn create_detail(env: &Env) -> String {
        let cl = &env.cluster;
        let kind = crate::core::render::kind::kind_cluster(env);
        let mapped: Vec<String> = kind
            .first_control_plane()
            .map(|n| &n.extra_port_mappings)
            .into_iter()
            .flatten()
            .map(|m| format!("{}:{}->{}", m.listen_address, m.host_port, m.container_port))
            .collect();
        format!(
            "kind create cluster: API {}:{}, ports {}{}",
            cl.api_server.address,
            cl.api_server.port,
            mapped.join(", "),
            cl.node_image
                .as_ref()
                .map(|i| format!(", image {i}"))
                .unwrap_or_default()
        )
    }

    /// Write our record into the control-plane node; then the create is finished.
    async fn mark(cx: &Cx<'_>, conn: &Conn) -> Result<ObservedCluster> {
        let name = cx.cluster();
        let after = observe::observe_cluster(conn, name).await?;
        let node = control_plane(&after)
            .ok_or_else(|| anyhow!("kind reported success but cluster `{name}` has no node"))?;
        let record = NodeRecord::new(name, &node.id, now_rfc3339());
        files::write(
            conn,
            &node.id,
            NODE_RECORD,
            serde_json::to_string_pretty(&record)?.as_bytes(),
        )
        .await?;
        crate::drivers::state::end_create(name);
        Ok(after)
    }

    /// After kind created the node: write our record into it, then check what kind left.
    async fn mark_and_check(&self, cx: &Cx<'_>, conn: &Conn) -> Result<ObservedCluster> {
        let name = cx.cluster();
        let after = Self::mark(cx, conn).await?;
        match cluster_diff::diff(&cluster_diff::desired(cx.env), &after) {
            Verdict::Converged => Ok(after),
            other => bail!(
                "after the cluster step, cluster `{name}` is still {}: {other:?}",
                other.word()
            ),
        }
    }
}

/// `kind create`, its start recorded. A create that fails is cleaned up by kind itself (it
/// deletes the nodes unless told to retain them), so only an interrupted one leaves the record.
async fn create(
    kind: &std::path::Path,
    env: &Env,
    step: &crate::progress::Step,
) -> Result<crate::drivers::kind::Created> {
    let name = &env.cluster.name;
    crate::drivers::state::begin_create(name)
        .context("recording that bootstrap creates the cluster")?;
    let created = crate::drivers::kind::create(kind, env, step).await;
    if created.is_err() {
        crate::drivers::state::end_create(name);
    }
    created
}

fn now_rfc3339() -> String {
    // Whole seconds, as kind and kubectl print times: `2026-12-06T10:05:12Z`.
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[async_trait::async_trait(?Send)]
impl Step for Cluster {
    fn id(&self) -> super::StepId {
        super::StepId::Cluster
    }

    fn outputs(&mut self) -> Vec<super::Output> {
        std::mem::take(&mut self.out)
    }

    fn name(&self) -> String {
        "cluster".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let conn = Self::conn(cx)?;
        let step = cx.progress.begin("observe");
        let here = cx.zone().and_then(|z| z.access);
        let (seen, admin, record) = match look(cx.env, &conn, here, written_admin(cx), true).await {
            Ok(x) => x,
            Err(e) => {
                step.fail("could not observe the cluster");
                return Err(e);
            }
        };
        let (verdict, action) = judge(cx.env, &seen, cx.opts.recreate);
        let record = record.expect("look was asked for the record");
        let running = matches!(verdict, Verdict::Converged | Verdict::Drifted { .. })
            && seen
                .nodes
                .iter()
                .all(|n| n.state == observe::NodeState::Running);
        if running {
            // kind's admin kubeconfig was read once, with the node (one archive read, not two).
            let creds = match &admin {
                Some(text) => creds_from_kubeconfig(text)
                    .context("reading kind's admin kubeconfig from the node")?,
                None => admin_creds(&conn, &seen).await?,
            };
            self.out.push(super::Output::HostCreds(creds));
        }
        self.seen = Some(seen);
        self.verdict = Some(verdict);
        self.action = Some(action);
        self.record = Some((record, step));
        // `down` decides at once whether the cluster goes whole: the steps after this one
        // observe differently then.
        if cx.mode == Mode::Down {
            self.settle(cx).await?;
        }
        Ok(Looked::Yes)
    }

    async fn settle(&mut self, cx: &Cx<'_>) -> Result<()> {
        let Some((record, step)) = self.record.take() else {
            return Ok(());
        };
        let ours = match record.await {
            Ok(r) => r,
            Err(e) => Err(anyhow!("reading bootstrap's record in the node: {e}")),
        };
        let ours = match ours {
            Ok(o) => o,
            Err(e) => {
                step.fail("could not read bootstrap's record in the node");
                return Err(e);
            }
        };
        let name = cx.cluster();
        let (Some(seen), Some(verdict), Some(action)) = (&self.seen, &self.verdict, &self.action)
        else {
            return Ok(());
        };
        self.ours = ours;
        self.unfinished =
            !self.ours && !seen.nodes.is_empty() && crate::drivers::state::create_begun(name);
        self.ours |= self.unfinished;
        let whose = if self.unfinished {
            " (its creation by bootstrap was interrupted: ours)"
        } else if seen.nodes.is_empty() || self.ours {
            ""
        } else {
            " (not created by bootstrap)"
        };
        step.finish(&format!("cluster `{name}` is {}{whose}", verdict.word()));
        if cx.mode == Mode::Down {
            let goes =
                !seen.nodes.is_empty() && !cx.opts.keep_cluster && (self.ours || cx.opts.force);
            self.out.push(super::Output::ClusterGoes(goes));
        }
        if cx.mode == Mode::Up && *action == Action::Nothing {
            if self.ours {
                eprintln!("cluster `{name}`: converged, nothing to do");
            } else {
                eprintln!("cluster `{name}`: not created by bootstrap, and it matches the file: adopted (used as is; `bootstrap down` leaves it)");
            }
        }
        Ok(())
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        let env = cx.env;
        let target = format!("kind/{}", env.cluster.name);
        let (Some(verdict), Some(action)) = (&self.verdict, &self.action) else {
            return Diff::one(act(
                Op::CreateCluster,
                target,
                Self::create_detail(env),
                "not observed",
            ));
        };
        let mut d = Diff::default();
        let needs_kind = |d: &mut Diff| {
            d.blockers.extend(cx.tool_blocker(&KIND_PIN));
        };
        match (action, self.ours) {
            (Action::Nothing, true) if self.unfinished => d.actions.push(act(
                Op::RecordCluster,
                target,
                "write bootstrap's record into the node",
                "created by an `up` that was interrupted before it wrote its record",
            )),
            (Action::Nothing, true) => {}
            (Action::Nothing, false) => d.actions.push(act(
                Op::Adopt,
                target,
                "created outside bootstrap and it matches the file: used as is, never deleted by `bootstrap down`",
                "no bootstrap record in its node",
            )),
            (Action::Create, _) => {
                d.actions.push(act(
                    Op::CreateCluster,
                    target,
                    Self::create_detail(env),
                    "not found",
                ));
                needs_kind(&mut d);
            }
            (Action::Start { nodes }, ours) => d.actions.push(act(
                Op::StartCluster,
                target,
                format!("start {}", nodes.join(", ")),
                if ours {
                    "stopped"
                } else {
                    "stopped; not created by bootstrap, and it matches the file: started and used as is"
                },
            )),
            (Action::Recreate { differences } | Action::Refuse { differences }, false) => {
                d.blockers.push(format!(
                    "cluster `{}` exists but bootstrap did not create it (no record in its node), and it differs from the file in what cannot change in place:\n      - {}\n    hint: bootstrap never recreates what it did not make: change the file to match it, or delete it yourself (`kind delete cluster --name {}`) and run `bootstrap up` again",
                    env.cluster.name,
                    differences.join("\n      - "),
                    env.cluster.name
                ));
            }
            (Action::Recreate { differences }, true) => {
                d.actions.push(act(
                    Op::RecreateCluster,
                    target,
                    differences.join("; "),
                    "drifted in what cannot change in place (--recreate given)",
                ));
                needs_kind(&mut d);
            }
            (Action::Refuse { differences }, true) => {
                d.actions.push(act(
                    Op::RecreateCluster,
                    target,
                    differences.join("; "),
                    "drifted in what cannot change in place (needs --recreate)",
                ));
                d.blockers.push(format!(
                    "cluster `{}` needs to be recreated: it differs from the file in what cannot change in place:\n      - {}\n    hint: run `bootstrap up --recreate` to delete and recreate it (what runs inside it is lost), or change the file back",
                    env.cluster.name,
                    differences.join("\n      - ")
                ));
            }
        }
        let _ = verdict;
        d
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let conn = Self::conn(cx)?;
        let name = cx.cluster().to_owned();
        let action = self.action.clone().unwrap_or(Action::Create);
        let step = cx.progress.begin("cluster");
        let result: Result<(String, Credentials)> = async {
            match &action {
                Action::Start { .. } => {
                    let seen = self.seen.clone().unwrap_or(ObservedCluster {
                        name: name.clone(),
                        nodes: vec![],
                        api_cert_names: None,
                        node_labels: None,
                    });
                    let started = nodes::start_nodes(&conn, &seen).await?;
                    step.note(&format!("started {}", started.join(", ")));
                    let after = if self.unfinished {
                        Self::mark(cx, &conn).await?
                    } else {
                        observe::observe_cluster(&conn, &name).await?
                    };
                    Ok((
                        format!("started {}", started.join(", ")),
                        admin_creds(&conn, &after).await?,
                    ))
                }
                Action::Create => {
                    let kind = cx.tool(&KIND_PIN).await?;
                    let created = create(&kind, cx.env, &step).await?;
                    self.mark_and_check(cx, &conn).await?;
                    self.ours = true;
                    Ok((
                        "created".into(),
                        creds_from_kubeconfig(&created.kubeconfig)?,
                    ))
                }
                Action::Recreate { differences } => {
                    let kind = cx.tool(&KIND_PIN).await?;
                    step.note(&format!("recreating: {}", differences.join("; ")));
                    crate::drivers::kind::delete(&kind, &name, &step).await?;
                    let created = create(&kind, cx.env, &step).await?;
                    self.mark_and_check(cx, &conn).await?;
                    Ok((
                        "recreated".into(),
                        creds_from_kubeconfig(&created.kubeconfig)?,
                    ))
                }
                Action::Nothing if self.unfinished => {
                    let after = Self::mark(cx, &conn).await?;
                    self.unfinished = false;
                    Ok((
                        "recorded as bootstrap's (its creation had been interrupted)".into(),
                        admin_creds(&conn, &after).await?,
                    ))
                }
                Action::Nothing | Action::Refuse { .. } => bail!("nothing to apply"),
            }
        }
        .await;
        match result {
            Ok((what, creds)) => {
                step.finish(&what);
                eprintln!("cluster `{name}`: {what}");
                self.out.push(super::Output::HostCreds(creds));
                Ok(vec![format!("cluster `{name}` {what}")])
            }
            Err(e) => {
                step.fail("failed");
                Err(e)
            }
        }
    }

    fn tools(&self, _cx: &Cx<'_>) -> Vec<&'static crate::drivers::toolchain::Pinned> {
        match self.action {
            None | Some(Action::Create) | Some(Action::Recreate { .. }) => vec![&KIND_PIN],
            Some(_) => Vec::new(),
        }
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let name = cx.cluster().to_owned();
        if cx.opts.keep_cluster {
            return Ok(Vec::new());
        }
        let conn = Self::conn(cx)?;
        let seen = observe::observe_cluster(&conn, &name).await?;
        if seen.nodes.is_empty() {
            crate::drivers::state::end_create(&name);
            eprintln!("cluster `{name}`: already absent");
            return Ok(Vec::new());
        }
        if !(self.ours || cx.opts.force) {
            eprintln!(
                "cluster `{name}`: not created by bootstrap (no record in its node): left in place\n  hint: delete it yourself with `kind delete cluster --name {name}`, or run `bootstrap down --force` to delete it anyway"
            );
            return Ok(Vec::new());
        }
        let step = cx.progress.begin("cluster");
        let names: Vec<String> = seen.nodes.iter().map(|n| n.name.clone()).collect();
        let by = match cx.find_tool(&KIND_PIN) {
            Ok(kind) => {
                if let Err(e) = crate::drivers::kind::delete(&kind, &name, &step).await {
                    step.fail("kind delete failed");
                    return Err(e);
                }
                "kind"
            }
            Err(e) => {
                step.note(&format!(
                    "{}; removing the nodes labelled {}={name} through Docker",
                    e.lines().next().unwrap_or_default(),
                    observe::CLUSTER_LABEL
                ));
                nodes::remove_nodes(&conn, &seen).await?;
                "docker"
            }
        };
        let left = observe::observe_cluster(&conn, &name).await?;
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
        crate::drivers::state::end_create(&name);
        step.finish(&format!("deleted {} (through {by})", names.join(", ")));
        eprintln!(
            "cluster `{name}`: deleted {} through {by}",
            names.join(", ")
        );
        Ok(vec![format!(
            "cluster {name} ({}) through {by}",
            names.join(", ")
        )])
    }
}

/// `provider: existing`: the user's context is the host cluster. Read, never changed or removed.
#[derive(Default)]
pub struct Existing {
    out: Vec<super::Output>,
}

#[async_trait::async_trait(?Send)]
impl Step for Existing {
    fn id(&self) -> super::StepId {
        super::StepId::ExistingCluster
    }

    fn outputs(&mut self) -> Vec<super::Output> {
        std::mem::take(&mut self.out)
    }

    fn name(&self) -> String {
        "cluster".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let ctx = &cx.env.cluster.context;
        let mut one = match cx.host_context()? {
            Ok(one) => one,
            // `down` still removes our kubeconfig entries when the cluster's context is gone;
            // what we made inside that cluster cannot be reached, and is said to be left.
            Err(e) if cx.mode == Mode::Down => {
                eprintln!("cluster: {e}: what bootstrap made inside that cluster is left in place");
                return Ok(Looked::Not(format!(
                    "context `{ctx}` is not in the kubeconfig"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        doc::flatten(&mut one, &mut |p| std::fs::read(p))?;
        self.out
            .push(super::Output::HostCreds(doc::credentials(&one, ctx)?));
        Ok(Looked::Yes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_time_is_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
}
