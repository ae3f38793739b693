//! ArgoCD registration: one cluster Secret per vcluster in ArgoCD's namespace, labelled as ours.
//! Data is base64 (not stringData) so the live object compares field by field and a converged run
//! writes nothing. `down` deletes only Secrets carrying our mark; ArgoCD's namespace stays.

use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::argocd::{cluster_secret, server, VclusterCreds};
use crate::core::config::Env;
use crate::core::kubeconfig::doc::Credentials;
use crate::core::objects::{self, Judged};
use crate::core::ownership::{self, Holder};
use crate::core::plan::{act, Op};
use crate::drivers::kube;
use anyhow::Result;
use base64::Engine;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Pure: the Namespace (only when absent: ArgoCD's own is never relabelled) and one Secret per
/// vcluster whose credentials are known.
pub fn manifests(
    env: &Env,
    creds: &BTreeMap<String, Credentials>,
    with_namespace: bool,
) -> Vec<Value> {
    let mut out = Vec::new();
    if with_namespace {
        out.push(objects::manifest(&Namespace {
            metadata: ObjectMeta {
                name: Some(env.argocd.namespace.clone()),
                labels: Some(ownership::labels(&env.cluster.name)),
                ..Default::default()
            },
            ..Default::default()
        }));
    }
    for v in &env.vclusters {
        let Some(c) = creds.get(&v.name) else {
            continue;
        };
        let empty = Vec::new();
        let vc = VclusterCreds {
            ca_pem: &c.ca_pem,
            cert_pem: c.client_cert_pem.as_ref().unwrap_or(&empty),
            key_pem: c.client_key_pem.as_ref().unwrap_or(&empty),
        };
        let mut secret = cluster_secret(env, v, &vc);
        let data: serde_json::Map<String, Value> = secret["stringData"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, val)| {
                        let text = val.as_str().unwrap_or_default();
                        (
                            k.clone(),
                            json!(base64::engine::general_purpose::STANDARD.encode(text)),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(obj) = secret.as_object_mut() {
            obj.remove("stringData");
            obj.insert("data".into(), Value::Object(data));
        }
        out.push(secret);
    }
    out
}

/// An object of kind `K` by its name alone, for `live_objects` to find. Only for kinds whose
/// every field but metadata is optional (so nothing else is serialized), as Namespace's and
/// Secret's are.
fn probe<K>(name: &str, namespace: Option<&str>) -> Value
where
    K: k8s_openapi::Metadata<Ty = ObjectMeta> + Default + serde::Serialize,
{
    let mut obj = K::default();
    let meta = obj.metadata_mut();
    meta.name = Some(name.to_owned());
    meta.namespace = namespace.map(str::to_owned);
    objects::manifest(&obj)
}

pub struct Argocd {
    live: Vec<(Value, Option<Value>)>,
    namespace_exists: bool,
    looked: bool,
    why_not: String,
}

impl Default for Argocd {
    fn default() -> Self {
        Argocd {
            live: Vec::new(),
            namespace_exists: false,
            looked: false,
            why_not: "not observed".into(),
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Step for Argocd {
    fn id(&self) -> super::StepId {
        super::StepId::Argocd
    }

    fn name(&self) -> String {
        "argocd".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        let Some(api) = cx.api() else {
            self.why_not = "the cluster is not running yet".into();
            return Ok(Looked::Not(self.why_not.clone()));
        };
        let creds = cx.all_vcluster_creds();
        if creds.len() < cx.env.vclusters.len() && cx.mode != Mode::Down {
            self.why_not = "its vcluster is not running yet".into();
            return Ok(Looked::Not(self.why_not.clone()));
        }
        let ns = probe::<Namespace>(&cx.env.argocd.namespace, None);
        self.namespace_exists = kube::apply::live_objects(&api.client, &[ns])
            .await?
            .first()
            .is_some_and(|(_, l)| l.is_some());
        self.live =
            kube::apply::live_objects(&api.client, &manifests(cx.env, &creds, false)).await?;
        self.looked = true;
        Ok(Looked::Yes)
    }

    fn diff(&self, cx: &Cx<'_>) -> Diff {
        let env = cx.env;
        let mut d = Diff::default();
        let line = |v: &crate::core::config::Vcluster, reason: &str| {
            act(
                Op::RegisterArgocd,
                format!(
                    "secret/{}/{}",
                    env.argocd.namespace,
                    crate::core::argocd::secret_name(v)
                ),
                format!("ArgoCD cluster `{}` -> {}", v.context, server(v)),
                reason,
            )
        };
        if !self.looked {
            d.actions
                .extend(env.vclusters.iter().map(|v| line(v, &self.why_not)));
            return d;
        }
        for (want, live) in &self.live {
            let Some(v) = env
                .vclusters
                .iter()
                .find(|v| want["metadata"]["name"] == crate::core::argocd::secret_name(v).as_str())
            else {
                continue;
            };
            match objects::judge(want, live.as_ref(), cx.cluster()) {
                Judged::Converged => {}
                Judged::Absent => d.actions.push(line(v, "not found")),
                Judged::Apply => d.actions.push(line(v, "its credentials or labels differ")),
                Judged::Conflict(h) => d.blockers.push(format!(
                    "{} exists and is {}; `up` would have to change it\n    hint: bootstrap changes only what it made: delete it, or set argocd.register: false",
                    objects::target(want),
                    h.describe()
                )),
            }
        }
        d
    }

    async fn apply(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        let Some(api) = cx.api() else {
            return Ok(Vec::new());
        };
        let step = cx.progress.begin("argocd");
        let creds = cx.all_vcluster_creds();
        let objs = manifests(cx.env, &creds, !self.namespace_exists);
        let applied = kube::apply_manifests(&api.client, &objs, cx.opts.secret_timeout).await;
        let applied = match applied {
            Ok(a) => a,
            Err(e) => {
                step.fail("failed");
                return Err(e);
            }
        };
        let changes = kube::apply::changed_lines(applied);
        step.finish(&format!("{} change(s)", changes.len()));
        Ok(changes)
    }

    async fn remove(&mut self, cx: &Cx<'_>) -> Result<Vec<String>> {
        if cx.mode == Mode::Down && cx.cluster_goes() {
            return Ok(Vec::new());
        }
        let Some(api) = cx.api() else {
            return Ok(Vec::new());
        };
        let mut removed = Vec::new();
        for v in &cx.env.vclusters {
            let wanted = probe::<Secret>(
                &crate::core::argocd::secret_name(v),
                Some(&cx.env.argocd.namespace),
            );
            for (want, live) in kube::apply::live_objects(&api.client, &[wanted]).await? {
                let Some(live) = live else { continue };
                let holder = ownership::holder(live.pointer("/metadata/labels"), cx.cluster());
                if holder != Holder::Ours && !cx.opts.force {
                    eprintln!("{}", objects::left_in_place(&want, &holder.describe()));
                    continue;
                }
                for a in kube::delete_manifests(&api.client, &[want]).await? {
                    if a.changed {
                        removed.push(format!("Secret {}/{}", cx.env.argocd.namespace, a.name));
                    }
                }
            }
        }
        Ok(removed)
    }
}
