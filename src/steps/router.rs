//! The passthrough router: the kind the file names (the `core::router::Kind` interface: its release, the
//! upstream manifests it needs, its own objects), and nothing of ours left from the other kind.
//! A switch (ingress-nginx to gateway-api and back) removes the old router's routes, objects
//! and release first, only what carries our mark: both routers bind the node's 443.

use super::releases::{Ops, ReleaseStep};
use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::config::Env;
use crate::core::objects::{self, Judged};
use crate::core::ownership::{ENV_LABEL, VCLUSTER_LABEL};
use crate::core::plan::{act, chart_ref, Op};
use crate::core::release::Stored;
use crate::core::router::{
    crd_action, removals, router_for, CrdAction, ObjectRef, PinnedManifest, Removal, SeenRelease,
    KINDS,
};
use crate::drivers::kube;
use anyhow::{Context, Result};
use serde_json::Value;

/// The CRD whose bundle version tells which Gateway API release is installed.
const GATEWAY_CRD: &str = "gateways.gateway.networking.k8s.io";

pub struct Router {
    rel: ReleaseStep,
    looked: bool,
    why_not: String,
    /// Every release of ours, in every namespace (the other kind's among them).
    ours: Vec<Stored>,
    /// Live objects of every router kind's types carrying our mark.
    owned: Vec<Value>,
    /// Our router objects (GatewayClass, Gateway) with their live counterparts.
    objects: Vec<(Value, Option<Value>)>,
    /// The live Gateway API CRD, when the router needs it.
    crd: Option<Value>,
}

impl Router {
    pub fn new(env: &Env) -> Self {
        Router {
            rel: ReleaseStep::new(router_for(env).release(env)),
            looked: false,
            why_not: "not observed".into(),
            ours: Vec::new(),
            owned: Vec::new(),
            objects: Vec::new(),
            crd: None,
        }
    }

    fn seen_releases(&self) -> Vec<SeenRelease> {
        self.ours
            .iter()
            .map(|r| SeenRelease {
                name: r.name.clone(),
                namespace: r.namespace.clone(),
                chart: r.chart.clone(),
                version: r.chart_version.clone(),
                ours: true,
            })
            .collect()
    }

    /// What the switch removes: the other kind's (and stale) objects and releases of ours.
    fn removals(&self, env: &Env) -> Vec<Removal> {
        removals(env, &self.seen_releases(), &self.owned)
    }

    fn prerequisites(&self, env: &Env) -> Vec<(PinnedManifest, CrdAction)> {
        router_for(env)
            .prerequisites()
            .into_iter()
            .map(|p| {
                let a = crd_action(&p, self.crd.as_ref());
                (p, a)
            })
            .collect()
    }
}

#[async_trait::async_trait(?Send)]
impl Step for Router {
    fn id(&self) -> super::StepId {
        super::StepId::Router
    }

    fn name(&self) -> String {
        "router".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        if cx.mode == Mode::Down && cx.cluster_goes() {
            return Ok(Looked::Not("the cluster goes whole".into()));
        }
        let Some(api) = cx.api() else {
            self.why_not = "the cluster is not running yet".into();
            return Ok(Looked::Not(self.why_not.clone()));
        };
        let selector = format!("{ENV_LABEL}={}", cx.cluster());
        // Independent reads, side by side: the release, our other releases, our objects of
        // every router kind, the objects this kind wants.
        let types: Vec<_> = KINDS.iter().flat_map(|k| k.owned_types()).collect();
        let owned =
            futures::future::try_join_all(types.iter().map(|t| {
                kube::apply::list_labelled(&api.client, t.api_version, t.kind, &selector)
            }));
        let want = router_for(cx.env);
        let wanted = want.objects(cx.env);
        let (_, ours, owned, objects) = futures::future::try_join4(
            self.rel.observe(&api),
            kube::releases::labelled(&api.client, &selector),
            owned,
            kube::apply::live_objects(&api.client, &wanted),
        )
        .await?;
        self.ours = ours;
        self.owned = owned.into_iter().flatten().collect();
        self.objects = objects;
        if !want.prerequisites().is_empty() {
            let probe = serde_json::json!({"apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition", "metadata": {"name": GATEWAY_CRD}});
            self.crd = kube::apply::live_objects(&api.client, &[probe])
                .await?
                .pop()
                .and_then(|(_, live)| live);
        }
        self.looked = true;
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        let env = cx.env;
        let r = &env.router;
        let want = router_for(env);
        let detail = format!(
            "{} {}, TLS passthrough {}, node 443 on host {}",
            r.kind.as_str(),
            chart_ref(&r.chart),
            if r.passthrough { "on" } else { "off" },
            r.https_port
        );
        let mut d = Diff::default();
        if self.looked {
            for a in self.removals(env) {
                match a {
                    Removal::Delete(o) => d.actions.push(act(
                        Op::Remove,
                        format!(
                            "{}/{}",
                            o.kind.to_lowercase(),
                            o.namespace
                                .as_ref()
                                .map(|n| format!("{n}/{}", o.name))
                                .unwrap_or(o.name.clone())
                        ),
                        format!("{o}: ours, and the file no longer wants it"),
                        "the router changed, or its vcluster left the file",
                    )),
                    Removal::Uninstall { name, namespace } => d.actions.push(act(
                        Op::Remove,
                        format!("helm/{namespace}/{name}"),
                        "helm uninstall: the previous router's release, ours",
                        "the router changed",
                    )),
                }
            }
        }
        for (p, a) in self.prerequisites(env) {
            let reason = if self.looked {
                "absent or older"
            } else {
                &self.why_not
            };
            if !self.looked || a == CrdAction::Apply {
                d.actions.push(act(
                    Op::ApplyCrds,
                    "crds/gateway.networking.k8s.io",
                    format!("{} from {} (sha256 {}…)", p.what, p.url, &p.sha256[..12]),
                    reason,
                ));
            }
        }
        let rel = self.rel.diff(
            cx,
            Ops {
                install: Op::InstallRouter,
                upgrade: Op::UpgradeRouter,
            },
            detail,
            &self.why_not,
        );
        d.actions.extend(rel.actions);
        d.blockers.extend(rel.blockers);
        let objs: Vec<(Value, Option<Value>)> = if self.looked {
            self.objects.clone()
        } else {
            want.objects(env).into_iter().map(|o| (o, None)).collect()
        };
        for (o, live) in objs {
            let reason = match objects::judge(&o, live.as_ref(), cx.cluster()) {
                _ if !self.looked => self.why_not.clone(),
                Judged::Converged => continue,
                Judged::Absent => "not found".into(),
                Judged::Apply => "a field we set differs".into(),
                Judged::Conflict(h) => {
                    d.blockers.push(format!(
                        "{} exists and is {}; `up` would have to change it\n    hint: bootstrap changes only what it made: delete it, or keep router.kind as it was",
                        objects::target(&o),
                        h.describe()
                    ));
                    continue;
                }
            };
            d.actions.push(act(
                Op::ApplyObject,
                objects::target(&o),
                format!(
                    "{} for the {} router",
                    o["kind"].as_str().unwrap_or(""),
                    r.kind.as_str()
                ),
                &reason,
            ));
        }
        d
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let Some(api) = cx.api() else {
            return Ok(Vec::new());
        };
        let step = cx.progress.begin("router");
        let result: Result<Vec<String>> = async {
            let mut changes = Vec::new();
            for a in self.removals(cx.env) {
                match a {
                    Removal::Delete(o) => {
                        for d in kube::delete_manifests(&api.client, &[o.manifest()]).await? {
                            if d.changed {
                                step.note(&format!("deleted {o}"));
                                changes.push(format!("deleted {o}"));
                            }
                        }
                    }
                    Removal::Uninstall { name, namespace } => {
                        let stale = crate::core::release::Release {
                            name: name.clone(),
                            namespace: namespace.clone(),
                            chart: cx.env.router.chart.clone(),
                            values: Value::Null,
                        };
                        step.note(&format!("helm uninstall {namespace}/{name}"));
                        let helm = api.helm(cx.tool(&crate::drivers::toolchain::HELM_PIN).await?);
                        helm.uninstall(&stale).await?;
                        changes.push(format!("helm uninstall {namespace}/{name}"));
                    }
                }
            }
            for (p, a) in self.prerequisites(cx.env) {
                if a != CrdAction::Apply {
                    continue;
                }
                step.note(&format!("fetching {} ({})", p.what, p.url));
                let file = cx.file(&p).await?;
                let manifests = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let objs = kube::apply::parse_manifests(&manifests)
                    .with_context(|| format!("reading {}", file.display()))?;
                kube::apply_manifests(&api.client, &objs, cx.opts.secret_timeout).await?;
                changes.push(format!("applied {}", p.what));
            }
            changes.extend(self.rel.apply(cx, &api, &|l| step.note(l)).await?);
            let want = router_for(cx.env);
            let applied =
                kube::apply_manifests(&api.client, &want.objects(cx.env), cx.opts.secret_timeout)
                    .await?;
            changes.extend(kube::apply::changed_lines(applied));
            Ok(changes)
        }
        .await;
        super::finish(step, result)
    }

    fn files(&self, cx: &Cx<'_>) -> Vec<crate::core::router::PinnedManifest> {
        self.prerequisites(cx.env)
            .into_iter()
            .filter(|(_, a)| !self.looked || *a == CrdAction::Apply)
            .map(|(p, _)| p)
            .collect()
    }

    fn installs(&self, cx: &Cx<'_>) -> Vec<crate::core::release::Release> {
        self.rel.installs(cx)
    }

    fn tools(&self, cx: &Cx<'_>) -> Vec<&'static crate::drivers::toolchain::Pinned> {
        let mut t = self.rel.tools(cx);
        // The previous router's release goes through helm uninstall.
        if self.looked
            && self
                .removals(cx.env)
                .iter()
                .any(|a| matches!(a, Removal::Uninstall { .. }))
        {
            t.push(&crate::drivers::toolchain::HELM_PIN);
        }
        t
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        if cx.mode == Mode::Down && cx.cluster_goes() {
            return Ok(Vec::new());
        }
        let Some(api) = cx.api() else {
            return Ok(Vec::new());
        };
        let step = cx.progress.begin("router");
        let mut removed = Vec::new();
        // Our router objects (GatewayClass, Gateway) go before the release that serves them;
        // the routes are their vcluster's step's (they carry its label); the CRDs stay: they are
        // cluster-wide and may serve the user's own controllers.
        for o in self
            .owned
            .iter()
            .filter(|o| o["metadata"]["labels"].get(VCLUSTER_LABEL).is_none())
        {
            let r = ObjectRef::of(o);
            for d in kube::delete_manifests(&api.client, &[r.manifest()]).await? {
                if d.changed {
                    removed.push(format!("{r}"));
                }
            }
        }
        removed.extend(self.rel.remove(cx, &api, &|l| step.note(l)).await?);
        step.finish(&format!("{} removed", removed.len()));
        Ok(removed)
    }
}
