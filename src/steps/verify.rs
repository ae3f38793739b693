//! Verify: `up` ends by proving every context it wrote, layer by layer, with the environment's
//! own checks (Docker, the router passing each hostname through, the secrets in the cluster).

use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::plan::{act, Op};
use anyhow::Result;

#[derive(Default)]
pub struct Verify;

#[async_trait::async_trait(?Send)]
impl Step for Verify {
    fn name(&self) -> String {
        "verify".into()
    }

    async fn observe(&mut self, _cx: &Cx<'_>) -> Result<Looked> {
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        let names: Vec<String> = crate::verify::environment::declared_contexts(cx.env)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        Diff::one(act(
            Op::Verify,
            "contexts",
            names.join(", "),
            "always, after converging",
        ))
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        if cx.mode != Mode::Up || !cx.opts.verify {
            return Ok(Vec::new());
        }
        let step = cx.progress.begin("verify");
        let target = cx.paths.write_target();
        let kc = crate::verify::load_kubeconfig(Some(&target.display().to_string()))?;
        let r = crate::verify::verify_env(cx.env, &kc, cx.opts.timeout, None).await;
        if r.ok {
            step.finish("every context answered");
        } else {
            step.fail("some contexts failed");
        }
        Cx::set(&cx.report, Some(r));
        Ok(Vec::new())
    }

    async fn remove(&mut self, _cx: &Cx<'_>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}
