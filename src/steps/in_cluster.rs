//! Everything inside the host cluster: the router, the vclusters (in parallel), their routes,
//! their kubeconfig secrets, ArgoCD registrations. Converged means no helm upgrade and no API
//! write: releases are compared by deployed chart and values, objects by their live fields.

use crate::core::argocd::{cluster_secret, VclusterCreds};
use crate::core::config::{Env, Vcluster, VclusterAccess};
use crate::core::router::router_for;
use crate::drivers::helm::{is_converged, Helm, Release};
use crate::drivers::kube::{
    apply_manifests, delete_manifests, diff_manifests, read_vcluster_secret,
    wait_for_vcluster_secret, VclusterSecret,
};
use anyhow::{Context, Result};
use base64::Engine;
use serde_json::json;
use std::time::Duration;

/// What a step reports as it goes; the shell renders it (a live line or a timestamped line).
pub type Report<'a> = &'a (dyn Fn(&str) + Sync);

pub struct Settings {
    /// helm --wait timeout for one release.
    pub helm_timeout: Duration,
    /// How long to wait for a vcluster to publish its kubeconfig secret.
    pub secret_timeout: Duration,
    /// Observe only: every change is reported as what would be done, nothing is run or written.
    pub dry_run: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            helm_timeout: Duration::from_secs(300),
            secret_timeout: Duration::from_secs(180),
            dry_run: false,
        }
    }
}

#[derive(Debug)]
pub struct Ready {
    pub vcluster: String,
    pub context: String,
    pub secret: VclusterSecret,
}

#[derive(Debug, Default)]
pub struct Outcome {
    /// One line per change made; empty when everything was converged.
    pub changes: Vec<String>,
    pub vclusters: Vec<Ready>,
}

fn qualified(namespace: &Option<String>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

pub fn vcluster_release(env: &Env, v: &Vcluster) -> Release {
    Release {
        name: v.release.clone(),
        namespace: v.namespace.clone(),
        chart: v.chart.clone(),
        values: crate::core::render::vcluster_values(env, v),
    }
}

/// Apply `yaml`, or in a dry run say what an apply would write.
async fn apply(client: &kube::Client, yaml: &str, s: &Settings) -> Result<Vec<String>> {
    let (verb, applied) = if s.dry_run {
        ("would apply", diff_manifests(client, yaml).await?)
    } else {
        (
            "applied",
            apply_manifests(client, yaml, s.secret_timeout).await?,
        )
    };
    Ok(applied
        .into_iter()
        .filter(|a| a.changed)
        .map(|a| format!("{verb} {} {}", a.kind, qualified(&a.namespace, &a.name)))
        .collect())
}

/// Install or upgrade only when the deployed release differs from what we want.
async fn ensure_release(
    helm: &Helm,
    r: &Release,
    s: &Settings,
    report: Report<'_>,
) -> Result<Option<String>> {
    let seen = helm.observe(r).await?;
    if is_converged(r, seen.listed.as_ref(), seen.values.as_ref()) {
        return Ok(None);
    }
    let verb = if seen.listed.is_some() {
        "upgrade"
    } else {
        "install"
    };
    if s.dry_run {
        return Ok(Some(format!(
            "would helm {verb} {}/{}",
            r.namespace, r.name
        )));
    }
    report(&format!("helm {verb} {}/{}", r.namespace, r.name));
    helm.upgrade(r, s.helm_timeout.as_secs())
        .await
        .with_context(|| format!("helm {verb} of {}/{}", r.namespace, r.name))?;
    Ok(Some(format!("helm {verb} {}/{}", r.namespace, r.name)))
}

async fn converge_vcluster(
    env: &Env,
    v: &Vcluster,
    client: &kube::Client,
    helm: &Helm,
    s: &Settings,
    report: Report<'_>,
) -> Result<(Vec<String>, Option<Ready>)> {
    let mut changes = Vec::new();
    changes.extend(ensure_release(helm, &vcluster_release(env, v), s, report).await?);
    if v.access == VclusterAccess::Ingress {
        changes.extend(apply(client, &router_for(env).routes(env, &v.name), s).await?);
    }
    let secret = if s.dry_run {
        // A vcluster not installed yet has no secret; its context is then written after it is.
        match read_vcluster_secret(client, &v.namespace, &v.secret_name()).await? {
            Some(secret) => secret,
            None => {
                changes.push(format!(
                    "would write context {} once the vcluster runs",
                    v.context
                ));
                return Ok((changes, None));
            }
        }
    } else {
        wait_for_vcluster_secret(client, &v.namespace, &v.secret_name(), s.secret_timeout).await?
    };
    Ok((
        changes,
        Some(Ready {
            vcluster: v.name.clone(),
            context: v.context.clone(),
            secret,
        }),
    ))
}

/// ArgoCD registrations as manifests; Secret data is base64 (not stringData) so the live
/// object can be compared field by field and a converged run writes nothing.
pub fn argocd_manifests(env: &Env, ready: &[Ready]) -> String {
    let mut out = format!(
        "---\n{}",
        crate::core::render::to_yaml(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env.argocd.namespace}})
        )
    );
    for r in ready {
        let Some(v) = env.vclusters.iter().find(|v| v.name == r.vcluster) else {
            continue;
        };
        let creds = VclusterCreds {
            ca_pem: &r.secret.ca_pem,
            cert_pem: &r.secret.cert_pem,
            key_pem: &r.secret.key_pem,
        };
        let mut secret = cluster_secret(env, v, &creds);
        let data: serde_json::Map<String, serde_json::Value> = secret["stringData"]
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
            obj.insert("data".into(), serde_json::Value::Object(data));
        }
        out.push_str(&format!("---\n{}", crate::core::render::to_yaml(&secret)));
    }
    out
}

/// Converge the router, then every vcluster in parallel, then ArgoCD registrations.
pub async fn converge(
    env: &Env,
    client: &kube::Client,
    helm: &Helm,
    s: &Settings,
    report: Report<'_>,
) -> Result<Outcome> {
    let mut out = Outcome::default();
    if env
        .vclusters
        .iter()
        .any(|v| v.access == VclusterAccess::Ingress)
    {
        out.changes
            .extend(ensure_release(helm, &router_for(env).release(env), s, report).await?);
    }
    let results = futures::future::join_all(
        env.vclusters
            .iter()
            .map(|v| converge_vcluster(env, v, client, helm, s, report)),
    )
    .await;
    let mut errors = Vec::new();
    for (v, r) in env.vclusters.iter().zip(results) {
        match r {
            Ok((changes, ready)) => {
                out.changes.extend(changes);
                out.vclusters.extend(ready);
            }
            Err(e) => errors.push(format!("vcluster {}: {e:#}", v.name)),
        }
    }
    // One vcluster failing does not stop the others; all failures are reported together.
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    if env.argocd.register {
        let manifests = argocd_manifests(env, &out.vclusters);
        out.changes.extend(apply(client, &manifests, s).await?);
    }
    Ok(out)
}

/// Remove, in reverse order, what `converge` made: registrations, routes, vclusters, router.
/// Every step tolerates what is already gone. The argocd namespace is left: it may be ArgoCD's.
pub async fn teardown(
    env: &Env,
    client: &kube::Client,
    helm: &Helm,
    report: Report<'_>,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    if env.argocd.register {
        for v in &env.vclusters {
            let secret = json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": crate::core::argocd::secret_name(v), "namespace": env.argocd.namespace}});
            for a in delete_manifests(client, &crate::core::render::to_yaml(&secret)).await? {
                if a.changed {
                    report(&format!(
                        "deleted Secret {}/{}",
                        env.argocd.namespace, a.name
                    ));
                    removed.push(format!("Secret {}/{}", env.argocd.namespace, a.name));
                }
            }
        }
    }
    let router = router_for(env);
    for v in &env.vclusters {
        for a in delete_manifests(client, &router.routes(env, &v.name)).await? {
            if a.changed {
                removed.push(format!("{} {}", a.kind, qualified(&a.namespace, &a.name)));
            }
        }
    }
    for v in &env.vclusters {
        let r = vcluster_release(env, v);
        if helm.observe(&r).await?.listed.is_some() {
            report(&format!("helm uninstall {}/{}", r.namespace, r.name));
            helm.uninstall(&r).await?;
            removed.push(format!("helm release {}/{}", r.namespace, r.name));
        }
    }
    if env
        .vclusters
        .iter()
        .any(|v| v.access == VclusterAccess::Ingress)
    {
        let r = router.release(env);
        if helm.observe(&r).await?.listed.is_some() {
            report(&format!("helm uninstall {}/{}", r.namespace, r.name));
            helm.uninstall(&r).await?;
            removed.push(format!("helm release {}/{}", r.namespace, r.name));
        }
    }
    Ok(removed)
}
