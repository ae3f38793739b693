//! Server-side apply of objects with field manager `bootstrap`. Objects come as values, as the
//! core renders them (no YAML between rendering and the wire); `parse_manifests` is for what
//! arrives as a file (the Gateway API CRDs).
//!
//! Kinds are resolved by discovery (so CRD-defined kinds work), CRDs are applied first and
//! waited for until Established, and an object whose live state already holds every field we
//! apply is not written at all: a converged `up` makes no API writes.

use anyhow::{anyhow, bail, Context, Result};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiCapabilities, ApiResource, Scope};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const FIELD_MANAGER: &str = "bootstrap";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// False when the live object already held what we apply (no write made).
    pub changed: bool,
}

/// The change lines of what an apply wrote (`applied Kind ns/name`); unchanged objects say
/// nothing.
pub fn changed_lines(applied: Vec<Applied>) -> Vec<String> {
    applied
        .into_iter()
        .filter(|a| a.changed)
        .map(|a| match a.namespace {
            Some(ns) => format!("applied {} {ns}/{}", a.kind, a.name),
            None => format!("applied {} {}", a.kind, a.name),
        })
        .collect()
}

/// Parse a multi-document YAML manifest into objects, skipping empty documents.
pub fn parse_manifests(yaml: &str) -> Result<Vec<Value>> {
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(yaml).context("parsing manifests")?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn gvk_of(obj: &Value) -> Result<GroupVersionKind> {
    let api_version = obj["apiVersion"]
        .as_str()
        .ok_or_else(|| anyhow!("a manifest lacks apiVersion"))?;
    let kind = obj["kind"]
        .as_str()
        .ok_or_else(|| anyhow!("a manifest lacks kind"))?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Ok(GroupVersionKind::gvk(group, version, kind))
}

fn is_crd(obj: &Value) -> bool {
    obj["kind"] == "CustomResourceDefinition"
}

pub use crate::core::objects::holds;

struct Resolver<'c> {
    client: &'c kube::Client,
    cache: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
}

impl<'c> Resolver<'c> {
    fn new(client: &'c kube::Client) -> Self {
        Resolver {
            client,
            cache: HashMap::new(),
        }
    }

    async fn api(
        &mut self,
        obj: &Value,
    ) -> Result<(Api<DynamicObject>, String, Option<String>, String)> {
        let gvk = gvk_of(obj)?;
        if !self.cache.contains_key(&gvk) {
            let found = discovery::pinned_kind(self.client, &gvk)
                .await
                .with_context(|| {
                    format!("discovering {}/{} {}", gvk.group, gvk.version, gvk.kind)
                })?;
            self.cache.insert(gvk.clone(), found);
        }
        let (ar, caps) = &self.cache[&gvk];
        let name = obj["metadata"]["name"]
            .as_str()
            .ok_or_else(|| anyhow!("a {} lacks metadata.name", gvk.kind))?
            .to_owned();
        let ns = obj["metadata"]["namespace"].as_str().map(str::to_owned);
        let api = match (&caps.scope, &ns) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, ar),
            (Scope::Namespaced, None) => {
                bail!("{} `{name}` is namespaced but names no namespace", gvk.kind)
            }
            (Scope::Cluster, _) => Api::all_with(self.client.clone(), ar),
        };
        Ok((api, name, ns, gvk.kind))
    }
}

async fn apply_one(r: &mut Resolver<'_>, obj: &Value) -> Result<Applied> {
    let (api, name, namespace, kind) = r.api(obj).await?;
    let live = api.get_opt(&name).await.with_context(|| {
        format!(
            "reading {kind} {}{name}",
            namespace
                .as_ref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default()
        )
    })?;
    if let Some(live) = live {
        let live = serde_json::to_value(&live)?;
        if holds(&live, obj) {
            return Ok(Applied {
                kind,
                namespace,
                name,
                changed: false,
            });
        }
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(obj))
        .await
        .with_context(|| format!("applying {kind} {name}"))?;
    Ok(Applied {
        kind,
        namespace,
        name,
        changed: true,
    })
}

async fn wait_established(client: &kube::Client, name: &str, timeout: Duration) -> Result<()> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
    ));
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let deadline = Instant::now() + timeout;
    loop {
        let crd = api
            .get(name)
            .await
            .with_context(|| format!("reading CRD {name}"))?;
        let established = crd.data["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        if established {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "CRD {name} was not Established within {:.1}s",
                timeout.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Apply every object of `objs`: CRDs first (each waited for until Established, bounded by
/// `timeout`), then namespaces, then the rest in their order.
pub async fn apply_manifests(
    client: &kube::Client,
    objs: &[Value],
    timeout: Duration,
) -> Result<Vec<Applied>> {
    let mut r = Resolver::new(client);
    let mut out = Vec::new();
    for crd in objs.iter().filter(|o| is_crd(o)) {
        let a = apply_one(&mut r, crd).await?;
        wait_established(client, &a.name, timeout).await?;
        out.push(a);
    }
    let rank = |o: &Value| if o["kind"] == "Namespace" { 0 } else { 1 };
    let mut rest: Vec<&Value> = objs.iter().filter(|o| !is_crd(o)).collect();
    rest.sort_by_key(|o| rank(o));
    for obj in rest {
        out.push(apply_one(&mut r, obj).await?);
    }
    Ok(out)
}

/// Each of `objs` with its live counterpart (None when absent or its kind is not served), for
/// steps that judge ownership before they apply.
pub async fn live_objects(
    client: &kube::Client,
    objs: &[Value],
) -> Result<Vec<(Value, Option<Value>)>> {
    let mut r = Resolver::new(client);
    let mut out = Vec::new();
    for obj in objs.iter().cloned() {
        let live = match r.api(&obj).await {
            Ok((api, name, _, _)) => api
                .get_opt(&name)
                .await
                .with_context(|| format!("reading {} {name}", obj["kind"]))?
                .map(|l| serde_json::to_value(&l))
                .transpose()?,
            Err(_) => None,
        };
        out.push((obj, live));
    }
    Ok(out)
}

/// Every object of `api_version`/`kind` matching `selector`, in every namespace; empty when the
/// cluster does not serve that kind (a CRD not installed).
pub async fn list_labelled(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    selector: &str,
) -> Result<Vec<Value>> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let Ok((ar, _)) = discovery::pinned_kind(client, &gvk).await else {
        return Ok(Vec::new());
    };
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let list = api
        .list(&kube::api::ListParams::default().labels(selector))
        .await
        .with_context(|| format!("listing {kind} labelled {selector}"))?;
    list.items
        .into_iter()
        .map(|o| {
            let mut v = serde_json::to_value(&o)?;
            v["apiVersion"] = Value::from(api_version);
            v["kind"] = Value::from(kind);
            Ok(v)
        })
        .collect()
}

/// Delete every one of `objs` (reverse order); an absent object is fine.
pub async fn delete_manifests(client: &kube::Client, objs: &[Value]) -> Result<Vec<Applied>> {
    let mut r = Resolver::new(client);
    let mut out = Vec::new();
    for obj in objs.iter().rev() {
        let (api, name, namespace, kind) = r.api(obj).await?;
        let changed = match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => true,
            Err(kube::Error::Api(e)) if e.code == 404 => false,
            Err(e) => return Err(e).with_context(|| format!("deleting {kind} {name}")),
        };
        out.push(Applied {
            kind,
            namespace,
            name,
            changed,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_skips_empty_documents() {
        let docs = parse_manifests("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(gvk_of(&docs[1]).unwrap().kind, "Secret");
        assert_eq!(
            gvk_of(&json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress"}))
                .unwrap()
                .group,
            "networking.k8s.io"
        );
    }
}
