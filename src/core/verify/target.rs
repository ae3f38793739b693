//! A kube context resolved into what to probe: where to dial, which name to expect, which CA to
//! trust and which credentials to present. The kubeconfig is our reader's merged document (the
//! first file to define a name wins, as in kubectl); only the context asked for is typed with
//! kube's model, so kube's auth layer can run its plugin as it would.

use super::diagnose::{Credential, Via};

use base64::Engine as _;
use kube::config::AuthInfo;
use secrecy::ExposeSecret;
use std::path::Path;

/// Everything the probe needs about one context.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub context: String,
    pub cluster: String,
    /// The server URL as the kubeconfig writes it.
    pub server: String,
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// A path prefix of the server URL (empty for a plain API server).
    pub base_path: String,
    pub tls_server_name: Option<String>,
    /// The CA bundle to trust (PEM); None: public roots.
    pub ca_pem: Option<Vec<u8>>,
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
    pub token: Option<String>,
    pub basic: Option<(String, String)>,
    pub credential: Credential,
    pub insecure: bool,
    pub proxy_url: Option<String>,
    pub via: Via,
    /// For a user whose credentials come from a plugin (exec, auth-provider): the context alone
    /// (its cluster, user, itself), for the probe to load with kube, which runs the plugin.
    pub plugin: Option<kube::config::Kubeconfig>,
    /// A client identity the plugin gave (an exec plugin printing a certificate), presented in
    /// place of `client_cert_pem`.
    pub client_auth: Option<std::sync::Arc<dyn rustls::client::ResolvesClientCert>>,
}

/// A context that could not be turned into a target; reported as a `config` layer failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TargetError {
    pub context: String,
    pub server: Option<String>,
    pub message: String,
}

pub type Resolved = Result<Target, TargetError>;

/// Reads a file the kubeconfig refers to: the caller's (`drivers::probe::resolve` reads the
/// disk), so that this stays pure.
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>;

/// Resolve `name` against the kubeconfig (the merged document of every file, as our reader
/// gives it). Only this context, its cluster and its user are typed: an entry elsewhere that
/// kube's model cannot hold fails only when it is the one asked for. File references
/// (certificate-authority, client certificates, token files) are read with `read` here, so a
/// missing file is reported as the context's `config` failure and not as a network one.
pub fn resolve_with(doc: &serde_json::Value, name: &str, via: Via, read: ReadFile) -> Resolved {
    let err = |server: Option<&str>, message: String| TargetError {
        context: name.to_string(),
        server: server.map(str::to_string),
        message,
    };
    let kc = crate::core::kubeconfig::doc::standalone_typed(doc, name)
        .map_err(|e| err(None, e.to_string()))?;
    let ctx = kc
        .contexts
        .first()
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| err(None, format!("context `{name}` is empty")))?;
    let cluster = kc
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| {
            err(
                None,
                format!("cluster `{}` of context `{name}` is empty", ctx.cluster),
            )
        })?;
    let server = cluster
        .server
        .clone()
        .ok_or_else(|| err(None, format!("cluster `{}` has no server", ctx.cluster)))?;
    let url = parse_server(&server).map_err(|m| err(Some(&server), m))?;
    let ca_pem = data_or_file(
        cluster.certificate_authority_data.as_deref(),
        cluster.certificate_authority.as_deref(),
        read,
    )
    .map_err(|m| {
        err(
            Some(&server),
            format!("certificate-authority of cluster `{}`: {m}", ctx.cluster),
        )
    })?;
    // `standalone` found the user the context names (or the context names none).
    let user = kc.auth_infos.first().and_then(|a| a.auth_info.clone());
    let plugin = user
        .as_ref()
        .is_some_and(|u| u.exec.is_some() || u.auth_provider.is_some());
    let mut target = Target {
        context: name.to_string(),
        cluster: ctx.cluster.clone(),
        server: server.clone(),
        https: url.https,
        host: url.host,
        port: url.port,
        base_path: url.path,
        tls_server_name: cluster.tls_server_name.clone().filter(|s| !s.is_empty()),
        ca_pem,
        insecure: cluster.insecure_skip_tls_verify.unwrap_or(false),
        proxy_url: cluster.proxy_url.clone().filter(|s| !s.is_empty()),
        via,
        plugin: plugin.then(|| kc.clone()),
        ..Default::default()
    };
    if let Some(u) = &user {
        present(&mut target, u, read).map_err(|m| {
            err(
                Some(&server),
                format!("user `{}`: {m}", ctx.user.clone().unwrap_or_default()),
            )
        })?;
    }
    Ok(target)
}

/// Put the user's credentials on the target, and say which one the probe presents (in the order
/// client-go prefers: a client certificate, a token, basic auth, a plugin).
fn present(t: &mut Target, a: &AuthInfo, read: ReadFile) -> Result<(), String> {
    let cert = data_or_file(
        a.client_certificate_data.as_deref(),
        a.client_certificate.as_deref(),
        read,
    )
    .map_err(|m| format!("client-certificate: {m}"))?;
    let key_data = a
        .client_key_data
        .as_ref()
        .map(|s| s.expose_secret().to_string());
    let key = data_or_file(key_data.as_deref(), a.client_key.as_deref(), read)
        .map_err(|m| format!("client-key: {m}"))?;
    if cert.is_some() != key.is_some() {
        return Err(
            "has a client certificate without its key, or a key without its certificate".into(),
        );
    }
    let token = match (&a.token, &a.token_file) {
        (Some(t), _) => Some(t.expose_secret().trim().to_string()),
        (None, Some(f)) => Some(
            read(Path::new(f))
                .and_then(|b| {
                    // What `read_to_string` says of such a file.
                    String::from_utf8(b).map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "stream did not contain valid UTF-8",
                        )
                    })
                })
                .map_err(|e| format!("token-file {f}: {e}"))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    let basic = match (&a.username, &a.password) {
        (Some(u), Some(p)) => Some((u.clone(), p.expose_secret().to_string())),
        _ => None,
    };
    let plugin = if let Some(e) = &a.exec {
        Some(format!(
            "exec plugin `{}`",
            e.command.clone().unwrap_or_default().replace("/./", "/")
        ))
    } else {
        a.auth_provider
            .as_ref()
            .map(|p| format!("auth-provider {}", p.name))
    };
    t.credential = match (&cert, &token, &basic, plugin) {
        (Some(c), ..) => Credential::ClientCert {
            subject: cert_subject(c).unwrap_or_else(|| "unreadable".into()),
        },
        (None, Some(_), ..) => Credential::Token,
        (None, None, Some(_), _) => Credential::Basic,
        (None, None, None, Some(what)) => Credential::Plugin { what },
        (None, None, None, None) => Credential::None,
    };
    t.client_cert_pem = cert;
    t.client_key_pem = key;
    t.token = token;
    t.basic = basic;
    Ok(())
}

/// Inline base64 data wins over a file reference, as in client-go.
fn data_or_file(
    data: Option<&str>,
    file: Option<&str>,
    read: ReadFile,
) -> Result<Option<Vec<u8>>, String> {
    if let Some(d) = data.filter(|d| !d.trim().is_empty()) {
        let clean: String = d.chars().filter(|c| !c.is_whitespace()).collect();
        return base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map(Some)
            .map_err(|e| format!("the inline data is not base64 ({e})"));
    }
    match file.filter(|f| !f.is_empty()) {
        Some(f) => read(Path::new(f))
            .map(Some)
            .map_err(|e| format!("{f}: {e}")),
        None => Ok(None),
    }
}

fn cert_subject(pem_or_der: &[u8]) -> Option<String> {
    let der = first_cert_der(pem_or_der)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .map(str::to_string);
    Some(cn.unwrap_or_else(|| cert.subject().to_string()))
}

#[derive(Debug, PartialEq, Eq)]
pub struct ServerUrl {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// `https://host[:port][/path]`, IPv6 literals in brackets; the port defaults by scheme.
pub fn parse_server(server: &str) -> Result<ServerUrl, String> {
    let bad = |why: &str| format!("server `{server}` {why}");
    let (scheme, rest) = server
        .split_once("://")
        .ok_or_else(|| bad("has no scheme (https://)"))?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return Err(bad("must start with https:// or http://")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
        None => (rest, String::new()),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("has an unclosed [ in its address"))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| bad("has an invalid port"))?,
        None if https => 443,
        None => 80,
    };
    Ok(ServerUrl {
        https,
        host,
        port,
        path,
    })
}

/// PEM certificates, or one DER certificate.
pub fn certs_from(bytes: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    let pem: Vec<_> = rustls_pki_types::pem::PemObject::pem_slice_iter(bytes)
        .filter_map(Result::ok)
        .collect();
    if pem.is_empty() && bytes.first() == Some(&0x30) {
        return vec![rustls_pki_types::CertificateDer::from(bytes.to_vec())];
    }
    pem
}

pub fn first_cert_der(bytes: &[u8]) -> Option<Vec<u8>> {
    certs_from(bytes).into_iter().next().map(|c| c.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolve with no file to read: every reference is missing.
    fn resolve(doc: &serde_json::Value, name: &str, via: Via) -> Resolved {
        resolve_with(doc, name, via, &|_| {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        })
    }

    #[test]
    fn server_urls() {
        let u = parse_server("https://127.0.0.1:6443").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (true, "127.0.0.1", 6443, "")
        );
        let u = parse_server("https://dev-vcluster.cnoe.localtest.me:8443/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port),
            ("dev-vcluster.cnoe.localtest.me", 8443)
        );
        let u = parse_server("https://[::1]:6443/k8s/clusters/c-1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 6443, "/k8s/clusters/c-1")
        );
        assert_eq!(parse_server("https://example.com").unwrap().port, 443);
        assert_eq!(parse_server("http://example.com").unwrap().port, 80);
        assert!(parse_server("127.0.0.1:6443")
            .unwrap_err()
            .contains("no scheme"));
        assert!(parse_server("https://h:99999")
            .unwrap_err()
            .contains("invalid port"));
    }

    const KC: &str = r#"
apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster:
    server: https://host.docker.internal:8443
    tls-server-name: dev-vcluster.cnoe.localtest.me
    certificate-authority-data: aGVsbG8=
    proxy-url: http://proxy:3128
- name: c2
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: /nonexistent/ca.crt
users:
- name: u1
  user:
    token: " abc "
- name: u2
  user:
    client-certificate-data: aGVsbG8=
contexts:
- name: dev
  context: {cluster: c1, user: u1}
- name: broken-ca
  context: {cluster: c2, user: u1}
- name: half-cert
  context: {cluster: c1, user: u2}
- name: no-cluster
  context: {cluster: nope}
- name: hand-written
  context: {user: u1}
- name: odd-types
  context: {cluster: c1, user: u1, namespace: [x]}
"#;

    #[test]
    fn resolves_server_name_ca_token_and_proxy() {
        let kc = crate::core::kubeconfig::doc::parse(KC).unwrap();
        let t = resolve(&kc, "dev", Via::Api).unwrap();
        assert_eq!(t.host, "host.docker.internal");
        assert_eq!(t.port, 8443);
        assert_eq!(
            t.tls_server_name.as_deref(),
            Some("dev-vcluster.cnoe.localtest.me")
        );
        assert_eq!(t.ca_pem.as_deref(), Some(&b"hello"[..]));
        assert_eq!(t.token.as_deref(), Some("abc"));
        assert_eq!(t.credential, Credential::Token);
        assert_eq!(t.proxy_url.as_deref(), Some("http://proxy:3128"));
        assert_eq!(t.via, Via::Api);
    }

    #[test]
    fn config_problems_name_what_is_wrong() {
        let kc = crate::core::kubeconfig::doc::parse(KC).unwrap();
        let e = resolve(&kc, "missing", Via::Unknown).unwrap_err();
        assert!(
            e.message
                .contains("context `missing` is not in the kubeconfig"),
            "{}",
            e.message
        );
        let e = resolve(&kc, "broken-ca", Via::Unknown).unwrap_err();
        assert!(e.message.contains("/nonexistent/ca.crt"), "{}", e.message);
        assert_eq!(e.server.as_deref(), Some("https://127.0.0.1:6443"));
        let e = resolve(&kc, "half-cert", Via::Unknown).unwrap_err();
        assert!(e.message.contains("without its key"), "{}", e.message);
        let e = resolve(&kc, "no-cluster", Via::Unknown).unwrap_err();
        assert!(e.message.contains("cluster `nope`"), "{}", e.message);
    }

    /// kubectl fails only the context asked for; kube's typed model would refuse the whole file
    /// for one context without `cluster:`, and every other context with it.
    #[test]
    fn an_incomplete_context_fails_only_when_it_is_the_one_asked_for() {
        let kc = crate::core::kubeconfig::doc::parse(KC).unwrap();
        assert!(
            kube::config::Kubeconfig::from_yaml(KC).is_err(),
            "kube's reader refuses it"
        );
        assert!(resolve(&kc, "dev", Via::Api).is_ok());
        let e = resolve(&kc, "hand-written", Via::Api).unwrap_err();
        assert!(e.message.contains("names no cluster"), "{}", e.message);
        let e = resolve(&kc, "odd-types", Via::Api).unwrap_err();
        assert!(
            e.message
                .starts_with("context `odd-types`: its entries do not form a kubeconfig"),
            "{}",
            e.message
        );
    }
}
