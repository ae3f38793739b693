//! Contexts that would open the same connection share one. A kubeconfig often holds many contexts
//! of one server and one user (a context per namespace, per team, per tool); each used to pay its
//! own DNS lookup, TCP connect and TLS handshake (an RSA client signature each), though the first
//! already proved that server and those credentials. Now the first of them dials, and the others
//! make their own two requests (`/version`, the authorised call) on its connection, HTTP/1.1
//! keep-alive, one after another. Each still has its own row, with the times it really paid (0
//! for the shared layers, marked `shared`).
//!
//! What decides "the same connection": the server (scheme, host, port, path), the CA trusted, the
//! name checked (tls-server-name), insecure-skip-tls-verify, the proxy, and the credentials
//! presented (client certificate and key, token, basic auth). A context whose credentials come
//! from a plugin never shares: its plugin runs for it alone.

use super::*;
use crate::core::verify::report::shared_layer;

/// Equal for two contexts exactly when they would open the same connection and present the
/// same credentials on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ShareKey {
    https: bool,
    host: String,
    port: u16,
    base_path: String,
    tls_server_name: Option<String>,
    ca_pem: Option<Vec<u8>>,
    insecure: bool,
    proxy_url: Option<String>,
    client_cert_pem: Option<Vec<u8>>,
    client_key_pem: Option<Vec<u8>>,
    token: Option<String>,
    basic: Option<(String, String)>,
}

pub(super) fn share_key(t: &Target) -> Option<ShareKey> {
    if t.plugin.is_some() || t.client_auth.is_some() {
        return None;
    }
    Some(ShareKey {
        https: t.https,
        host: t.host.to_ascii_lowercase(),
        port: t.port,
        base_path: t.base_path.clone(),
        tls_server_name: t.tls_server_name.clone(),
        ca_pem: t.ca_pem.clone(),
        insecure: t.insecure,
        proxy_url: t.proxy_url.clone(),
        client_cert_pem: t.client_cert_pem.clone(),
        client_key_pem: t.client_key_pem.clone(),
        token: t.token.clone(),
        basic: t.basic.clone(),
    })
}

/// Probe `group` (contexts with one `ShareKey`, in report order) on as few connections as the
/// server allows: one, unless it closes the connection, when the next context dials anew.
pub(super) async fn probe_shared(group: Vec<Target>, timeout: Duration) -> Vec<Probed> {
    let mut out = Vec::with_capacity(group.len());
    let mut i = 0;
    while i < group.len() {
        let leader = &group[i];
        let started = Instant::now();
        let mut layers = Vec::new();
        let connected = match connect_layers(leader, timeout, &mut layers).await {
            Ok(io) => Http::over(io, Layer::Auth).await,
            Err(f) => Err(f),
        };
        let connection_layers = layers.clone();
        let followers = |layers: &[LayerReport]| -> Vec<LayerReport> {
            layers
                .iter()
                .map(|l| shared_layer(l, &leader.context))
                .collect()
        };
        let mut http = match connected {
            Ok(http) => http,
            Err(f) => {
                // Same server, same credentials: every one of them meets the same failure.
                out.push(probed(leader, layers, Some(f.clone()), started, timeout));
                for t in &group[i + 1..] {
                    let mine = followers(&connection_layers);
                    out.push(probed(t, mine, Some(f.clone()), Instant::now(), timeout));
                }
                return out;
            }
        };
        let mut j = i;
        while j < group.len() {
            if j > i && http.is_closed() {
                // The server ended the connection after the last answer: dial again from here.
                break;
            }
            let t = &group[j];
            let (mut mine, since) = if j == i {
                (std::mem::take(&mut layers), started)
            } else {
                (followers(&connection_layers), Instant::now())
            };
            let failure = requests(t, &mut http, timeout, &mut mine).await.err();
            let failed_layer = mine.last().cloned();
            let (broke, silent) = match &failure {
                Some(Failure::Transport { timed_out, .. }) => (true, *timed_out),
                _ => (false, false),
            };
            out.push(probed(t, mine, failure.clone(), since, timeout));
            j += 1;
            if let (true, Some(f)) = (silent, failure) {
                // A server that stops answering would make each of the rest wait its own
                // timeout, one after another: they get this answer, the same server and
                // credentials, and verify stays bounded by one timeout.
                for t in &group[j..] {
                    let mut mine = followers(&connection_layers);
                    mine.extend(
                        failed_layer
                            .iter()
                            .map(|l| shared_layer(l, &group[j - 1].context)),
                    );
                    out.push(probed(t, mine, Some(f.clone()), Instant::now(), timeout));
                }
                return out;
            }
            if broke {
                break;
            }
        }
        i = j;
    }
    out
}

fn probed(
    t: &Target,
    layers: Vec<LayerReport>,
    failure: Option<Failure>,
    since: Instant,
    timeout: Duration,
) -> Probed {
    Probed {
        name: t.context.clone(),
        server: t.server.clone(),
        situation: situation(t, timeout),
        layers,
        failure,
        ms: ms_since(since),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(context: &str) -> Target {
        Target {
            context: context.into(),
            server: "https://127.0.0.1:6443".into(),
            https: true,
            host: "127.0.0.1".into(),
            port: 6443,
            ca_pem: Some(b"CA".to_vec()),
            token: Some("t".into()),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_same_server_trust_name_and_credentials_share() {
        let a = target("a");
        let mut same = target("b");
        same.cluster = "another-name".into();
        same.via = Via::Api;
        assert_eq!(
            share_key(&a),
            share_key(&same),
            "names and routes do not matter"
        );
        let mut other_host = target("c");
        other_host.host = "localhost".into();
        let mut other_ca = target("d");
        other_ca.ca_pem = Some(b"CA2".to_vec());
        let mut other_sni = target("e");
        other_sni.tls_server_name = Some("kubernetes".into());
        let mut other_token = target("f");
        other_token.token = Some("u".into());
        let mut insecure = target("g");
        insecure.insecure = true;
        for t in [&other_host, &other_ca, &other_sni, &other_token, &insecure] {
            assert_ne!(share_key(&a), share_key(t), "{}", t.context);
        }
        let mut plugin = target("h");
        plugin.plugin = Some(Default::default());
        assert_eq!(
            share_key(&plugin),
            None,
            "a plugin's credentials are its own"
        );
    }
}
