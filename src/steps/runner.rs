//! Walking the pipeline. `plan`: observe every step in order and collect their diffs. `up`: the
//! same first (so every blocker is known before any change), then, step by step, look again
//! where an earlier step changed the world or could not be looked at yet, and apply the
//! difference. `down`: observe, then remove in reverse order.

use super::{keep, look, pipeline, Cx, Diff, Looked, Mode, Options, Stage, Step, StepId};
use crate::core::config::Env;
use crate::core::plan::{Op, Plan};
use crate::progress::Progress;
use anyhow::{anyhow, Result};
use std::path::PathBuf;

/// What a walk found and did.
pub struct Outcome {
    /// Every step's plan lines, from what was observed before any change.
    pub plan: Plan,
    /// What stops `up` before any change.
    pub blockers: Vec<String>,
    /// One line per change made (`up`) or thing removed (`down`).
    pub changes: Vec<String>,
    pub kubeconfig: PathBuf,
    pub report: Option<crate::core::verify::Report>,
}

async fn settle(s: &mut dyn Step, cx: &Cx<'_>) -> Result<()> {
    let r = s.settle(cx).await;
    keep(s, cx);
    r
}

async fn apply(s: &mut dyn Step, cx: &Cx<'_>) -> Result<Vec<String>> {
    let r = s.apply(cx).await;
    keep(s, cx);
    r
}

/// Observe every step in order; a stage's steps side by side. When a step cannot be observed,
/// the blockers of the steps seen so far come first: a later step failing to look (a route to a
/// cluster that is not ours and differs from the file) is a consequence, not the cause.
/// `settle` every step of `stages`, in order.
async fn settle_all(stages: &mut [Stage], cx: &Cx<'_>) -> Result<()> {
    for stage in stages.iter_mut() {
        for s in stage.iter_mut() {
            settle(s.as_mut(), cx)
                .await
                .map_err(|e| anyhow!("{}: {e:#}", s.name()))?;
        }
    }
    Ok(())
}

async fn observe_all(stages: &mut [Stage], cx: &Cx<'_>) -> Result<Vec<Vec<Looked>>> {
    let looked = observe_stages(stages, cx).await;
    settle_all(stages, cx).await?;
    looked
}

async fn observe_stages(stages: &mut [Stage], cx: &Cx<'_>) -> Result<Vec<Vec<Looked>>> {
    let mut looked = Vec::new();
    for si in 0..stages.len() {
        let results = futures::future::join_all(stages[si].iter_mut().map(|s| async {
            look(s.as_mut(), cx)
                .await
                .map_err(|e| anyhow!("{}: {e:#}", s.name()))
        }))
        .await;
        if results.iter().all(Result::is_ok) {
            looked.push(results.into_iter().map(Result::unwrap).collect());
            continue;
        }
        settle_all(&mut stages[..si], cx).await?;
        let seen = diffs(&stages[..si], cx);
        if cx.mode == Mode::Up && !seen.blockers.is_empty() {
            return Err(stopped(&seen.blockers));
        }
        if cx.mode == Mode::Up && seen.needs_apply() {
            // An earlier step will change the world first (say, re-apply a route someone
            // changed), which may be what this step failed on: it is looked at again once the
            // earlier stages are applied, and fails then if it still cannot look.
            looked.push(
                results
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|e| Looked::Not(format!("{e:#}"))))
                    .collect(),
            );
            continue;
        }
        return Err(results
            .into_iter()
            .find_map(Result::err)
            .expect("one step failed"));
    }
    Ok(looked)
}

/// The error of an `up` that found blockers before any change.
fn stopped(blockers: &[String]) -> anyhow::Error {
    let n = blockers.len();
    anyhow!(
        "up stopped before any change: {n} problem{} found:\n  - {}\nnothing was changed",
        if n == 1 { "" } else { "s" },
        blockers.join("\n  - ")
    )
}

/// Every executable the planned changes will run and every pinned file they read, found or
/// fetched before the first change: a machine without kind or helm and without network stops
/// here with nothing changed, not after the cluster was made. Nothing is fetched when nothing
/// will change.
async fn get_downloads(stages: &[Stage], cx: &Cx<'_>) -> Result<()> {
    let changing: Vec<_> = stages
        .iter()
        .flatten()
        .filter(|s| s.diff(cx).needs_apply())
        .collect();
    let mut pins: Vec<&'static crate::drivers::toolchain::Pinned> = Vec::new();
    let mut files: Vec<crate::core::router::PinnedManifest> = Vec::new();
    for s in &changing {
        for p in s.tools(cx) {
            if !pins.iter().any(|q| q.tool.name == p.tool.name) {
                pins.push(p);
            }
        }
        for f in s.files(cx) {
            if !files.iter().any(|g| g.sha256 == f.sha256) {
                files.push(f);
            }
        }
    }
    let mut problems = Vec::new();
    let mut installs = Vec::new();
    for s in &changing {
        for mut r in s.installs(cx) {
            match cx.chart(&r.chart).await {
                Ok(kept) => {
                    r.chart.path = Some(kept.display().to_string());
                    installs.push(r);
                }
                Err(e) => problems.push(format!("{}: {e:#}", s.name())),
            }
        }
    }
    if let Ok(mut i) = cx.installs.lock() {
        *i = installs;
    }
    // Offline, a cluster made anew has nodes that hold no image: every image its charts run
    // must be in a pull-through cache, or `up` would stop halfway, at the first pod.
    let creates_cluster = changing.iter().any(|s| {
        s.diff(cx)
            .actions
            .iter()
            .any(|a| matches!(a.op, Op::CreateCluster | Op::RecreateCluster))
    });
    if problems.is_empty()
        && creates_cluster
        && cx.env.cache.enabled
        && cx.toolchain_options().offline
    {
        problems.extend(super::cache::offline_problems(cx).await);
    }
    for s in &changing {
        if let Err(e) = s.prefetch(cx).await {
            problems.push(format!("{}: {e:#}", s.name()));
        }
    }
    for pin in pins {
        if let Err(e) = cx.tool(pin).await {
            problems.push(format!("{e:#}"));
        }
    }
    for f in &files {
        if let Err(e) = cx.file(f).await {
            let path = crate::drivers::toolchain::through_mirror(f.url, Some(""));
            problems.push(format!(
                "{e:#}\n  hint: run `bootstrap up` once with network access (the file is cached), or set BOOTSTRAP_DOWNLOAD_MIRROR to a mirror that serves it at {path}"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(stopped(&problems))
    }
}

fn diffs(stages: &[Stage], cx: &Cx<'_>) -> Diff {
    let mut all = Diff::default();
    for s in stages.iter().flatten() {
        let d = s.diff(cx);
        all.actions.extend(d.actions);
        all.blockers.extend(d.blockers);
    }
    all
}

fn outcome(cx: &Cx<'_>, d: Diff, changes: Vec<String>) -> Outcome {
    Outcome {
        plan: Plan::new(d.actions),
        blockers: d.blockers,
        changes,
        kubeconfig: cx.paths.write_target(),
        report: cx.take_report(),
    }
}

/// `plan` (observe + diff) or `plan --offline` (diff against nothing observed).
pub async fn plan(
    env: &Env,
    opts: &Options,
    progress: &Progress,
    offline: bool,
) -> Result<Outcome> {
    if offline {
        return plan_offline(env, opts, progress);
    }
    // The hostnames under the load balancer's address, when it has one already.
    let looked_up;
    let env = if crate::core::exposure::needs_address(env) {
        let base = env.router.domain_from_address.clone().unwrap_or_default();
        let address = super::exposure::router_address(env, opts, progress, None).await?;
        looked_up = match address {
            crate::core::exposure::Address::Ip(_) => {
                super::exposure::resolve(env, &address, &base)?
            }
            _ => {
                eprintln!(
                    "router: hostnames under `{}` stand for the router's load balancer address, known once `up` has installed the router",
                    env.router.domain
                );
                env.clone()
            }
        };
        &looked_up
    } else {
        env
    };
    let cx = Cx::new(env, Mode::Plan, opts, progress)?;
    let mut stages = pipeline(env);
    observe_all(&mut stages, &cx).await?;
    let d = diffs(&stages, &cx);
    Ok(outcome(&cx, d, Vec::new()))
}

/// `plan --offline`: every step's difference against nothing observed. Synchronous: nothing is
/// looked at, so nothing waits.
pub fn plan_offline(env: &Env, opts: &Options, progress: &Progress) -> Result<Outcome> {
    let cx = Cx::new(env, Mode::Offline, opts, progress)?;
    let stages = pipeline(env);
    let d = diffs(&stages, &cx);
    Ok(outcome(&cx, d, Vec::new()))
}

/// `up`: every blocker before any change, then each step's difference, in order. With
/// `router.domainFromAddress` the hostnames are made of the router's load balancer address:
/// when it has none yet, the walk stops after the router (every blocker was still found before
/// any change), waits for the address, and walks again with the hostnames it gives.
pub async fn up(env: &Env, opts: &Options, progress: &Progress) -> Result<Outcome> {
    if !crate::core::exposure::needs_address(env) {
        return walk_up(env, opts, progress, false).await;
    }
    let base = env.router.domain_from_address.clone().unwrap_or_default();
    let mut first = None;
    let mut address = super::exposure::router_address(env, opts, progress, None).await?;
    if matches!(
        address,
        crate::core::exposure::Address::NoService | crate::core::exposure::Address::Pending
    ) {
        first = Some(walk_up(env, opts, progress, true).await?);
        address =
            super::exposure::router_address(env, opts, progress, Some(opts.helm_timeout)).await?;
    }
    let resolved = super::exposure::resolve(env, &address, &base)?;
    let mut out = walk_up(&resolved, opts, progress, false).await?;
    if let Some(first) = first {
        let mut actions = first.plan.actions;
        actions.extend(out.plan.actions);
        out.plan = Plan::new(actions);
        let mut changes = first.changes;
        changes.extend(out.changes);
        out.changes = changes;
    }
    Ok(out)
}

async fn walk_up(
    env: &Env,
    opts: &Options,
    progress: &Progress,
    stop_after_router: bool,
) -> Result<Outcome> {
    let cx = Cx::new(env, Mode::Up, opts, progress)?;
    let mut stages = pipeline(env);
    let looked = observe_all(&mut stages, &cx).await?;
    let first = diffs(&stages, &cx);
    if !first.blockers.is_empty() {
        return Err(stopped(&first.blockers));
    }
    get_downloads(&stages, &cx).await?;
    let mut changes = Vec::new();
    let mut wrote_kubeconfig = false;
    for (si, stage) in stages.iter_mut().enumerate() {
        if crate::drivers::process::interrupted() {
            return Err(anyhow!(
                "interrupted before {}; nothing half-done was left: run `bootstrap up` again to resume",
                stage.first().map(|s| s.name()).unwrap_or_default()
            ));
        }
        let again = cx.changed_so_far() > 0;
        let cx = &cx;
        let results = futures::future::join_all(stage.iter_mut().enumerate().map(|(i, s)| {
            let stale = again || looked[si][i] != Looked::Yes;
            async move {
                if stale {
                    look(s.as_mut(), cx).await.map_err(|e| (s.name(), e))?;
                    settle(s.as_mut(), cx).await.map_err(|e| (s.name(), e))?;
                }
                let d = s.diff(cx);
                if !d.blockers.is_empty() {
                    return Err((s.name(), anyhow!("{}", d.blockers.join("\n  - "))));
                }
                if d.needs_apply() {
                    return apply(s.as_mut(), cx).await.map_err(|e| (s.name(), e));
                }
                Ok(Vec::new())
            }
        }))
        .await;
        let mut errors = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(c) => {
                    if let Ok(mut n) = cx.changed.lock() {
                        *n += c.len();
                    }
                    changes.extend(c);
                    if stage[i].id() == StepId::Kubeconfig {
                        wrote_kubeconfig = true;
                    }
                }
                Err((name, e)) => errors.push(format!("{name}: {e:#}")),
            }
        }
        if !errors.is_empty() {
            // One part failing does not stop its siblings; all failures are reported together.
            // Once the cluster runs, its context is written (with the route that verified), so
            // the user can look.
            let mut msg = errors.join("\n");
            if !wrote_kubeconfig {
                match super::kubeconfig::write(cx, true).await {
                    Ok(written) if !written.is_empty() => msg.push_str(&format!(
                        "\nthe host cluster's context `{}` was written to {} so you can look ({})",
                        cx.env.cluster.context,
                        cx.paths.write_target().display(),
                        written.join(", ")
                    )),
                    Ok(_) => {}
                    Err(e) => msg.push_str(&format!(
                        "\nwriting the contexts verified so far failed too: {e:#}"
                    )),
                }
            }
            return Err(anyhow!("{msg}"));
        }
        if stop_after_router && stage.iter().any(|s| s.id() == StepId::Router) {
            break;
        }
    }
    Ok(outcome(&cx, first, changes))
}

/// `down`: what each step made, removed in reverse order, only what carries our mark.
pub async fn down(env: &Env, opts: &Options, progress: &Progress) -> Result<Outcome> {
    let cx = Cx::new(env, Mode::Down, opts, progress)?;
    let mut stages = pipeline(env);
    observe_all(&mut stages, &cx).await?;
    let mut removed = Vec::new();
    for stage in stages.iter_mut().rev() {
        if crate::drivers::process::interrupted() {
            return Err(anyhow!(
                "interrupted before {}{}: run `bootstrap down` again to finish",
                stage.first().map(|s| s.name()).unwrap_or_default(),
                if removed.is_empty() {
                    String::new()
                } else {
                    format!("; removed so far: {}", removed.join(", "))
                }
            ));
        }
        let cx = &cx;
        let results = futures::future::join_all(stage.iter_mut().map(|s| async move {
            s.remove(cx)
                .await
                .map_err(|e| anyhow!("{}: {e:#}", s.name()))
        }))
        .await;
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(r) => removed.extend(r),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if !errors.is_empty() {
            return Err(anyhow!("{}", errors.join("\n")));
        }
    }
    Ok(outcome(&cx, Diff::default(), removed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;
    use crate::core::plan::Op;

    fn env() -> Env {
        load_str(
            "cluster: {name: x}\nvclusters: [{name: dev}, {name: qa}]\nargocd: {register: true}\n",
            "t",
            &[],
        )
        .env
        .unwrap()
    }

    fn offline(env: &Env) -> Plan {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(plan(env, &Options::default(), &Progress::new(false), true))
            .unwrap()
            .plan
    }

    #[test]
    fn nothing_observed_plans_every_step_in_order() {
        let p = offline(&env());
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
    fn a_file_without_vclusters_plans_the_cluster_and_its_context() {
        let e = load_str("cluster: {name: solo}\n", "t", &[]).env.unwrap();
        let ops: Vec<Op> = offline(&e).actions.iter().map(|a| a.op).collect();
        assert_eq!(
            ops,
            vec![
                Op::Preflight,
                Op::CreateCluster,
                Op::WriteContext,
                Op::Verify
            ]
        );
    }
}
