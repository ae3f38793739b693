//! The local registry (optional, `registry.enabled`): a registry container on kind's network,
//! each node's containerd told where it is (hosts.toml), and the KEP-1755 ConfigMap that Tilt,
//! Skaffold and ctlptl read. Everything made carries our mark; a registry the user already runs is
//! used only with `registry.shared`, and never removed. The work is `drivers::registry`'s.

use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::plan::{act, Op};
use crate::core::render::registry::Seen;
use anyhow::Result;

#[derive(Default)]
pub struct Registry {
    seen: Option<Seen>,
    /// A `local-registry-hosting` ConfigMap someone else made is in the cluster.
    foreign_configmap: bool,
}

#[async_trait::async_trait(?Send)]
impl Step for Registry {
    fn id(&self) -> super::StepId {
        super::StepId::Registry
    }

    fn name(&self) -> String {
        "registry".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let Some(conn) = cx.docker() else {
            return Ok(Looked::Not("Docker was not reached".into()));
        };
        self.seen = Some(crate::drivers::registry::observe(&conn, cx.env).await?);
        if let (true, Some(api)) = (cx.env.registry.enabled, cx.api()) {
            self.foreign_configmap =
                crate::drivers::registry::foreign_configmap(&api.client).await?;
        }
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        let r = &cx.env.registry;
        if !r.enabled {
            return Diff::default();
        }
        let target = format!("registry/{}", r.name);
        let Some(seen) = &self.seen else {
            return Diff::one(act(
                Op::Registry,
                target,
                format!(
                    "registry container {} on kind's network, published on {}:{}; nodes' hosts.toml; ConfigMap kube-public/local-registry-hosting",
                    r.name, r.listen_address, r.port
                ),
                "not observed",
            ));
        };
        if self.foreign_configmap {
            return Diff {
                actions: Vec::new(),
                blockers: vec![crate::drivers::registry::FOREIGN_CONFIGMAP.to_owned()],
            };
        }
        match crate::drivers::registry::plan(cx.env, seen) {
            Ok(actions) => Diff {
                actions: actions
                    .iter()
                    .map(|a| {
                        act(
                            Op::Registry,
                            &target,
                            a.describe(r),
                            "not as the file wants",
                        )
                    })
                    .collect(),
                blockers: Vec::new(),
            },
            Err(e) => Diff {
                actions: Vec::new(),
                blockers: vec![format!("{e:#}")],
            },
        }
    }

    /// The registry's image, when the container is to be made and Docker lacks it: pulled now,
    /// so a machine that cannot get it stops before the cluster is made.
    async fn prefetch(&self, cx: &Cx<'_>) -> Result<()> {
        let (Some(conn), Some(seen)) = (cx.docker(), &self.seen) else {
            return Ok(());
        };
        let creates = crate::drivers::registry::plan(cx.env, seen)
            .map(|a| a.contains(&crate::core::render::registry::Action::Create))
            .unwrap_or(false);
        if !creates {
            return Ok(());
        }
        crate::drivers::docker::registry::ensure_image(&conn, &cx.env.registry.image, &|l| {
            eprintln!("registry: {l}")
        })
        .await?;
        Ok(())
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let Some(conn) = cx.docker() else {
            return Ok(Vec::new());
        };
        let api = cx.api();
        let step = cx.progress.begin("registry");
        let r = crate::drivers::registry::apply(
            &conn,
            cx.env,
            api.as_ref().map(|a| &a.client),
            false,
            &|l| step.note(l),
        )
        .await;
        match r {
            Ok(c) => {
                step.finish(&format!(
                    "{} change(s); push to {}/...",
                    c.len(),
                    cx.env.registry.host()
                ));
                Ok(c)
            }
            Err(e) => {
                step.fail("failed");
                Err(e)
            }
        }
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let Some(conn) = cx.docker() else {
            return Ok(Vec::new());
        };
        let api = cx.api();
        // When the cluster goes whole, the nodes' host files and the ConfigMap go with it.
        let nodes_stay = !(cx.mode == Mode::Down && cx.cluster_goes());
        crate::drivers::registry::remove(
            &conn,
            cx.env,
            api.as_ref().map(|a| &a.client).filter(|_| nodes_stay),
            nodes_stay,
        )
        .await
    }
}
