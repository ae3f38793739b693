//! A kube client for one context of a kubeconfig file.

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

/// A client for `context` in the kubeconfig at `path`, with rustls. The file is read with our
/// reader and only the context asked for is typed (`doc::standalone_typed`).
pub async fn client_for_context(path: &Path, context: &str) -> Result<kube::Client> {
    // Through the merge, as kubectl reads one file: relative file references made absolute.
    let doc = crate::drivers::kubeconfig::store::read_merged(&crate::drivers::kubeconfig::Paths {
        files: vec![path.to_owned()],
        explicit: true,
    })?;
    let one = crate::core::kubeconfig::doc::standalone_typed(&doc, context)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    client_of(
        one,
        context,
        &format!("context `{context}` in {}", path.display()),
        None,
    )
    .await
}

/// A client for `context` of a kubeconfig already read; `named` is how errors name it, and
/// `timeout` bounds connecting and each read.
///
/// kube falls back to `HTTPS_PROXY` when the kubeconfig names no `proxy-url`, and checks
/// `NO_PROXY` against the proxy rather than the server; for a local platform that silently
/// sends loopback API traffic to a corporate proxy. So a proxy is used only when the context's
/// cluster names one.
pub async fn client_of(
    kubeconfig: Kubeconfig,
    context: &str,
    named: &str,
    timeout: Option<std::time::Duration>,
) -> Result<kube::Client> {
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
        .with_context(|| named.to_owned())?;
    if explicit_proxy.is_none() {
        config.proxy_url = None;
    }
    if let Some(t) = timeout {
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
    }
    // Building the client runs the context's exec plugin (kube's auth layer): a failure names
    // the plugin and the context. Every client of ours logs its API calls under `-v`.
    Ok(kube::client::ClientBuilder::try_from(config)
        .map_err(|e| anyhow::anyhow!("{}", super::auth::explain(context, exec.as_ref(), &e)))?
        .with_layer(&log::ApiLog {
            context: context.into(),
        })
        .build())
}

/// `-v`: each API call with its method, path, status and duration; `-vv` adds the sizes.
pub mod log {
    use futures::future::BoxFuture;
    use http::{Request, Response};
    use http_body::Body as _;
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::Instant;

    /// A tower layer around kube's HTTP service that logs every request.
    #[derive(Debug, Clone)]
    pub struct ApiLog {
        pub context: Arc<str>,
    }

    impl<S> tower::Layer<S> for ApiLog {
        type Service = ApiLogService<S>;
        fn layer(&self, inner: S) -> ApiLogService<S> {
            ApiLogService {
                inner,
                context: self.context.clone(),
            }
        }
    }

    #[derive(Debug, Clone)]
    pub struct ApiLogService<S> {
        inner: S,
        context: Arc<str>,
    }

    impl<S, B> tower::Service<Request<kube::client::Body>> for ApiLogService<S>
    where
        S: tower::Service<Request<kube::client::Body>, Response = Response<B>>,
        S::Future: Send + 'static,
        S::Error: std::fmt::Display,
        B: http_body::Body,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
            let method = req.method().clone();
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let sent = req.body().size_hint().exact();
            let context = self.context.clone();
            let started = Instant::now();
            let call = self.inner.call(req);
            Box::pin(async move {
                let result = call.await;
                let took = crate::logging::took(started.elapsed());
                match &result {
                    Ok(resp) if crate::logging::detailed() => tracing::trace!(
                        target: crate::logging::TARGET,
                        "api {context}: {method} {path} -> {} ({took}; sent {}, received {})",
                        resp.status().as_u16(),
                        crate::logging::bytes(sent),
                        crate::logging::bytes(resp.body().size_hint().exact())
                    ),
                    Ok(resp) => tracing::debug!(
                        target: crate::logging::TARGET,
                        "api {context}: {method} {path} -> {} ({took})",
                        resp.status().as_u16()
                    ),
                    Err(e) => tracing::debug!(
                        target: crate::logging::TARGET,
                        "api {context}: {method} {path} -> failed: {e} ({took})"
                    ),
                }
                result
            })
        }
    }
}
