//! The local registry, whole: what the registry step of the pipeline calls. `observe` and
//! `plan` change nothing; `apply` carries out the plan (the container and each node's host file
//! through Docker, the `local-registry-hosting` ConfigMap through the API); `remove` takes away
//! what carries our mark. Run after the cluster step: the nodes, kind's network and the API
//! must exist (the containerd patch itself is in kind's config, rendered by `render::kind`).

use super::docker::{registry as docker_registry, Conn};
use crate::core::config::Env;
use crate::core::ownership::MANAGED_BY;
use crate::core::render::registry::{self as render, Action, Seen};
use anyhow::{anyhow, Context, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

/// Whose registry this is: the same owner string as our kubeconfig entries (`env/<cluster>`).
pub fn owner(env: &Env) -> String {
    format!("env/{}", env.cluster.name)
}

/// Read-only: what Docker shows of the registry and the nodes.
pub async fn observe(conn: &Conn, env: &Env) -> Result<Seen> {
    Ok(docker_registry::observe(conn, &env.registry, &env.cluster.name).await?)
}

/// Pure: the Docker actions `apply` would take, or why it refuses.
pub fn plan(env: &Env, seen: &Seen) -> Result<Vec<Action>> {
    render::diff(&env.registry, &owner(env), seen).map_err(|e| anyhow!(e))
}

/// Why `up` will not overwrite a `local-registry-hosting` ConfigMap it did not make.
pub const FOREIGN_CONFIGMAP: &str = "ConfigMap kube-public/local-registry-hosting exists and was not made by bootstrap\n    hint: it announces another registry (kind's guide or ctlptl made it); delete it (`kubectl -n kube-public delete configmap local-registry-hosting`) if that registry is gone";

fn is_foreign(cm: &ConfigMap) -> bool {
    cm.metadata
        .labels
        .as_ref()
        .and_then(|m| m.get(MANAGED_BY.0))
        .map(String::as_str)
        != Some(MANAGED_BY.1)
}

/// Read-only, for the plan: whether a `local-registry-hosting` ConfigMap someone else made is
/// in the cluster (then `up` stops before any change rather than after the container is made).
pub async fn foreign_configmap(client: &kube::Client) -> Result<bool> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), render::CONFIGMAP_NAMESPACE);
    Ok(api
        .get_opt(render::CONFIGMAP_NAME)
        .await
        .context("reading ConfigMap kube-public/local-registry-hosting")?
        .as_ref()
        .is_some_and(is_foreign))
}

/// Converge: Docker first, then the ConfigMap (unwritten when it already holds what we apply).
/// With `dry_run`, says what would change and changes nothing. One line per change.
pub async fn apply(
    conn: &Conn,
    env: &Env,
    client: Option<&kube::Client>,
    dry_run: bool,
    note: &dyn Fn(&str),
) -> Result<Vec<String>> {
    let r = &env.registry;
    if !r.enabled {
        return Ok(Vec::new());
    }
    let seen = observe(conn, env).await?;
    let actions = plan(env, &seen)?;
    let mut changes = if dry_run {
        actions
            .iter()
            .map(|a| format!("would {}", a.describe(r)))
            .collect()
    } else {
        docker_registry::apply(conn, r, &owner(env), &seen, &actions, note).await?
    };
    if let Some(client) = client {
        let want = render::configmap(r, MANAGED_BY);
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), render::CONFIGMAP_NAMESPACE);
        let live = api
            .get_opt(render::CONFIGMAP_NAME)
            .await
            .context("reading ConfigMap kube-public/local-registry-hosting")?;
        let holds = live
            .as_ref()
            .map(|l| serde_json::to_value(l).map(|v| super::kube::apply::holds(&v, &want)))
            .transpose()?
            .unwrap_or(false);
        if live.as_ref().is_some_and(is_foreign) {
            anyhow::bail!("{FOREIGN_CONFIGMAP}");
        }
        if !holds {
            if dry_run {
                changes.push("would apply ConfigMap kube-public/local-registry-hosting".into());
            } else {
                api.patch(
                    render::CONFIGMAP_NAME,
                    &PatchParams::apply(super::kube::apply::FIELD_MANAGER).force(),
                    &Patch::Apply(&want),
                )
                .await
                .context("applying ConfigMap kube-public/local-registry-hosting")?;
                changes.push("applied ConfigMap kube-public/local-registry-hosting".into());
            }
        }
    }
    Ok(changes)
}

/// Remove what `up` made: the ConfigMap when it carries our label, host files and the container
/// when they carry our mark. A shared registry is left running. `nodes_stay`: false when the
/// cluster is about to be deleted, so the nodes' host files go with them.
pub async fn remove(
    conn: &Conn,
    env: &Env,
    client: Option<&kube::Client>,
    nodes_stay: bool,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(client) = client {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), render::CONFIGMAP_NAMESPACE);
        if let Some(live) = api
            .get_opt(render::CONFIGMAP_NAME)
            .await
            .context("reading ConfigMap kube-public/local-registry-hosting")?
        {
            let ours = live
                .metadata
                .labels
                .as_ref()
                .and_then(|m| m.get(MANAGED_BY.0))
                .is_some_and(|v| v == MANAGED_BY.1);
            if ours {
                match api
                    .delete(render::CONFIGMAP_NAME, &DeleteParams::default())
                    .await
                {
                    Ok(_) => {
                        out.push("deleted ConfigMap kube-public/local-registry-hosting".into())
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => {
                        return Err(e)
                            .context("deleting ConfigMap kube-public/local-registry-hosting")
                    }
                }
            }
        }
    }
    let mut seen = observe(conn, env).await?;
    if !nodes_stay {
        seen.nodes.clear();
    }
    out.extend(docker_registry::remove(conn, &env.registry, &owner(env), &seen).await?);
    Ok(out)
}
