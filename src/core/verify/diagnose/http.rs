//! After TLS: what an HTTP status or a broken transport means for the auth and api layers.

#[allow(unused_imports)]
use super::*;

pub(super) fn http(
    s: &Situation,
    layer: Layer,
    status: u16,
    path: &str,
    message: &str,
) -> Diagnosis {
    let said = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    match status {
        401 => {
            let hint = match &s.credential {
                Credential::None => "the context's user has no credentials: it needs client-certificate-data and client-key-data, or a token".to_string(),
                Credential::ClientCert { .. } => "the client certificate is not trusted by this server (issued by an old CA after the cluster was recreated?): refresh the kubeconfig with `bootstrap up`".into(),
                Credential::Token => "the token has expired or was revoked: get a fresh one (for a vcluster, from its secret `vc-<release>`)".into(),
                Credential::Basic => "basic authentication is disabled on current API servers: use a client certificate or a token".into(),
                Credential::Plugin { what } => format!("the {what} gave credentials this server does not accept: log in again with your provider's CLI (or check the plugin's arguments: cluster name, region, audience)"),
            };
            d(
                layer,
                format!("credentials rejected (401 Unauthorized) on {path}: the server does not accept the {}{said}", s.credential.describe()),
                hint,
            )
        }
        403 => d(
            layer,
            format!("credentials accepted but forbidden (403 Forbidden) on {path}{said}"),
            "the user is known but lacks permission: grant it a role (RBAC), or use the cluster's admin context".into(),
        ),
        _ => d(
            layer,
            format!("{path} answered HTTP {status}{said}: this does not behave like a kube-apiserver"),
            "check that the server URL points at the API server (and its path prefix, if any)".into(),
        ),
    }
}

pub(super) fn transport(s: &Situation, layer: Layer, timed_out: bool, message: &str) -> Diagnosis {
    if let Some(diag) = client_cert_alert(s, layer, message) {
        return diag;
    }
    let closed = ["closed", "reset", "broken pipe", "eof"]
        .iter()
        .any(|w| message.to_ascii_lowercase().contains(w));
    if let (Credential::ClientCert { .. }, Layer::Auth, true) = (&s.credential, layer, closed) {
        // A TLS 1.3 server checks the client certificate after the handshake completed on our
        // side; its alert races with our request and is often lost to the reset.
        return d(
            layer,
            format!(
                "credentials rejected, most likely: the server closed the connection right after the TLS handshake without answering, which is how a TLS 1.3 server refuses a {} it does not trust ({message})",
                s.credential.describe()
            ),
            CLIENT_CERT_HINT.into(),
        );
    }
    if timed_out {
        return d(
            layer,
            format!("no answer within {} ms to the {} request", s.timeout_ms, layer.as_str()),
            "the server completed TLS but does not answer HTTP: an overloaded or stuck API server; retry with a larger --timeout".into(),
        );
    }
    d(
        layer,
        format!(
            "the connection broke during the {} request: {message}",
            layer.as_str()
        ),
        "the server closed the connection; check the API server's logs".into(),
    )
}
