//! The host cluster's API from where we stand: the first candidate route (access table, ordered
//! by our zone) that verifies with the cluster's own CA; for `provider: existing`, the user's own
//! server. It gives the later steps a kube client and helm, through a private kubeconfig: the
//! user's file is written by the kubeconfig step only.

use super::context::Api;
use super::routes::{choose, Want};
use super::{Cx, Diff, Looked, Mode, Step};
use crate::core::access::Endpoint;
use crate::core::config::Provider;
use crate::core::kubeconfig::{doc, Entry};
use crate::core::verify::diagnose::Route as VerifyRoute;
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct HostRoute;

/// A kubeconfig of our own holding just the host cluster's context, for helm and the kube client.
fn private_kubeconfig(dir: &Path, entry: &Entry) -> Result<PathBuf> {
    let mut d = doc::parse("apiVersion: v1\nkind: Config\n")?;
    doc::upsert(&mut d, std::slice::from_ref(entry), "private")?;
    doc::set_current(&mut d, &entry.context, "private")?;
    let path = dir.join("host.kubeconfig");
    std::fs::write(&path, doc::to_yaml(&d)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

async fn existing_entry(cx: &Cx<'_>) -> Result<Entry> {
    let ctx = &cx.env.cluster.context;
    let merged = crate::drivers::kubeconfig::store::read_merged(&cx.paths)?;
    let mut one = doc::standalone(&merged, ctx)?;
    doc::flatten(&mut one, &mut |p| std::fs::read(p))?;
    let view = doc::context_view(&one, ctx).ok_or_else(|| anyhow!("context `{ctx}` not found"))?;
    let c = doc::credentials(&one, ctx)?;
    Ok(Entry {
        context: ctx.clone(),
        cluster: view.cluster.clone(),
        user: view.user.clone(),
        server: c.server,
        tls_server_name: view.tls_server_name.clone(),
        ca_pem: c.ca_pem,
        client_cert_pem: c.client_cert_pem,
        client_key_pem: c.client_key_pem,
        token: c.token,
        insecure_skip_tls_verify: false,
        namespace: None,
    })
}

#[async_trait::async_trait(?Send)]
impl Step for HostRoute {
    fn name(&self) -> String {
        "host route".into()
    }

    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked> {
        if cx.mode == Mode::Down && cx.cluster_goes() {
            return Ok(Looked::Not("the cluster goes whole".into()));
        }
        let Some(creds) = cx.host_creds() else {
            return Ok(Looked::Not("the cluster is not running yet".into()));
        };
        let step = cx.progress.begin("host route");
        let entry = match cx.env.cluster.provider {
            Provider::Kind => {
                let wants = [Want {
                    context: cx.env.cluster.context.clone(),
                    endpoint: Endpoint::KindApi,
                    creds,
                    verify_route: VerifyRoute::Api,
                }];
                let here = cx.zone().and_then(|z| z.access);
                match choose(cx.env, &wants, here, cx.opts.timeout).await {
                    Ok(mut e) => e.remove(0),
                    Err(e) => {
                        step.fail("no route verified");
                        return Err(e);
                    }
                }
            }
            Provider::Existing => existing_entry(cx).await?,
        };
        step.finish(&format!(
            "{}{}",
            entry.server,
            entry
                .tls_server_name
                .as_ref()
                .map(|t| format!(" (tls-server-name {t})"))
                .unwrap_or_default()
        ));
        let scratch = tempfile::Builder::new().prefix("bootstrap-").tempdir()?;
        let kubeconfig = private_kubeconfig(scratch.path(), &entry)?;
        let client = crate::drivers::kube::client_for_context(&kubeconfig, &entry.context).await?;
        if cx.env.cluster.provider == Provider::Kind {
            if let Ok(mut entries) = cx.entries.lock() {
                entries.retain(|e| e.context != entry.context);
                entries.insert(0, entry);
            }
        }
        Cx::set(
            &cx.api,
            Some(std::sync::Arc::new(Api {
                client,
                _scratch: scratch,
                kubeconfig,
                context: cx.env.cluster.context.clone(),
            })),
        );
        Ok(Looked::Yes)
    }

    fn diff(&self, _cx: &Cx<'_>) -> Diff {
        Diff::default()
    }

    async fn apply(&mut self, _cx: &Cx<'_>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn remove(&mut self, _cx: &Cx<'_>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}
