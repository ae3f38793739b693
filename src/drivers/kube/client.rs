//! A kube client for one context of a kubeconfig file.

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

/// A client for `context` in the kubeconfig at `path`, with rustls.
///
/// kube falls back to `HTTPS_PROXY` when the kubeconfig names no `proxy-url`, and checks
/// `NO_PROXY` against the proxy rather than the server; for a local platform that silently
/// sends loopback API traffic to a corporate proxy. So a proxy is used only when the context's
/// cluster names one.
pub async fn client_for_context(path: &Path, context: &str) -> Result<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    let exec = super::auth::exec_of(&kubeconfig, context).cloned();
    let explicit_proxy = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| kubeconfig.clusters.iter().find(|cl| cl.name == c.cluster))
        .and_then(|cl| cl.cluster.as_ref())
        .and_then(|cl| cl.proxy_url.clone());
    let options = KubeConfigOptions {
        context: Some(context.to_owned()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .with_context(|| format!("context `{context}` in {}", path.display()))?;
    if explicit_proxy.is_none() {
        config.proxy_url = None;
    }
    // Building the client runs the context's exec plugin (kube's auth layer): a failure names
    // the plugin and the context.
    kube::Client::try_from(config)
        .map_err(|e| anyhow::anyhow!("{}", super::auth::explain(context, exec.as_ref(), &e)))
}
