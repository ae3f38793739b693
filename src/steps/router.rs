//! The passthrough router: its helm release (through the `Router` interface, so another router
//! kind is one more implementation there).

use super::releases::{Ops, ReleaseStep};
use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::config::Env;
use crate::core::plan::{chart_ref, Op};
use crate::core::router::router_for;
use anyhow::Result;

pub struct Router {
    rel: ReleaseStep,
    why_not: String,
}

impl Router {
    pub fn new(env: &Env) -> Self {
        Router {
            rel: ReleaseStep::new(router_for(env).release(env)),
            why_not: "not observed".into(),
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Step for Router {
    fn name(&self) -> String {
        "router".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let Some(api) = cx.api() else {
            self.why_not = "the cluster is not running yet".into();
            return Ok(Looked::Not(self.why_not.clone()));
        };
        self.rel.observe(&api).await?;
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        let r = &cx.env.router;
        let detail = format!(
            "{} {}, TLS passthrough {}, node 443 on host {}",
            r.kind.as_str(),
            chart_ref(&r.chart),
            if r.passthrough { "on" } else { "off" },
            r.https_port
        );
        self.rel.diff(
            cx,
            Ops {
                install: Op::InstallRouter,
                upgrade: Op::UpgradeRouter,
            },
            detail,
            &self.why_not,
        )
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let Some(api) = cx.api() else {
            return Ok(Vec::new());
        };
        let step = cx.progress.begin("router");
        match self.rel.apply(cx, &api, &|l| step.note(l)).await {
            Ok(done) => {
                step.finish(done.as_deref().unwrap_or("converged"));
                Ok(done.into_iter().collect())
            }
            Err(e) => {
                step.fail("failed");
                Err(e)
            }
        }
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        if cx.mode == Mode::Down && cx.cluster_goes() {
            return Ok(Vec::new());
        }
        let Some(api) = cx.api() else {
            return Ok(Vec::new());
        };
        let step = cx.progress.begin("router");
        let r = self.rel.remove(cx, &api, &|l| step.note(l)).await;
        step.finish("done");
        Ok(r?.into_iter().collect())
    }
}
