//! The pull-through caches (optional, `cache:`): a registry container in proxy mode per upstream
//! registry, and each node's containerd told to pull that upstream's images through it
//! (hosts.toml). Two steps, so the network is paid while kind works:
//! - `Cache` runs beside the cluster step: it makes the caches (on kind's network when it
//!   exists, else Docker's default one until `CacheHosts` connects them), then pulls every image
//!   the charts `up` installs will run through them ("warming"), while `kind create cluster`
//!   makes the nodes.
//! - `CacheHosts` runs once the nodes exist: it joins the caches to kind's network and writes
//!   each node's host files.
//!
//! The caches are shared by every environment on the machine and outlive clusters: `down`
//! removes only this environment's host files (which go with the nodes anyway) and says the
//! caches stay (a file without the section leaves its nodes' host files alone: a cache that is
//! gone makes containerd fall back to the upstream); `bootstrap cache prune` removes them. The
//! Docker work is `drivers::docker::cache`'s, the pulls `drivers::warm`'s.

use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::plan::{act, Op};
use crate::core::render::cache::{Action, Credentials, Seen};
use anyhow::Result;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

fn owner(cx: &Cx<'_>) -> String {
    format!("env/{}", cx.env.cluster.name)
}

fn credentials(cx: &Cx<'_>) -> Result<(BTreeMap<String, Credentials>, Vec<String>)> {
    if cx.env.cache.enabled && cx.mode != Mode::Down {
        Ok(crate::drivers::cache::credentials(
            &cx.env.cache,
            cx.opts.cache_credentials.as_deref(),
        )?)
    } else {
        Ok(Default::default())
    }
}

fn plan_lines(cx: &Cx<'_>, actions: &[Action]) -> Vec<crate::core::plan::Action> {
    actions
        .iter()
        .map(|a| {
            let target = match a {
                Action::WriteHosts { host, .. }
                | Action::Create { host }
                | Action::Replace { host, .. }
                | Action::Start { host }
                | Action::Connect { host } => format!("cache/{host}"),
            };
            act(
                Op::Cache,
                target,
                a.describe(&cx.env.cache),
                "not as the file wants",
            )
        })
        .collect()
}

/// This part's share of what the caches need (`keep`: the containers' actions, or the hosts').
fn planned(
    cx: &Cx<'_>,
    credentials: &BTreeMap<String, Credentials>,
    seen: &Seen,
    keep: fn(Vec<Action>) -> Vec<Action>,
) -> std::result::Result<Vec<Action>, String> {
    crate::core::render::cache::diff(&cx.env.cache, &owner(cx), credentials, seen).map(keep)
}

/// Look again (an earlier step may have just made the nodes or kind's network), decide this
/// part's actions, and carry them out: one line per change.
async fn converge(
    cx: &Cx<'_>,
    conn: &crate::drivers::docker::connect::Conn,
    credentials: &BTreeMap<String, Credentials>,
    nodes: bool,
    keep: fn(Vec<Action>) -> Vec<Action>,
    step: &crate::progress::Step,
) -> Result<Vec<String>> {
    let seen =
        crate::drivers::docker::cache::observe(conn, &cx.env.cache, &cx.env.cluster.name, nodes)
            .await?;
    let actions = planned(cx, credentials, &seen, keep).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(crate::drivers::docker::cache::apply(
        conn,
        &cx.env.cache,
        &owner(cx),
        credentials,
        &seen,
        &actions,
        &|l| step.note(l),
    )
    .await?)
}

/// The containers and the warm-up.
#[derive(Default)]
pub struct Cache {
    seen: Option<Seen>,
    credentials: BTreeMap<String, Credentials>,
    notes: Vec<String>,
}

impl Cache {
    fn plan(&self, cx: &Cx<'_>) -> Option<std::result::Result<Vec<Action>, String>> {
        Some(planned(
            cx,
            &self.credentials,
            self.seen.as_ref()?,
            containers_only,
        ))
    }

    /// Warm when charts are to be installed and the network may be used.
    fn warms(cx: &Cx<'_>) -> usize {
        if cx.mode != Mode::Up || cx.toolchain_options().offline {
            return 0;
        }
        cx.installs.lock().map(|i| i.len()).unwrap_or(0)
    }
}

fn containers_only(actions: Vec<Action>) -> Vec<Action> {
    actions
        .into_iter()
        .filter(|a| !matches!(a, Action::WriteHosts { .. }))
        .collect()
}

#[async_trait::async_trait(?Send)]
impl Step for Cache {
    fn id(&self) -> super::StepId {
        super::StepId::Cache
    }

    fn name(&self) -> String {
        "cache".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let Some(conn) = cx.docker() else {
            return Ok(Looked::Not("Docker was not reached".into()));
        };
        (self.credentials, self.notes) = credentials(cx)?;
        if !cx.env.cache.enabled {
            return Ok(Looked::Yes);
        }
        self.seen = Some(
            crate::drivers::docker::cache::observe(
                &conn,
                &cx.env.cache,
                &cx.env.cluster.name,
                false,
            )
            .await?,
        );
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        let c = &cx.env.cache;
        if !c.enabled {
            return Diff::default();
        }
        let hosts: Vec<&str> = c.upstreams.iter().map(|u| u.host.as_str()).collect();
        let mut d = match self.plan(cx) {
            None => Diff::one(act(
                Op::Cache,
                "cache",
                format!("pull-through caches for {}", hosts.join(", ")),
                "not observed",
            )),
            Some(Ok(actions)) => Diff {
                actions: plan_lines(cx, &actions),
                blockers: Vec::new(),
            },
            Some(Err(e)) => Diff {
                actions: Vec::new(),
                blockers: vec![e],
            },
        };
        let n = Self::warms(cx);
        if n > 0 {
            d.actions.push(act(
                Op::WarmCache,
                "cache",
                format!(
                    "pull the images of {n} chart(s) through the caches while the cluster is made"
                ),
                "charts to install",
            ));
        }
        d
    }

    /// The cache's image, when a container is to be made and Docker lacks it: pulled now, so a
    /// machine that cannot get it stops before the cluster is made.
    async fn prefetch(&self, cx: &Cx<'_>) -> Result<()> {
        let (Some(conn), Some(Ok(actions))) = (cx.docker(), self.plan(cx)) else {
            return Ok(());
        };
        if actions
            .iter()
            .any(|a| matches!(a, Action::Create { .. } | Action::Replace { .. }))
        {
            crate::drivers::docker::registry::ensure_image(&conn, &cx.env.cache.image, &|l| {
                eprintln!("cache: {l}")
            })
            .await?;
        }
        Ok(())
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let Some(conn) = cx.docker() else {
            return Ok(Vec::new());
        };
        if !cx.env.cache.enabled {
            return Ok(Vec::new());
        }
        let step = cx.progress.begin("cache");
        for n in &self.notes {
            step.note(n);
        }
        let changes =
            match converge(cx, &conn, &self.credentials, false, containers_only, &step).await {
                Ok(c) => c,
                Err(e) => {
                    step.fail("failed");
                    return Err(e);
                }
            };
        if Self::warms(cx) == 0 {
            return super::finish(step, Ok(changes));
        }
        // A warm-up that cannot finish is said, never fatal: the nodes pull through the caches
        // themselves as the pods start, and fail there with the registry's own words.
        let summary = warm(cx, &conn, &step).await;
        step.finish(&if changes.is_empty() {
            summary
        } else {
            format!("{} change(s); {summary}", changes.len())
        });
        Ok(changes)
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let Some(seen) = &self.seen else {
            return Ok(Vec::new());
        };
        // The caches stay for the next cluster and for other environments; say so once.
        let kept: Vec<String> = seen
            .containers
            .values()
            .filter(|c| c.upstream.is_some())
            .map(|c| c.name.clone())
            .collect();
        if !kept.is_empty() {
            let step = cx.progress.begin("cache");
            step.finish(&format!(
                "kept for the next cluster and other environments: {} (`bootstrap cache prune` removes them)",
                kept.join(", ")
            ));
        }
        Ok(Vec::new())
    }
}

/// Pull every image the planned releases run through the cache for its registry, four at a
/// time, saying how far it got. Returns the summary line.
async fn warm(
    cx: &Cx<'_>,
    conn: &crate::drivers::docker::connect::Conn,
    step: &crate::progress::Step,
) -> String {
    let images = match cx.planned_images().await {
        Ok(i) => i,
        Err(e) => return format!("warm-up skipped: {e}"),
    };
    let sources = match crate::core::images::sources(&images, &cx.env.cache) {
        Ok(s) => s,
        Err(e) => return format!("warm-up skipped: {e}"),
    };
    let mut addresses = BTreeMap::new();
    let mut unreachable = Vec::new();
    for host in sources.iter().filter_map(|(_, s)| s.cache.clone()) {
        if addresses.contains_key(&host) || unreachable.contains(&host) {
            continue;
        }
        match crate::drivers::docker::cache::address(conn, &host).await {
            Some(a) if crate::drivers::warm::reachable(&a).await => {
                addresses.insert(host, a);
            }
            _ => unreachable.push(host),
        }
    }
    for h in &unreachable {
        step.note(&format!(
            "the cache for {h} is not reachable from here: its images are pulled through it by the nodes as the pods start"
        ));
    }
    let todo: Vec<_> = sources
        .iter()
        .filter_map(|(r, s)| Some((r, s, addresses.get(s.cache.as_ref()?)?)))
        .collect();
    let total = todo.len();
    let bytes = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let client = crate::drivers::warm::client();
    let in_flight = crate::drivers::warm::InFlight::default();
    step.note(&format!(
        "warming {total} image(s) through the caches: {}",
        todo.iter()
            .map(|(_, s, _)| s.image.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    use futures::StreamExt;
    let failures: Vec<String> = futures::stream::iter(todo)
        .map(|(r, s, addr)| {
            let (client, bytes, done, in_flight) =
                (&client, bytes.clone(), done.clone(), &in_flight);
            async move {
                let out =
                    crate::drivers::warm::pull_through(client, addr, r, bytes.clone(), in_flight)
                        .await;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                step.note(&format!(
                    "{n}/{total} images, {} MB: {}{}",
                    mb(bytes.load(Ordering::Relaxed)),
                    s.image,
                    if out.is_ok() { "" } else { " (failed)" }
                ));
                out.err().map(|e| format!("{}: {e:#}", s.image))
            }
        })
        .buffer_unordered(4)
        .filter_map(|f| async move { f })
        .collect()
        .await;
    for f in &failures {
        step.note(&format!(
            "could not warm {f} (the node pulls it through the cache when its pod starts)"
        ));
    }
    let uncached = sources.iter().filter(|(_, s)| s.cache.is_none()).count();
    format!(
        "warmed {} of {} image(s), {} MB read through the caches in {:.1}s{}",
        total - failures.len(),
        sources.len(),
        mb(bytes.load(Ordering::Relaxed)),
        started.elapsed().as_secs_f64(),
        if uncached > 0 {
            format!("; {uncached} from registries without a cache")
        } else {
            String::new()
        }
    )
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1_000_000.0)
}

/// `up --offline` making a cluster anew: each image the charts run that is not in a cache,
/// named before any change.
pub async fn offline_problems(cx: &Cx<'_>) -> Vec<String> {
    let images = match cx.planned_images().await {
        Ok(i) => i,
        Err(e) => return vec![format!("cache: {e}")],
    };
    let sources = match crate::core::images::sources(&images, &cx.env.cache) {
        Ok(s) => s,
        Err(e) => return vec![format!("cache: {e}")],
    };
    let Some(conn) = cx.docker() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (r, s) in &sources {
        let held = match &s.cache {
            Some(host) => match crate::drivers::docker::cache::holds(&conn, host, r).await {
                Ok(h) => h,
                Err(e) => {
                    out.push(format!("cache: {e}"));
                    continue;
                }
            },
            None => false,
        };
        if let Some(p) = crate::core::images::offline_problem(s, held) {
            out.push(format!("cache: {p}"));
        }
    }
    out
}

/// The caches joined to kind's network, and each node's host files, once the nodes exist.
#[derive(Default)]
pub struct CacheHosts {
    seen: Option<Seen>,
    credentials: BTreeMap<String, Credentials>,
}

impl CacheHosts {
    fn plan(&self, cx: &Cx<'_>) -> Option<std::result::Result<Vec<Action>, String>> {
        Some(planned(
            cx,
            &self.credentials,
            self.seen.as_ref()?,
            hosts_only,
        ))
    }
}

/// What is left once the caches run: joining kind's network, and the host files.
fn hosts_only(actions: Vec<Action>) -> Vec<Action> {
    actions
        .into_iter()
        .filter(|a| matches!(a, Action::WriteHosts { .. } | Action::Connect { .. }))
        .collect()
}

#[async_trait::async_trait(?Send)]
impl Step for CacheHosts {
    fn id(&self) -> super::StepId {
        super::StepId::CacheHosts
    }

    fn name(&self) -> String {
        "cache hosts".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let Some(conn) = cx.docker() else {
            return Ok(Looked::Not("Docker was not reached".into()));
        };
        // Without the section there is nothing to look at: host files a dropped section left
        // name a cache containerd falls back from, and they go with the nodes.
        if !cx.env.cache.enabled {
            return Ok(Looked::Yes);
        }
        (self.credentials, _) = credentials(cx)?;
        self.seen = Some(
            crate::drivers::docker::cache::observe(
                &conn,
                &cx.env.cache,
                &cx.env.cluster.name,
                true,
            )
            .await?,
        );
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        if !cx.env.cache.enabled {
            return Diff::default();
        }
        match self.plan(cx) {
            None => Diff::one(act(
                Op::Cache,
                "cache",
                "each node's hosts.toml for the caches",
                "not observed",
            )),
            // A cache refused (not ours) is the `cache` step's blocker, said once.
            Some(Ok(actions)) => Diff {
                actions: plan_lines(cx, &actions),
                blockers: Vec::new(),
            },
            Some(Err(_)) => Diff::default(),
        }
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let Some(conn) = cx.docker() else {
            return Ok(Vec::new());
        };
        if !cx.env.cache.enabled {
            return Ok(Vec::new());
        }
        let step = cx.progress.begin("cache hosts");
        let result = converge(cx, &conn, &self.credentials, true, hosts_only, &step).await;
        super::finish(step, result)
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let (Some(conn), Some(seen)) = (cx.docker(), &self.seen) else {
            return Ok(Vec::new());
        };
        // When the cluster goes whole, the nodes' host files go with it.
        if cx.mode == Mode::Down && cx.cluster_goes() {
            return Ok(Vec::new());
        }
        Ok(crate::drivers::docker::cache::remove_hosts(&conn, &owner(cx), seen).await?)
    }
}
