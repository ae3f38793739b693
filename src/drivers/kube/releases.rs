//! Helm releases read through the kube API from helm's own records (Secrets labelled
//! `owner=helm,name=<release>`, one per revision), so observing a release runs no `helm` process.
//! Decoding and judging are pure: `core::release`.
//!
//! Only the revisions that can be the latest are listed: helm labels each record with its
//! status, and marks a revision `superseded` once a newer one replaced it (helm's
//! `pkg/storage/driver/secrets.go`: `newSecretsObject` sets `status` from the record on Create
//! and on Update), so `status!=superseded` leaves out the
//! history, each revision a whole gzipped chart, that a converged `up` would download and
//! decode for nothing.

use crate::core::release::{decode_record, stored, Stored};
use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};

/// Every revision but those a newer one replaced.
const NOT_HISTORY: &str = "status!=superseded";

/// The latest revision of release `name` in `namespace`, or None when helm has no record of it.
/// One LIST call. Revisions helm marks `uninstalled` (kept with --keep-history) count as absent.
pub async fn latest(client: &kube::Client, namespace: &str, name: &str) -> Result<Option<Stored>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default().labels(&format!("owner=helm,name={name},{NOT_HISTORY}"));
    let list = api
        .list(&lp)
        .await
        .with_context(|| format!("reading helm's records of release {namespace}/{name}"))?;
    let mut best: Option<Stored> = None;
    for s in list.items {
        let Some(field) = s.data.as_ref().and_then(|d| d.get("release")) else {
            continue;
        };
        let record = decode_record(&field.0).map_err(|e| {
            anyhow::anyhow!(
                "helm record {namespace}/{}: {e}",
                s.metadata.name.clone().unwrap_or_default()
            )
        })?;
        let labels = serde_json::to_value(&s.metadata.labels).ok();
        let r = stored(&record, labels.as_ref());
        if best.as_ref().is_none_or(|b| r.revision > b.revision) {
            best = Some(r);
        }
    }
    Ok(best.filter(|r| r.status != "uninstalled"))
}

/// Every release carrying `selector` (helm copies release labels onto its records, so
/// `bootstrap/env=<cluster>` finds ours), in every namespace: the latest revision of each.
pub async fn labelled(client: &kube::Client, selector: &str) -> Result<Vec<Stored>> {
    let api: Api<Secret> = Api::all(client.clone());
    let lp = ListParams::default().labels(&format!("owner=helm,{selector},{NOT_HISTORY}"));
    let list = api
        .list(&lp)
        .await
        .with_context(|| format!("listing helm's records labelled {selector}"))?;
    let mut latest: std::collections::BTreeMap<(String, String), Stored> = Default::default();
    for s in list.items {
        let Some(field) = s.data.as_ref().and_then(|d| d.get("release")) else {
            continue;
        };
        let Ok(record) = decode_record(&field.0) else {
            continue;
        };
        let labels = serde_json::to_value(&s.metadata.labels).ok();
        let r = stored(&record, labels.as_ref());
        let key = (r.namespace.clone(), r.name.clone());
        if latest.get(&key).is_none_or(|b| r.revision > b.revision) {
            latest.insert(key, r);
        }
    }
    Ok(latest
        .into_values()
        .filter(|r| r.status != "uninstalled")
        .collect())
}
