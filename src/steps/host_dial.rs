//! The host dial step (shown as "host route"): the host cluster's API from where we stand, the
//! first candidate dial (access table, ordered
//! by our zone) that verifies with the cluster's own CA; for `provider: existing`, the user's own
//! server. It gives the later steps a kube client and helm, through a private kubeconfig: the
//! user's file is written by the kubeconfig step only.

use super::context::Api;
use super::vcluster_dial::{choose, Want};
use super::{Cx, Looked, Mode, Step};
use crate::core::access::Endpoint;
use crate::core::config::Provider;
use crate::core::kubeconfig::{doc, Entry};
use crate::core::verify::diagnose::Via;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct HostDial {
    out: Vec<super::Output>,
}

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

/// The user's own context, as written: one cluster, one user, one context, read with our reader
/// (file references and a relative exec command made absolute against the file that holds
/// them, as client-go and kube do). Its
/// credential source stays as it is (exec plugin, token file, auth-provider, certificate files),
/// so kube and helm each run it the way kubectl would: we never copy out only a CA, a
/// certificate and a token. Returns the server (for progress) and the private kubeconfig.
fn existing_kubeconfig(cx: &Cx<'_>, dir: &Path) -> Result<(String, PathBuf)> {
    let ctx = &cx.env.cluster.context;
    let one = cx.host_context()??;
    let server = doc::context_view(&one, ctx)
        .and_then(|v| v.server)
        .unwrap_or_default();
    let path = dir.join("host.kubeconfig");
    std::fs::write(&path, doc::to_yaml(&one)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((server, path))
}

#[async_trait::async_trait(?Send)]
impl Step for HostDial {
    fn id(&self) -> super::StepId {
        super::StepId::HostDial
    }

    fn outputs(&mut self) -> Vec<super::Output> {
        std::mem::take(&mut self.out)
    }

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
        let scratch = tempfile::Builder::new().prefix("bootstrap-").tempdir()?;
        let (shown, kubeconfig, entry) = match cx.env.cluster.provider {
            Provider::Kind => {
                let wants = [Want {
                    context: cx.env.cluster.context.clone(),
                    endpoint: Endpoint::KindApi,
                    creds,
                    via: Via::Api,
                }];
                let zone = cx.zone();
                let entry = match choose(cx.env, &wants, zone.as_ref(), cx.opts.timeout).await {
                    Ok(c) => cx.proved(c).remove(0),
                    Err(e) => {
                        step.fail("no route verified");
                        return Err(e);
                    }
                };
                let shown = format!(
                    "{}{}",
                    entry.creds.server,
                    entry
                        .tls_server_name
                        .as_ref()
                        .map(|t| format!(" (tls-server-name {t})"))
                        .unwrap_or_default()
                );
                (
                    shown,
                    private_kubeconfig(scratch.path(), &entry)?,
                    Some(entry),
                )
            }
            Provider::Existing => {
                let _ = creds;
                let (server, path) = existing_kubeconfig(cx, scratch.path())?;
                (server, path, None)
            }
        };
        let client =
            match crate::drivers::kube::client_for_context(&kubeconfig, &cx.env.cluster.context)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    step.fail("no client");
                    return Err(e);
                }
            };
        step.finish(&shown);
        if let Some(entry) = entry {
            self.out.push(super::Output::HostEntry(entry));
        }
        self.out.push(super::Output::Api(std::sync::Arc::new(Api {
            client,
            _scratch: scratch,
            kubeconfig,
            context: cx.env.cluster.context.clone(),
        })));
        Ok(Looked::Yes)
    }
}
