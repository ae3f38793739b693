//! Credentials a context does not hold but makes: exec plugins (`users[].user.exec`,
//! `client.authentication.k8s.io/v1`, what EKS, GKE, AKS and OIDC logins use), token files and
//! auth-providers. kube runs them as client-go does (kube-client 5.0.0, `client/auth/mod.rs`:
//! `Auth::try_from(&AuthInfo)` runs the exec plugin with `KUBERNETES_EXEC_INFO`, reads its
//! `ExecCredential`, refreshes on expiry; `config/file_config.rs` `Kubeconfig::read_from` makes a
//! relative exec command absolute against its file when it holds a path separator, as client-go's
//! `GetAuthInfoFileReferences` does). So we never run a plugin ourselves: we load the context
//! with kube and, where we need the header itself (verify's probe speaks HTTP on its own
//! connection), pass a request through kube's own auth layer and read what it set.

use kube::client::{AuthError, ConfigExt};
use kube::config::{ExecConfig, KubeConfigOptions, Kubeconfig};

/// The exec plugin of `context`'s user, if it has one.
pub fn exec_of<'a>(kc: &'a Kubeconfig, context: &str) -> Option<&'a ExecConfig> {
    let user = kc
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .user
        .clone()?;
    kc.auth_infos
        .iter()
        .find(|a| a.name == user)?
        .auth_info
        .as_ref()?
        .exec
        .as_ref()
}

/// What a failed credential plugin means, naming the context and the plugin, with its own words
/// (stderr) and the install hint it declares.
pub fn explain(context: &str, exec: Option<&ExecConfig>, err: &kube::Error) -> String {
    let auth = match err {
        kube::Error::Auth(a) => a,
        other => return format!("context `{context}`: building its client failed: {other}"),
    };
    let plugin = exec
        .and_then(|e| e.command.clone())
        .map(|c| {
            let args = exec
                .and_then(|e| e.args.clone())
                .filter(|a| !a.is_empty())
                .map(|a| format!(" {}", a.join(" ")))
                .unwrap_or_default();
            format!("exec credential plugin `{}{args}`", c.replace("/./", "/"))
        })
        .unwrap_or_else(|| "credential plugin".into());
    let api = exec
        .and_then(|e| e.api_version.clone())
        .map(|v| format!(" ({v})"))
        .unwrap_or_default();
    let hint = "run the plugin yourself to see why (often an expired login: log in again with your provider's CLI), then retry";
    match auth {
        AuthError::AuthExecRun { out, .. } => {
            let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
            format!(
                "context `{context}`: its {plugin}{api} failed ({}){}\n  hint: {hint}",
                out.status,
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                }
            )
        }
        AuthError::AuthExecStart(e) => format!(
            "context `{context}`: its {plugin}{api} could not be started: {e}\n  hint: {}",
            exec.and_then(|e| e.install_hint.clone())
                .unwrap_or_else(|| "install it, or put it on PATH".into())
        ),
        AuthError::AuthExecParse(e) => format!(
            "context `{context}`: its {plugin}{api} printed no ExecCredential ({e})\n  hint: {hint}"
        ),
        AuthError::ExecPluginFailed => format!(
            "context `{context}`: its {plugin}{api} printed an ExecCredential without a status\n  hint: {hint}"
        ),
        other => format!("context `{context}`: its credentials could not be obtained: {other}\n  hint: {hint}"),
    }
}

/// What a context's plugin gave, ready to present on verify's own connection.
#[derive(Default)]
pub struct PluginCreds {
    /// The `Authorization` header kube sends (a token from an exec plugin, a token file, an
    /// auth-provider).
    pub header: Option<String>,
    /// An exec plugin that prints a client certificate instead: kube's TLS client identity for
    /// it (kube-client 5.0.0 `client/config_ext.rs`: `rustls_client_config` presents
    /// `exec_identity_pem`), handed to our own TLS setup as a certificate resolver.
    pub client_auth: Option<std::sync::Arc<dyn rustls::client::ResolvesClientCert>>,
}

/// kube's configuration of one context (nothing runs yet: plugins run when it is used).
pub(crate) async fn config_for(kc: Kubeconfig, context: &str) -> Result<kube::Config, String> {
    let options = KubeConfigOptions {
        context: Some(context.to_owned()),
        ..Default::default()
    };
    kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| format!("context `{context}`: {e}"))
}

/// What kube would present for `context`: the plugin runs as kube runs it (a child process,
/// off the async workers).
pub async fn plugin_credentials(kc: Kubeconfig, context: &str) -> Result<PluginCreds, String> {
    let exec = exec_of(&kc, context).cloned();
    let header = authorization(kc.clone(), context).await?;
    if header.is_some() || exec.is_none() {
        return Ok(PluginCreds {
            header,
            client_auth: None,
        });
    }
    let config = config_for(kc, context).await?;
    let ctx = context.to_owned();
    let tls = tokio::task::spawn_blocking(move || config.rustls_client_config())
        .await
        .map_err(|e| format!("context `{ctx}`: the credential task failed: {e}"))?
        .map_err(|e| explain(context, exec.as_ref(), &e))?;
    Ok(PluginCreds {
        header: None,
        client_auth: tls
            .client_auth_cert_resolver
            .has_certs()
            .then(|| tls.client_auth_cert_resolver.clone()),
    })
}

/// The `Authorization` header kube would send for `context` (running its exec plugin, reading
/// its token file, asking its auth-provider), or None when the context authenticates otherwise
/// (a client certificate, or nothing). Blocking: the plugin runs as a child process.
pub async fn authorization(kc: Kubeconfig, context: &str) -> Result<Option<String>, String> {
    let exec = exec_of(&kc, context).cloned();
    let config = config_for(kc, context).await?;
    let ctx = context.to_owned();
    // kube runs the plugin synchronously while building the layer: off the async workers.
    let layer = tokio::task::spawn_blocking(move || config.auth_layer())
        .await
        .map_err(|e| format!("context `{ctx}`: the credential task failed: {e}"))?
        .map_err(|e| explain(context, exec.as_ref(), &e))?;
    let Some(layer) = layer else {
        return Ok(None);
    };
    use tower::{Layer, ServiceExt};
    type Empty = http_body_util::Empty<bytes::Bytes>;
    // tower-http's AddAuthorization wants an HTTP response back: echo the request's headers.
    let echo = tower::service_fn(|req: hyper::Request<Empty>| async move {
        let mut resp = hyper::Response::new(Empty::new());
        *resp.headers_mut() = req.headers().clone();
        Ok::<_, tower::BoxError>(resp)
    });
    // Boxed with its type spelled out: the compiler cannot otherwise prove the layered future
    // Send for every lifetime (tokio::spawn of verify's probes needs it).
    let asked: std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<hyper::Response<Empty>, tower::BoxError>>
                + Send,
        >,
    > = Box::pin(layer.layer(echo).oneshot(hyper::Request::new(Empty::new())));
    let seen = asked
        .await
        .map_err(|e| format!("context `{context}`: its credentials could not be obtained: {e}"))?;
    Ok(seen
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned))
}
