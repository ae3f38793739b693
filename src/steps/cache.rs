//! The pull-through caches (optional, `cache:`): a registry container in proxy mode per upstream
//! registry, on kind's network, and each node's containerd told to pull that upstream's images
//! through it (hosts.toml). The caches are shared by every environment on the machine and outlive
//! clusters: `down` removes only this environment's host files (which go with the nodes anyway)
//! and says the caches stay (a file without the section leaves its nodes' host files alone: a
//! cache that is gone makes containerd fall back to the upstream); `bootstrap cache prune` removes them. The work is
//! `drivers::docker::cache`'s.

use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::plan::{act, Op};
use crate::core::render::cache::{Action, Credentials, Seen};
use anyhow::Result;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Cache {
    seen: Option<Seen>,
    credentials: BTreeMap<String, Credentials>,
    notes: Vec<String>,
}

impl Cache {
    fn owner(cx: &Cx<'_>) -> String {
        format!("env/{}", cx.env.cluster.name)
    }

    fn plan(&self, cx: &Cx<'_>) -> Option<std::result::Result<Vec<Action>, String>> {
        let seen = self.seen.as_ref()?;
        Some(crate::core::render::cache::diff(
            &cx.env.cache,
            &Self::owner(cx),
            &self.credentials,
            seen,
        ))
    }
}

#[async_trait::async_trait(?Send)]
impl Step for Cache {
    fn name(&self) -> String {
        "cache".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let Some(conn) = cx.docker() else {
            return Ok(Looked::Not("Docker was not reached".into()));
        };
        if cx.env.cache.enabled && cx.mode != Mode::Down {
            let (found, notes) = crate::drivers::cache::credentials(
                &cx.env.cache,
                cx.opts.cache_credentials.as_deref(),
            )?;
            self.credentials = found;
            self.notes = notes;
        }
        // Without the section there is nothing to look at: host files a dropped section left
        // name a cache containerd falls back from, and they go with the nodes.
        if !cx.env.cache.enabled {
            return Ok(Looked::Yes);
        }
        self.seen = Some(
            crate::drivers::docker::cache::observe(&conn, &cx.env.cache, &cx.env.cluster.name)
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
        let Some(plan) = self.plan(cx) else {
            return Diff::one(act(
                Op::Cache,
                "cache",
                format!(
                    "pull-through caches for {}; nodes' hosts.toml",
                    hosts.join(", ")
                ),
                "not observed",
            ));
        };
        match plan {
            Ok(actions) => Diff {
                actions: actions
                    .iter()
                    .map(|a| {
                        let target = match a {
                            Action::WriteHosts { host, .. }
                            | Action::Create { host }
                            | Action::Replace { host, .. }
                            | Action::Start { host }
                            | Action::Connect { host } => format!("cache/{host}"),
                        };
                        act(Op::Cache, target, a.describe(c), "not as the file wants")
                    })
                    .collect(),
                blockers: Vec::new(),
            },
            Err(e) => Diff {
                actions: Vec::new(),
                blockers: vec![e],
            },
        }
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
        // Looked at again: the cluster step may have just made the nodes.
        let seen =
            crate::drivers::docker::cache::observe(&conn, &cx.env.cache, &cx.env.cluster.name)
                .await?;
        let actions = match crate::core::render::cache::diff(
            &cx.env.cache,
            &Self::owner(cx),
            &self.credentials,
            &seen,
        ) {
            Ok(a) => a,
            Err(e) => {
                step.fail("refused");
                anyhow::bail!("{e}");
            }
        };
        let result = crate::drivers::docker::cache::apply(
            &conn,
            &cx.env.cache,
            &Self::owner(cx),
            &self.credentials,
            &seen,
            &actions,
            &|l| step.note(l),
        )
        .await
        .map_err(anyhow::Error::from);
        super::finish(step, result)
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let (Some(conn), Some(seen)) = (cx.docker(), &self.seen) else {
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
        // When the cluster goes whole, the nodes' host files go with it.
        if cx.mode == Mode::Down && cx.cluster_goes() {
            return Ok(Vec::new());
        }
        Ok(crate::drivers::docker::cache::remove_hosts(&conn, &Self::owner(cx), seen).await?)
    }
}
