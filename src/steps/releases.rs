//! One helm release, as the router and vcluster steps share it: observed from helm's records
//! through the kube API (no helm process), judged by `core::release`, and changed through helm
//! only when it differs. Our mark is a release label; a release left `pending-*` by an
//! interrupted helm is recovered first, since helm refuses to touch it otherwise.

use super::context::Api;
use super::{Cx, Diff};
use crate::core::ownership;
use crate::core::plan::{act, Op};
use crate::core::release::{judge, Release, Stored, Verdict};
use crate::drivers::toolchain::HELM_PIN;
use anyhow::{Context, Result};

/// The ops a release is planned with: install/upgrade of the router, or of a vcluster.
#[derive(Clone, Copy)]
pub struct Ops {
    pub install: Op,
    pub upgrade: Op,
}

/// One release's state between observe, diff and apply.
pub struct ReleaseStep {
    pub want: Release,
    pub seen: Option<Stored>,
    pub looked: bool,
}

impl ReleaseStep {
    pub fn new(want: Release) -> Self {
        ReleaseStep {
            want,
            seen: None,
            looked: false,
        }
    }

    pub fn target(&self) -> String {
        format!("helm/{}/{}", self.want.namespace, self.want.name)
    }

    pub async fn observe(&mut self, api: &Api) -> Result<()> {
        self.seen = crate::drivers::kube::releases::latest(
            &api.client,
            &self.want.namespace,
            &self.want.name,
        )
        .await?;
        self.looked = true;
        Ok(())
    }

    pub fn verdict(&self, cx: &Cx<'_>) -> Verdict {
        judge(&self.want, self.seen.as_ref(), cx.cluster())
    }

    /// The plan lines and blockers for this release. `detail` says what is installed;
    /// `not_looked` is the reason when nothing could be observed.
    pub fn diff(&self, cx: &Cx<'_>, ops: Ops, detail: String, not_looked: &str) -> Diff {
        let target = self.target();
        if !self.looked {
            return Diff::one(act(ops.install, target, detail, not_looked));
        }
        let mut d = Diff::default();
        // Found, in the cache, or fetchable: only offline with none of them is it a blocker.
        let needs_helm = |d: &mut Diff, what: &str| {
            if let Some(e) = cx.tool_blocker(&HELM_PIN) {
                d.blockers
                    .push(format!("helm is needed to {what} {target}: {e}"));
            }
        };
        match self.verdict(cx) {
            Verdict::Converged => {}
            Verdict::Absent => {
                d.actions.push(act(ops.install, &target, detail, "not found"));
                needs_helm(&mut d, "install");
            }
            Verdict::Upgrade(why) => {
                d.actions
                    .push(act(ops.upgrade, &target, detail, &why.join("; ")));
                needs_helm(&mut d, "upgrade");
            }
            Verdict::Recover(status) => {
                d.actions.push(act(
                    Op::RecoverRelease,
                    &target,
                    recovery(&status).1,
                    &format!("left {status} by an interrupted helm"),
                ));
                d.actions.push(act(ops.upgrade, &target, detail, "after recovery"));
                needs_helm(&mut d, "recover");
            }
            Verdict::Adopt => d.actions.push(act(
                Op::Adopt,
                &target,
                "installed outside bootstrap and exactly what the file wants: used as is, never upgraded or uninstalled by bootstrap",
                "no bootstrap/env label on the release",
            )),
            Verdict::Conflict(holder, why) => d.blockers.push(format!(
                "release {}/{} exists and is {}; `up` would have to change it ({})\n    hint: bootstrap changes only what it made: uninstall it (`helm uninstall {} -n {}`), or give ours another name in the file",
                self.want.namespace,
                self.want.name,
                holder.describe(),
                why.join("; "),
                self.want.name,
                self.want.namespace
            )),
        }
        d
    }

    /// helm, when `apply` will run it: the release could not be observed (the cluster is yet
    /// to be made) or differs.
    pub fn tools(&self, cx: &Cx<'_>) -> Vec<&'static crate::drivers::toolchain::Pinned> {
        let runs_helm = !self.looked
            || matches!(
                self.verdict(cx),
                Verdict::Absent | Verdict::Upgrade(_) | Verdict::Recover(_)
            );
        if runs_helm {
            vec![&HELM_PIN]
        } else {
            Vec::new()
        }
    }

    /// The release `apply` will install, when the caches are on and its chart comes from a
    /// repository at a version: the chart is kept by digest and installed from the kept archive,
    /// and the images it runs are warmed into the caches while the cluster is made.
    pub fn installs(&self, cx: &Cx<'_>) -> Vec<Release> {
        let c = &self.want.chart;
        if cx.env.cache.enabled
            && c.path.is_none()
            && c.repo.is_some()
            && c.version.is_some()
            && !self.tools(cx).is_empty()
        {
            vec![self.want.clone()]
        } else {
            Vec::new()
        }
    }

    /// Make the release what we want; returns the change made, if any.
    pub async fn apply(
        &mut self,
        cx: &Cx<'_>,
        api: &Api,
        note: &dyn Fn(&str),
    ) -> Result<Option<String>> {
        let r = &self.want;
        let id = format!("{}/{}", r.namespace, r.name);
        let verdict = self.verdict(cx);
        let timeout = cx.opts.helm_timeout.as_secs();
        if matches!(
            verdict,
            Verdict::Converged | Verdict::Adopt | Verdict::Conflict(..)
        ) {
            return Ok(None);
        }
        let helm = api.helm(cx.tool(&HELM_PIN).await?);
        let verb = match &verdict {
            Verdict::Converged | Verdict::Adopt | Verdict::Conflict(..) => return Ok(None),
            Verdict::Absent => "install",
            Verdict::Upgrade(_) => "upgrade",
            Verdict::Recover(status) => {
                let (action, why) = recovery(status);
                note(&format!("{id}: {why}"));
                match action {
                    Recovery::Uninstall => helm.uninstall(r).await,
                    Recovery::Rollback => helm.rollback(r, timeout).await,
                }
                .with_context(|| format!("recovering release {id} from {status}"))?;
                if action == Recovery::Uninstall {
                    "install"
                } else {
                    "upgrade"
                }
            }
        };
        note(&format!("helm {verb} {id}"));
        // From the kept archive when there is one: the same chart, no request to its repository.
        let kept = cx.kept_chart(&r.chart).map(|p| {
            let mut k = r.clone();
            k.chart.path = Some(p.display().to_string());
            k
        });
        helm.upgrade(
            kept.as_ref().unwrap_or(r),
            &ownership::helm_labels(cx.cluster()),
            timeout,
        )
        .await
        .with_context(|| format!("helm {verb} of {id}"))?;
        Ok(Some(format!("helm {verb} {id}")))
    }

    /// Uninstall the release if it carries our mark; say why when it stays.
    pub async fn remove(
        &mut self,
        cx: &Cx<'_>,
        api: &Api,
        note: &dyn Fn(&str),
    ) -> Result<Option<String>> {
        self.observe(api).await?;
        let r = &self.want;
        let Some(seen) = &self.seen else {
            return Ok(None);
        };
        let holder = ownership::holder(Some(&seen.labels), cx.cluster());
        if holder != ownership::Holder::Ours && !cx.opts.force {
            eprintln!(
                "release {}/{}: {}: left in place\n  hint: uninstall it yourself (`helm uninstall {} -n {}`), or run `bootstrap down --force`",
                r.namespace,
                r.name,
                holder.describe(),
                r.name,
                r.namespace
            );
            return Ok(None);
        }
        let bin = cx.find_tool(&HELM_PIN).map_err(|e| {
            anyhow::anyhow!(
                "helm is needed to uninstall {}/{}: {e}",
                r.namespace,
                r.name
            )
        })?;
        note(&format!("helm uninstall {}/{}", r.namespace, r.name));
        api.helm(bin).uninstall(r).await?;
        Ok(Some(format!("helm release {}/{}", r.namespace, r.name)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    Uninstall,
    Rollback,
}

/// Pure: how a release left pending by an interrupted helm becomes upgradeable again. A first
/// install never finished has nothing to roll back to: it is uninstalled and installed again;
/// an uninstall that never finished (ours: the first half of that recovery, killed) is finished;
/// an upgrade or rollback that never finished goes back to the last revision first.
pub fn recovery(status: &str) -> (Recovery, &'static str) {
    match status {
        "pending-install" => (
            Recovery::Uninstall,
            "an install that never finished: uninstalled, then installed again",
        ),
        "uninstalling" => (
            Recovery::Uninstall,
            "an uninstall that never finished: uninstalled, then installed again",
        ),
        _ => (
            Recovery::Rollback,
            "an upgrade that never finished: rolled back to the last revision, then upgraded",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_install_is_reinstalled_and_pending_upgrade_rolled_back() {
        assert_eq!(recovery("pending-install").0, Recovery::Uninstall);
        assert_eq!(recovery("uninstalling").0, Recovery::Uninstall);
        assert_eq!(recovery("pending-upgrade").0, Recovery::Rollback);
        assert_eq!(recovery("pending-rollback").0, Recovery::Rollback);
    }
}
