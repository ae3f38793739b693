//! One vcluster: its helm release, its passthrough route object (rendered by the router in use),
//! and its kubeconfig secret `vc-<release>`, whose credentials the routes step needs. The
//! vclusters of a file run side by side.

use super::releases::{Ops, ReleaseStep};
use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::config::{Env, Vcluster as Spec, VclusterAccess};
use crate::core::kubeconfig::doc::Credentials;
use crate::core::objects::{self, Judged};
use crate::core::plan::{act, chart_ref, Op};
use crate::core::release::{Release, Verdict};
use crate::core::router::router_for;
use crate::drivers::kube::{self, VclusterSecret};
use anyhow::{Context, Result};
use serde_json::Value;

pub fn vcluster_release(env: &Env, v: &Spec) -> Release {
    Release {
        name: v.release.clone(),
        namespace: v.namespace.clone(),
        chart: v.chart.clone(),
        values: crate::core::render::vcluster_values(env, v),
    }
}

pub fn creds_of(s: &VclusterSecret) -> Credentials {
    Credentials {
        // The secret's own server is the in-cluster Service; the entry's is the route's.
        server: String::new(),
        ca_pem: s.ca_pem.clone(),
        client_cert_pem: Some(s.cert_pem.clone()),
        client_key_pem: Some(s.key_pem.clone()),
        token: s.token.clone().filter(|_| s.cert_pem.is_empty()),
    }
}

pub struct Vcluster {
    name: String,
    /// Its place in `env.vclusters`: found once, not searched for in every phase.
    index: usize,
    rel: ReleaseStep,
    /// Each route object with its live counterpart, once observed.
    routes: Vec<(Value, Option<Value>)>,
    secret: Option<VclusterSecret>,
    looked: bool,
    why_not: String,
    out: Vec<super::Output>,
}

impl Vcluster {
    /// The step of `env.vclusters[index]`.
    pub fn new(env: &Env, index: usize) -> Self {
        let v = &env.vclusters[index];
        Vcluster {
            name: v.name.clone(),
            index,
            rel: ReleaseStep::new(vcluster_release(env, v)),
            routes: Vec::new(),
            secret: None,
            looked: false,
            why_not: "not observed".into(),
            out: Vec::new(),
        }
    }

    /// This vcluster's route objects (none when it is not reached through the router): its
    /// own, rendered alone, so each step's cost does not grow with the number of vclusters.
    fn route_objects(env: &Env, v: &Spec) -> Vec<Value> {
        if v.access == VclusterAccess::Ingress {
            router_for(env).vcluster_routes(env, v)
        } else {
            Vec::new()
        }
    }
}

impl Vcluster {
    fn spec<'e>(&self, env: &'e Env) -> &'e Spec {
        &env.vclusters[self.index]
    }
}

#[async_trait::async_trait(?Send)]
impl Step for Vcluster {
    fn id(&self) -> super::StepId {
        super::StepId::Vcluster
    }

    fn outputs(&mut self) -> Vec<super::Output> {
        std::mem::take(&mut self.out)
    }

    fn name(&self) -> String {
        format!("vcluster {}", self.name)
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let Some(api) = cx.api() else {
            self.why_not = "the cluster is not running yet".into();
            return Ok(Looked::Not(self.why_not.clone()));
        };
        let v = self.spec(cx.env);
        self.rel.observe(&api).await?;
        self.routes =
            kube::apply::live_objects(&api.client, &Self::route_objects(cx.env, v)).await?;
        self.secret =
            kube::read_vcluster_secret(&api.client, &v.namespace, &v.secret_name()).await?;
        if let Some(s) = &self.secret {
            self.out
                .push(super::Output::VclusterCreds(self.name.clone(), creds_of(s)));
        }
        self.looked = true;
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        let env = cx.env;
        let v = self.spec(env);
        let detail = format!(
            "vcluster `{}`, {}, extraSANs += {}",
            v.name,
            chart_ref(&v.chart),
            v.hostname
        );
        let mut d = self.rel.diff(
            cx,
            Ops {
                install: Op::InstallVcluster,
                upgrade: Op::UpgradeVcluster,
            },
            detail,
            &self.why_not,
        );
        let route_detail = format!(
            "https://{}:{} -> service {}:443 (passthrough)",
            v.hostname, env.router.https_port, v.release
        );
        if !self.looked {
            for obj in Self::route_objects(env, v) {
                d.actions.push(act(
                    Op::ApplyRoute,
                    objects::target(&obj),
                    &route_detail,
                    &self.why_not,
                ));
            }
            return d;
        }
        for (want, live) in &self.routes {
            match objects::judge(want, live.as_ref(), cx.cluster()) {
                Judged::Converged => {}
                Judged::Absent => d.actions.push(act(
                    Op::ApplyRoute,
                    objects::target(want),
                    &route_detail,
                    "not found",
                )),
                Judged::Apply => d.actions.push(act(
                    Op::ApplyRoute,
                    objects::target(want),
                    &route_detail,
                    "a field we set differs",
                )),
                Judged::Conflict(h) => d.blockers.push(format!(
                    "{} exists and is {}; `up` would have to change it\n    hint: bootstrap changes only what it made: delete it, or give the vcluster's release another name in the file",
                    objects::target(want),
                    h.describe()
                )),
            }
        }
        if self.secret.is_none() && self.rel.verdict(cx) == Verdict::Converged {
            d.actions.push(act(
                Op::WaitVcluster,
                format!("secret/{}/{}", v.namespace, v.secret_name()),
                "the vcluster's kubeconfig secret, written once it runs",
                "not there yet",
            ));
        }
        d
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let Some(api) = cx.api() else {
            return Ok(Vec::new());
        };
        let v = self.spec(cx.env).clone();
        let step = cx.progress.begin(&format!("vcluster {}", self.name));
        let result: Result<Vec<String>> = async {
            let mut changes: Vec<String> = self
                .rel
                .apply(cx, &api, &|l| step.note(l))
                .await?
                .into_iter()
                .collect();
            let routes = Self::route_objects(cx.env, &v);
            if !routes.is_empty() {
                let applied =
                    kube::apply_manifests(&api.client, &routes, cx.opts.secret_timeout).await?;
                changes.extend(kube::apply::changed_lines(applied));
            }
            let secret = kube::wait_for_vcluster_secret(
                &api.client,
                &v.namespace,
                &v.secret_name(),
                cx.opts.secret_timeout,
            )
            .await
            .with_context(|| format!("vcluster {}", v.name))?;
            self.out.push(super::Output::VclusterCreds(
                self.name.clone(),
                creds_of(&secret),
            ));
            self.secret = Some(secret);
            Ok(changes)
        }
        .await;
        super::finish(step, result)
    }

    fn tools(&self, cx: &Cx<'_>) -> Vec<&'static crate::drivers::toolchain::Pinned> {
        self.rel.tools(cx)
    }

    fn installs(&self, cx: &Cx<'_>) -> Vec<crate::core::release::Release> {
        self.rel.installs(cx)
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        if cx.mode == Mode::Down && cx.cluster_goes() {
            return Ok(Vec::new());
        }
        let Some(api) = cx.api() else {
            return Ok(Vec::new());
        };
        let v = self.spec(cx.env).clone();
        let step = cx.progress.begin(&format!("vcluster {}", self.name));
        let mut removed = Vec::new();
        for (want, live) in
            kube::apply::live_objects(&api.client, &Self::route_objects(cx.env, &v)).await?
        {
            let Some(live) = live else { continue };
            let holder =
                crate::core::ownership::holder(live.pointer("/metadata/labels"), cx.cluster());
            if holder != crate::core::ownership::Holder::Ours && !cx.opts.force {
                eprintln!("{}", objects::left_in_place(&want, &holder.describe()));
                continue;
            }
            for a in kube::delete_manifests(&api.client, std::slice::from_ref(&want)).await? {
                if a.changed {
                    removed.push(format!(
                        "{} {}/{}",
                        a.kind,
                        a.namespace.unwrap_or_default(),
                        a.name
                    ));
                }
            }
        }
        removed.extend(self.rel.remove(cx, &api, &|l| step.note(l)).await?);
        step.finish(&format!("{} removed", removed.len()));
        Ok(removed)
    }
}
