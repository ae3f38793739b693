//! The kubeconfig entries: one locked, atomic write of every context this environment owns
//! (each marked with an `extensions` entry), and none when nothing changed. Same-named entries
//! without our mark stop `up` before any change. `down` removes exactly what carries our mark.

use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::access::{candidates, Dial, Endpoint};
use crate::core::config::{Env, Provider};
use crate::core::kubeconfig::{doc, Change, Entry};
use crate::core::plan::{act, Op};
use crate::drivers::kubeconfig as files;
use anyhow::Result;
use serde_json::Value;

#[derive(Default)]
pub struct Kubeconfig {
    /// The file our entries go to, as this run read it (shared with the other steps' reads).
    file: Option<Option<std::sync::Arc<files::store::Read>>>,
    looked: bool,
}

/// Each context the file declares, with its candidate routes (what an unobserved plan shows).
fn declared(env: &Env) -> Vec<(String, Vec<Dial>)> {
    let mut out = Vec::new();
    if env.cluster.provider == Provider::Kind {
        out.push((
            env.cluster.context.clone(),
            candidates(env, Endpoint::KindApi, env.access.mode),
        ));
    }
    for v in &env.vclusters {
        out.push((
            v.context.clone(),
            candidates(env, Endpoint::Vcluster(v), env.access.mode),
        ));
    }
    out
}

fn route_detail(routes: &[Dial]) -> String {
    match routes {
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
    }
}

fn entry_detail(e: &Entry) -> String {
    format!(
        "server {}{}",
        e.creds.server,
        e.tls_server_name
            .as_ref()
            .map(|t| format!(", tls-server-name {t}"))
            .unwrap_or_default()
    )
}

/// Pure: the plan lines for writing `entries` into `file` (None: nothing observed).
pub fn plan_writes(
    env: &Env,
    file: Option<&Value>,
    entries: &[Entry],
    owner: &str,
    why_not: &str,
) -> Diff {
    let mut d = Diff::default();
    let chosen = |name: &str| entries.iter().find(|e| e.context == name);
    let changes = match file {
        Some(f) => {
            let mut copy = f.clone();
            let mut r = doc::upsert(&mut copy, entries, owner);
            if let (Ok(c), Some(cur)) = (&mut r, env.kubeconfig.current_context.as_deref()) {
                match doc::set_current(&mut copy, cur, owner) {
                    Ok(more) => c.extend(more),
                    Err(e) => d.blockers.push(format!("kubeconfig: {e}")),
                }
            }
            match r {
                Ok(c) => Some(c),
                Err(e) => {
                    d.blockers.push(format!(
                        "kubeconfig: {e}\n    hint: bootstrap never overwrites entries it did not write: rename or remove them, or name our contexts differently in the file"
                    ));
                    None
                }
            }
        }
        None => None,
    };
    for (name, routes) in declared(env) {
        match (chosen(&name), &changes) {
            (Some(e), Some(c)) => {
                let touched: Vec<&Change> = c
                    .iter()
                    .filter(|ch| match ch {
                        Change::Added { name: n, .. }
                        | Change::Updated { name: n, .. }
                        | Change::Removed { name: n, .. } => {
                            n == &e.context || n == &e.cluster || n == &e.user
                        }
                        Change::CurrentContext { .. } => false,
                    })
                    .collect();
                if !touched.is_empty() {
                    let what: Vec<String> = touched.iter().map(|c| c.to_string()).collect();
                    d.actions.push(act(
                        Op::WriteContext,
                        format!("context/{name}"),
                        entry_detail(e),
                        &what.join(", "),
                    ));
                }
            }
            (Some(e), None) if file.is_none() => d.actions.push(act(
                Op::WriteContext,
                format!("context/{name}"),
                entry_detail(e),
                why_not,
            )),
            (Some(_), None) => {}
            (None, _) => d.actions.push(act(
                Op::WriteContext,
                format!("context/{name}"),
                route_detail(&routes),
                why_not,
            )),
        }
    }
    if let Some(c) = &changes {
        for ch in c.iter() {
            if let Change::CurrentContext { .. } = ch {
                d.actions.push(act(
                    Op::WriteContext,
                    "current-context",
                    ch.to_string(),
                    "kubeconfig.currentContext in the file",
                ));
            }
        }
    }
    d
}

/// Write the entries gathered (all of them, or only the host cluster's: what a failed `up`
/// writes once the cluster step succeeded, so the user can look).
pub async fn write(cx: &Cx<'_>, host_only: bool) -> Result<Vec<String>> {
    let mut entries = cx.entries();
    if host_only {
        entries.retain(|e| e.context == cx.env.cluster.context);
    }
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let step = cx.progress.begin("kubeconfig");
    let target = cx.kubeconfig_target();
    let mut session = cx.kubeconfig_session();
    let edited = match files::write_entries(
        &mut session,
        &cx.paths,
        &entries,
        &cx.owner(),
        cx.env.kubeconfig.current_context.as_deref(),
    ) {
        Ok(e) => e,
        Err(e) => {
            step.fail("not written");
            return Err(e.into());
        }
    };
    if edited.written {
        cx.kubeconfig_written();
    }
    if edited.changes.is_empty() {
        step.finish(&format!("{} unchanged", target.display()));
    } else {
        step.finish(&format!(
            "{} updated ({} change(s))",
            target.display(),
            edited.changes.iter().count()
        ));
    }
    Ok(edited
        .changes
        .iter()
        .map(|c| format!("kubeconfig: {c}"))
        .collect())
}

#[async_trait::async_trait(?Send)]
impl Step for Kubeconfig {
    fn id(&self) -> super::StepId {
        super::StepId::Kubeconfig
    }

    fn name(&self) -> String {
        "kubeconfig".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        self.file = Some(cx.kubeconfig_file(&cx.kubeconfig_target())?);
        self.looked = true;
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        // A file that does not exist reads as an empty document.
        let empty = Value::Object(Default::default());
        let entries = cx.entries();
        let why_not = if cx.mode == Mode::Offline {
            "not observed"
        } else {
            "its route is chosen once it runs"
        };
        plan_writes(
            cx.env,
            self.file
                .as_ref()
                .filter(|_| self.looked)
                .map(|f| f.as_ref().map(|r| &r.tree).unwrap_or(&empty)),
            &entries,
            &cx.owner(),
            why_not,
        )
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        write(cx, false).await
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let step = cx.progress.begin("kubeconfig");
        let mut session = cx.kubeconfig_session();
        let edited = files::remove_entries(&mut session, &cx.paths, &cx.owner())?;
        if edited.written {
            cx.kubeconfig_written();
        }
        let n = edited.changes.iter().count();
        step.finish(&format!(
            "{n} entr{} removed",
            if n == 1 { "y" } else { "ies" }
        ));
        Ok(edited
            .changes
            .iter()
            .map(|c| format!("kubeconfig: {c}"))
            .collect())
    }
}
