//! The imperative shell of verify: dial each context layer by layer (dns, tcp, tls, auth, api),
//! stop at the first failure, and hand the facts to `diagnose`. Contexts run as separate tokio
//! tasks and every layer has its own timeout, so a dead endpoint costs its timeout and nothing
//! more, and never holds up the others.

use super::diagnose::{
    diagnose, CertFacts, ConnectError, Credential, Failure, Layer, Route, Situation, TlsProblem,
};
use super::report::{CheckStatus, ContextReport, EnvCheck, LayerReport, Report};
use super::target::{Resolved, Target};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Where verify runs, as far as diagnoses care.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostFacts {
    /// 127.0.0.1 here is not where the cluster's ports are published: we run in a container
    /// that drives another machine's Docker engine (the zone module's `devcontainer`).
    pub in_container: bool,
}

impl HostFacts {
    /// The zone module's verdict: container markers and variables, and Docker's /info to tell a
    /// devcontainer from a container that runs its own engine (a CI VM image), where published
    /// ports are on our loopback after all.
    pub async fn detect() -> Self {
        let engine = async {
            match crate::drivers::docker::connect().await {
                Ok(conn) => Some(crate::zone::detect(&conn).await),
                Err(_) => None,
            }
        };
        let verdict = tokio::time::timeout(Duration::from_secs(2), engine)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| crate::zone::classify(&crate::zone::gather(None, None)));
        HostFacts {
            in_container: verdict.zone == crate::zone::Zone::Devcontainer,
        }
    }

    /// Where `--access` (or the file's access mode) says we stand; `auto` detects it.
    pub async fn for_access(mode: crate::core::config::AccessMode) -> Self {
        use crate::core::config::AccessMode;
        match mode {
            AccessMode::Host | AccessMode::Wsl2 => HostFacts {
                in_container: false,
            },
            AccessMode::Devcontainer | AccessMode::KindNetwork => HostFacts { in_container: true },
            AccessMode::Auto => HostFacts::detect().await,
        }
    }
}

/// Verify every target in parallel; the entry point `up` calls after converging.
pub async fn verify_contexts(targets: Vec<Resolved>, timeout: Duration) -> Report {
    Report::new(probe_all(targets, timeout, None).await, Vec::new())
}

/// As `verify_contexts`, with where we stand given (by `--access` or a test).
pub async fn verify_contexts_with(
    targets: Vec<Resolved>,
    timeout: Duration,
    facts: HostFacts,
) -> Report {
    Report::new(probe_all(targets, timeout, Some(facts)).await, Vec::new())
}

/// Probe every target in parallel, then diagnose. `facts: None` detects where we stand, and
/// only when a diagnosis depends on it (a refused loopback connection): a healthy run never
/// pays for asking Docker.
pub async fn probe_all(
    targets: Vec<Resolved>,
    timeout: Duration,
    facts: Option<HostFacts>,
) -> Vec<ContextReport> {
    probe_many(targets, timeout, facts, Depth::Full).await
}

async fn probe_many(
    targets: Vec<Resolved>,
    timeout: Duration,
    facts: Option<HostFacts>,
    depth: Depth,
) -> Vec<ContextReport> {
    let tasks: Vec<_> = targets
        .into_iter()
        .map(|t| {
            let name = match &t {
                Ok(t) => (t.context.clone(), t.server.clone()),
                Err(e) => (e.context.clone(), e.server.clone().unwrap_or_default()),
            };
            (name, tokio::spawn(probe_context(t, timeout, depth)))
        })
        .collect();
    let mut probed = Vec::with_capacity(tasks.len());
    for ((name, server), task) in tasks {
        probed.push(task.await.unwrap_or_else(|e| Probed {
            situation: Situation {
                context: name.clone(),
                ..Default::default()
            },
            name,
            server,
            layers: Vec::new(),
            failure: Some(Failure::Config {
                message: format!("the probe task failed: {e}"),
            }),
            ms: 0.0,
        }));
    }
    let needs_facts = probed.iter().any(|p| {
        matches!(
            p.failure,
            Some(Failure::Tcp {
                kind: ConnectError::Refused,
                loopback: true,
                ..
            })
        )
    });
    let facts = match facts {
        Some(f) => f,
        None if needs_facts => HostFacts::detect().await,
        None => HostFacts::default(),
    };
    // A refusal through host.docker.internal is read with what Docker publishes on that port.
    let mut gateway_ports: Vec<u16> = probed
        .iter()
        .filter(|p| refused_through_gateway(p))
        .map(|p| p.situation.port)
        .collect();
    gateway_ports.dedup();
    let published = if gateway_ports.is_empty() {
        None
    } else {
        super::observe::publishers(&gateway_ports, timeout).await
    };
    probed
        .into_iter()
        .map(|p| {
            let publishers = published
                .as_ref()
                .filter(|_| refused_through_gateway(&p))
                .map(|m| m.get(&p.situation.port).cloned().unwrap_or_default());
            let situation = Situation {
                in_container: facts.in_container,
                publishers,
                ..p.situation
            };
            let diag = p.failure.map(|f| diagnose(&situation, &f));
            ContextReport::new(p.name, p.server, p.layers, diag, p.ms)
        })
        .collect()
}

fn refused_through_gateway(p: &Probed) -> bool {
    matches!(
        p.failure,
        Some(Failure::Tcp {
            kind: ConnectError::Refused,
            loopback: false,
            ..
        })
    ) && super::gateway::is_gateway_host(&p.situation.host)
}

/// One context's layers and failure, before diagnosis.
struct Probed {
    name: String,
    server: String,
    situation: Situation,
    layers: Vec<LayerReport>,
    failure: Option<Failure>,
    ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    Full,
    /// Up to the TLS handshake: the router check needs no credentials.
    TlsOnly,
}

fn situation(t: &Target, timeout: Duration) -> Situation {
    Situation {
        context: t.context.clone(),
        cluster: t.cluster.clone(),
        host: t.host.clone(),
        port: t.port,
        tls_server_name: t.tls_server_name.clone(),
        route: t.route.clone(),
        credential: t.credential.clone(),
        in_container: false,
        timeout_ms: timeout.as_millis() as u64,
        publishers: None,
    }
}

async fn probe_context(t: Resolved, timeout: Duration, depth: Depth) -> Probed {
    let started = Instant::now();
    let t = match t {
        Ok(t) => t,
        Err(e) => {
            return Probed {
                situation: Situation {
                    context: e.context.clone(),
                    ..Default::default()
                },
                name: e.context,
                server: e.server.unwrap_or_default(),
                layers: Vec::new(),
                failure: Some(Failure::Config { message: e.message }),
                ms: 0.0,
            }
        }
    };
    let mut layers = Vec::new();
    let outcome = run_layers(&t, timeout, depth, &mut layers).await;
    Probed {
        name: t.context.clone(),
        server: t.server.clone(),
        situation: situation(&t, timeout),
        layers,
        failure: outcome.err(),
        ms: ms_since(started),
    }
}

fn ms_since(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

/// Run one layer under its own timeout and record it.
async fn step<T>(
    layers: &mut Vec<LayerReport>,
    name: Layer,
    timeout: Duration,
    on_timeout: impl FnOnce() -> Failure,
    fut: impl Future<Output = Result<(T, String), Failure>>,
) -> Result<T, Failure> {
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| Err(on_timeout()));
    let ms = ms_since(started);
    match result {
        Ok((v, detail)) => {
            layers.push(LayerReport {
                name,
                ok: true,
                ms,
                detail,
            });
            Ok(v)
        }
        Err(f) => {
            layers.push(LayerReport {
                name,
                ok: false,
                ms,
                detail: brief(&f),
            });
            Err(f)
        }
    }
}

/// One line for the layer's `detail`; the diagnosis carries the explanation.
fn brief(f: &Failure) -> String {
    match f {
        Failure::Config { message } => message.clone(),
        Failure::Dns {
            timed_out: true, ..
        } => "lookup timed out".into(),
        Failure::Dns { message, .. } => format!("lookup failed: {message}"),
        Failure::Tcp { kind, addr, .. } => match kind {
            ConnectError::Refused => format!("{addr}: connection refused"),
            ConnectError::TimedOut => format!("{addr}: connect timed out"),
            ConnectError::Unreachable => format!("{addr}: unreachable"),
            ConnectError::Other => format!("{addr}: connect failed"),
        },
        Failure::Tls { problem, cert, .. } => {
            let what = match problem {
                TlsProblem::NameMismatch => "certificate name mismatch".to_string(),
                TlsProblem::UnknownAuthority => "unknown authority".into(),
                TlsProblem::Expired => "certificate expired".into(),
                TlsProblem::NotYetValid => "certificate not yet valid".into(),
                TlsProblem::BadCertificate(w) => format!("bad certificate: {w}"),
                TlsProblem::NotTls { .. } => "not a TLS server".into(),
                TlsProblem::Closed => "closed during handshake".into(),
                TlsProblem::Alert(a) => format!("alert {a}"),
                TlsProblem::TimedOut => "handshake timed out".into(),
                TlsProblem::Other(m) => m.clone(),
            };
            match cert {
                Some(c) => format!(
                    "{what}; presented `{}` issued by `{}` [{}]",
                    c.subject,
                    c.issuer,
                    c.names.join(", ")
                ),
                None => what,
            }
        }
        Failure::Http { status, path, .. } => format!("{path}: HTTP {status}"),
        Failure::Transport {
            timed_out: true, ..
        } => "no answer (timed out)".into(),
        Failure::Transport { message, .. } => message.clone(),
        Failure::Denied { .. } => "list namespaces: allowed=false".into(),
    }
}

struct TlsSetup {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    /// The chain the server presents, kept by `Recorder` even when verification fails.
    presented: Arc<Mutex<Vec<CertificateDer<'static>>>>,
}

/// Everything that can be checked before dialling; a failure here is the context's config.
struct Prepared {
    tls: Option<TlsSetup>,
    expected_ca: Option<String>,
    /// Dial this proxy and CONNECT through it (never for loopback servers).
    proxy: Option<(String, u16)>,
    proxy_note: Option<String>,
}

fn prepare(t: &Target) -> Result<Prepared, Failure> {
    let cfg = |m: String| Failure::Config { message: m };
    let loopback = is_loopback_host(&t.host);
    let (proxy, proxy_note) = match &t.proxy_url {
        // A local tool must not send loopback traffic through a proxy: the proxy's 127.0.0.1 is
        // not ours. We never read HTTPS_PROXY either; only the kubeconfig's proxy-url counts.
        Some(p) if loopback => (
            None,
            Some(format!(
                "proxy-url {p} ignored: loopback is dialled directly"
            )),
        ),
        Some(p) => {
            let u = super::target::parse_server(p).map_err(|m| cfg(format!("proxy-url: {m}")))?;
            if u.https {
                return Err(cfg(format!(
                    "proxy-url {p}: only http:// proxies (CONNECT) are supported by verify"
                )));
            }
            (Some((u.host, u.port)), Some(format!("via proxy {p}")))
        }
        None => (None, None),
    };
    let expected_ca = t.ca_pem.as_deref().and_then(|ca| {
        certs_from(ca)
            .first()
            .and_then(|c| cert_facts(c))
            .map(|f| f.subject)
    });
    if !t.https {
        return Ok(Prepared {
            tls: None,
            expected_ca,
            proxy,
            proxy_note,
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = if t.insecure {
        None
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &t.ca_pem {
            Some(ca) => {
                let certs = certs_from(ca);
                if certs.is_empty() {
                    return Err(cfg(format!(
                        "certificate-authority of cluster `{}` holds no certificate",
                        t.cluster
                    )));
                }
                for c in certs {
                    roots.add(c).map_err(|e| {
                        cfg(format!(
                            "certificate-authority of cluster `{}`: {e}",
                            t.cluster
                        ))
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| cfg(format!("certificate-authority: {e}")))?,
        )
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let verifier = Arc::new(Recorder {
        inner,
        provider: provider.clone(),
        seen: seen.clone(),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cfg(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&t.client_cert_pem, &t.client_key_pem) {
        (Some(cert), Some(key)) => {
            let chain = certs_from(cert);
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
                cfg(format!(
                    "client-key of context `{}` is not a PEM private key ({e})",
                    t.context
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                cfg(format!(
                    "client certificate of context `{}`: {e}",
                    t.context
                ))
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = t.tls_server_name.clone().unwrap_or_else(|| t.host.clone());
    let server_name = ServerName::try_from(name.clone())
        .map_err(|_| cfg(format!("`{name}` is not a valid TLS server name")))?;
    Ok(Prepared {
        tls: Some(TlsSetup {
            config: Arc::new(config),
            server_name,
            presented: seen,
        }),
        expected_ca,
        proxy,
        proxy_note,
    })
}

async fn run_layers(
    t: &Target,
    timeout: Duration,
    depth: Depth,
    layers: &mut Vec<LayerReport>,
) -> Result<(), Failure> {
    let p = prepare(t)?;
    let (dial_host, dial_port) = p.proxy.clone().unwrap_or_else(|| (t.host.clone(), t.port));
    let host_for_dns = dial_host.clone();
    let addrs = step(
        layers,
        Layer::Dns,
        timeout,
        || Failure::Dns {
            timed_out: true,
            message: "timed out".into(),
        },
        resolve(&host_for_dns, dial_port),
    )
    .await?;
    let first = addrs[0];
    let tcp = step(
        layers,
        Layer::Tcp,
        timeout,
        || Failure::Tcp {
            kind: ConnectError::TimedOut,
            addr: first.to_string(),
            loopback: first.ip().is_loopback(),
            message: "timed out".into(),
        },
        connect(
            addrs,
            p.proxy.is_some().then(|| (t.host.clone(), t.port)),
            p.proxy_note.clone(),
        ),
    )
    .await?;
    let tap = Tap::new(tcp);
    let seen_bytes = tap.seen.clone();
    let Some(TlsSetup {
        config,
        server_name,
        presented: seen_certs,
    }) = p.tls
    else {
        layers.push(LayerReport {
            name: Layer::Tls,
            ok: true,
            ms: 0.0,
            detail: "plain http: no TLS".into(),
        });
        if depth == Depth::TlsOnly {
            return Ok(());
        }
        return http_layers(t, tap, timeout, layers).await;
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    let expected_ca = p.expected_ca.clone();
    let insecure = t.insecure;
    let tls_fail = |problem: TlsProblem| Failure::Tls {
        problem,
        cert: seen_certs
            .lock()
            .ok()
            .and_then(|s| s.first().and_then(|c| cert_facts(c)))
            .map(Box::new),
        expected_ca: expected_ca.clone(),
    };
    let handshake = async {
        match connector.connect(server_name.clone(), tap).await {
            Ok(stream) => {
                let (_, conn) = stream.get_ref();
                let version = conn
                    .protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default();
                let subject = conn
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| cert_facts(c))
                    .map(|f| f.subject)
                    .unwrap_or_default();
                let verified = if insecure {
                    "NOT verified (insecure-skip-tls-verify)".to_string()
                } else {
                    format!("verified for {}", server_name.to_str())
                };
                Ok((stream, format!("{version}, `{subject}` {verified}")))
            }
            Err(e) => {
                let bytes = seen_bytes.lock().map(|b| b.clone()).unwrap_or_default();
                Err(tls_fail(tls_problem(&e, &bytes)))
            }
        }
    };
    let stream = step(
        layers,
        Layer::Tls,
        timeout,
        || tls_fail(TlsProblem::TimedOut),
        handshake,
    )
    .await?;
    if depth == Depth::TlsOnly {
        return Ok(());
    }
    http_layers(t, stream, timeout, layers).await
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn resolve(host: &str, port: u16) -> Result<(Vec<SocketAddr>, String), Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((vec![SocketAddr::new(ip, port)], "address literal".into()));
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(found) => {
            let addrs: Vec<SocketAddr> = found.collect();
            if addrs.is_empty() {
                return Err(Failure::Dns {
                    timed_out: false,
                    message: "no addresses".into(),
                });
            }
            let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            Ok((addrs, list.join(", ")))
        }
        Err(e) => Err(Failure::Dns {
            timed_out: false,
            message: e.to_string(),
        }),
    }
}

/// Connect to each address in turn (localhost may be ::1 then 127.0.0.1); the last refusal wins.
async fn connect(
    addrs: Vec<SocketAddr>,
    tunnel_to: Option<(String, u16)>,
    note: Option<String>,
) -> Result<(TcpStream, String), Failure> {
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                let mut detail = addr.to_string();
                if let Some(n) = &note {
                    detail = format!("{detail} ({n})");
                }
                return match tunnel_to {
                    Some((host, port)) => proxy_connect(s, &host, port, addr)
                        .await
                        .map(|s| (s, detail)),
                    None => Ok((s, detail)),
                };
            }
            Err(e) => {
                let kind = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => ConnectError::Refused,
                    std::io::ErrorKind::TimedOut => ConnectError::TimedOut,
                    std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable => ConnectError::Unreachable,
                    _ => ConnectError::Other,
                };
                last = Some(Failure::Tcp {
                    kind,
                    addr: addr.to_string(),
                    loopback: addr.ip().is_loopback(),
                    message: e.to_string(),
                });
            }
        }
    }
    Err(last.unwrap_or(Failure::Tcp {
        kind: ConnectError::Other,
        addr: String::new(),
        loopback: false,
        message: "no address".into(),
    }))
}

async fn proxy_connect(
    mut s: TcpStream,
    host: &str,
    port: u16,
    proxy: &SocketAddr,
) -> Result<TcpStream, Failure> {
    let fail = |m: String| Failure::Tcp {
        kind: ConnectError::Other,
        addr: proxy.to_string(),
        loopback: false,
        message: m,
    };
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    s.write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| fail(format!("proxy: {e}")))?;
    // Read byte by byte up to the blank line, so no tunnelled byte is consumed here.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 {
            return Err(fail("proxy answered an oversized header".into()));
        }
        let b = s
            .read_u8()
            .await
            .map_err(|e| fail(format!("proxy closed the tunnel: {e}")))?;
        head.push(b);
    }
    let status_line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(fail(format!(
            "proxy refused CONNECT {authority}: {status_line}"
        )));
    }
    Ok(s)
}

/// auth (GET /version) then api (a SelfSubjectAccessReview), on the one connection.
async fn http_layers<IO>(
    t: &Target,
    io: IO,
    timeout: Duration,
    layers: &mut Vec<LayerReport>,
) -> Result<(), Failure>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let authority = if t.host.contains(':') {
        format!("[{}]:{}", t.host, t.port)
    } else {
        format!("{}:{}", t.host, t.port)
    };
    let transport = |layer: Layer| {
        move || Failure::Transport {
            layer,
            timed_out: true,
            message: String::new(),
        }
    };
    let version_path = format!("{}/version", t.base_path);
    let auth = async {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .map_err(|e| Failure::Transport {
                    layer: Layer::Auth,
                    timed_out: false,
                    message: error_chain(&e),
                })?;
        let driver = tokio::spawn(conn);
        let (status, body) = send(
            &mut sender,
            t,
            &authority,
            "GET",
            &version_path,
            None,
            Layer::Auth,
        )
        .await?;
        if status != 200 {
            driver.abort();
            return Err(Failure::Http {
                layer: Layer::Auth,
                status,
                path: version_path.clone(),
                message: status_message(&body),
            });
        }
        let Some(version) = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["gitVersion"].as_str().map(str::to_string))
        else {
            driver.abort();
            return Err(Failure::Http {
                layer: Layer::Auth,
                status,
                path: version_path.clone(),
                message: "the answer is not a version document (no gitVersion)".into(),
            });
        };
        Ok((
            (sender, driver),
            format!("{} as {}", version, who(&t.credential)),
        ))
    };
    let (mut sender, driver) =
        step(layers, Layer::Auth, timeout, transport(Layer::Auth), auth).await?;
    let review_path = format!(
        "{}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        t.base_path
    );
    let body = r#"{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","spec":{"resourceAttributes":{"verb":"list","resource":"namespaces"}}}"#;
    let api = async {
        let (status, answer) = send(
            &mut sender,
            t,
            &authority,
            "POST",
            &review_path,
            Some(body),
            Layer::Api,
        )
        .await?;
        if !(200..300).contains(&status) {
            return Err(Failure::Http {
                layer: Layer::Api,
                status,
                path: review_path.clone(),
                message: status_message(&answer),
            });
        }
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        match v["status"]["allowed"].as_bool() {
            Some(true) => Ok(((), "may list namespaces".to_string())),
            Some(false) => Err(Failure::Denied {
                reason: v["status"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            }),
            None => Err(Failure::Http {
                layer: Layer::Api,
                status,
                path: review_path.clone(),
                message: "the answer holds no status.allowed".into(),
            }),
        }
    };
    let result = step(layers, Layer::Api, timeout, transport(Layer::Api), api).await;
    driver.abort();
    result
}

fn who(c: &Credential) -> String {
    match c {
        Credential::None => "anonymous".into(),
        Credential::ClientCert { subject } => format!("client cert {subject}"),
        Credential::Token => "token".into(),
        Credential::Basic => "basic auth".into(),
        Credential::Plugin { what } => what.clone(),
    }
}

async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    t: &Target,
    authority: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    layer: Layer,
) -> Result<(u16, Bytes), Failure> {
    let broke = |e: &dyn std::error::Error| Failure::Transport {
        layer,
        timed_out: false,
        message: error_chain(e),
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority)
        .header("accept", "application/json")
        .header(
            "user-agent",
            concat!("bootstrap-verify/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(token) = &t.token {
        req = req.header("authorization", format!("Bearer {token}"));
    } else if let Some((u, p)) = &t.basic {
        use base64::Engine as _;
        req = req.header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ),
        );
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_string())))
        .map_err(|e| broke(&e))?;
    sender.ready().await.map_err(|e| broke(&e))?;
    let resp = sender.send_request(req).await.map_err(|e| broke(&e))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| broke(&e))?
        .to_bytes();
    Ok((status, bytes))
}

/// kube's errors say `client error (Connect)`; the cause is further down the source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

fn status_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Classify a failed handshake; `first_bytes` are what the server sent before it failed.
fn tls_problem(e: &std::io::Error, first_bytes: &[u8]) -> TlsProblem {
    if !first_bytes.is_empty() && !looks_like_tls(first_bytes) {
        return TlsProblem::NotTls {
            answer: first_line(first_bytes),
        };
    }
    use rustls::CertificateError as C;
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            C::NotValidForName | C::NotValidForNameContext { .. } => TlsProblem::NameMismatch,
            C::UnknownIssuer => TlsProblem::UnknownAuthority,
            C::Expired | C::ExpiredContext { .. } => TlsProblem::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => TlsProblem::NotYetValid,
            other => TlsProblem::BadCertificate(cert_error_text(other)),
        },
        Some(rustls::Error::AlertReceived(a)) => TlsProblem::Alert(format!("{a:?}")),
        Some(rustls::Error::InvalidMessage(_)) => TlsProblem::NotTls {
            answer: first_line(first_bytes),
        },
        Some(other) => TlsProblem::Other(other.to_string()),
        None => match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe => TlsProblem::Closed,
            _ => TlsProblem::Other(e.to_string()),
        },
    }
}

fn cert_error_text(e: &rustls::CertificateError) -> String {
    let raw = format!("{e:?}");
    if raw.contains("CaUsedAsEndEntity") {
        return "the server presents a CA certificate (basicConstraints CA:TRUE) as its own; a serving certificate must be a leaf".into();
    }
    if raw.contains("InvalidPurpose") {
        return "the certificate is not for server authentication (extendedKeyUsage lacks serverAuth)".into();
    }
    rustls::Error::InvalidCertificate(e.clone()).to_string()
}

/// A TLS record starts with a content type (20..=24) and major version 3.
fn looks_like_tls(b: &[u8]) -> bool {
    (0x14..=0x18).contains(&b[0]) && b.get(1).is_none_or(|v| *v == 3)
}

fn first_line(b: &[u8]) -> Option<String> {
    let line: Vec<u8> = b
        .iter()
        .take_while(|c| **c != b'\r' && **c != b'\n')
        .take(80)
        .copied()
        .collect();
    if line.is_empty() || !line.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        return None;
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}

/// PEM certificates, or one DER certificate.
fn certs_from(bytes: &[u8]) -> Vec<CertificateDer<'static>> {
    let pem: Vec<_> = CertificateDer::pem_slice_iter(bytes)
        .filter_map(Result::ok)
        .collect();
    if pem.is_empty() && bytes.first() == Some(&0x30) {
        return vec![CertificateDer::from(bytes.to_vec())];
    }
    pem
}

pub(crate) fn first_cert_der(bytes: &[u8]) -> Option<Vec<u8>> {
    certs_from(bytes).into_iter().next().map(|c| c.to_vec())
}

/// Subject, issuer and names of a certificate, for diagnoses.
pub fn cert_facts(der: &[u8]) -> Option<CertFacts> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn_or_dn = |n: &x509_parser::x509::X509Name| {
        n.iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| n.to_string())
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => names.push(IpAddr::from(<[u8; 4]>::try_from(*ip).ok()?).to_string()),
                    16 => names.push(IpAddr::from(<[u8; 16]>::try_from(*ip).ok()?).to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Some(CertFacts {
        subject: cn_or_dn(cert.subject()),
        issuer: cn_or_dn(cert.issuer()),
        names,
        not_after: cert.validity().not_after.to_string(),
    })
}

/// Wraps the server verifier to keep the presented chain, so a failed handshake can still say
/// what the server showed.
#[derive(Debug)]
struct Recorder {
    /// None: insecure-skip-tls-verify, the chain is accepted unchecked.
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.clear();
            seen.push(end_entity.clone().into_owned());
            seen.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        }
        match &self.inner {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Keeps the first bytes the server sends, so a handshake that fails on a non-TLS answer can
/// quote it (`HTTP/1.1 400 Bad Request`).
struct Tap<S> {
    inner: S,
    seen: Arc<Mutex<Vec<u8>>>,
}

const TAP_BYTES: usize = 128;

impl<S> Tap<S> {
    fn new(inner: S) -> Self {
        Tap {
            inner,
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if let Ok(mut seen) = self.seen.lock() {
                let room = TAP_BYTES.saturating_sub(seen.len());
                let new = &buf.filled()[before..];
                seen.extend_from_slice(&new[..new.len().min(room)]);
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the passthrough check expects behind the router for one vcluster.
#[derive(Debug, Clone)]
pub struct PassthroughExpect {
    pub context: String,
    pub hostname: String,
    /// The vcluster's CA (from its context); None: only the hostname is checked.
    pub ca_pem: Option<Vec<u8>>,
    /// Where the router is dialed from here: the route the context uses (`environment::
    /// router_server` chooses it), never a fixed 127.0.0.1, which inside a container is the
    /// container itself.
    pub server: String,
    pub https_port: u16,
}

/// The router, dialed as each context dials it, must answer each hostname's SNI with that
/// vcluster's own certificate (chaining to its CA, holding the hostname), not its default
/// certificate. `facts: None` detects where we stand only if a diagnosis needs it.
pub async fn check_passthrough(
    expects: Vec<PassthroughExpect>,
    timeout: Duration,
    facts: Option<HostFacts>,
) -> Vec<EnvCheck> {
    let targets = expects
        .iter()
        .map(|e| {
            let url = super::target::parse_server(&e.server).map_err(|message| {
                super::target::TargetError {
                    context: e.context.clone(),
                    server: Some(e.server.clone()),
                    message,
                }
            })?;
            Ok(Target {
                context: e.context.clone(),
                cluster: e.context.clone(),
                server: e.server.clone(),
                https: true,
                host: url.host,
                port: url.port,
                tls_server_name: Some(e.hostname.clone()),
                ca_pem: e.ca_pem.clone(),
                route: Route::Passthrough {
                    hostname: e.hostname.clone(),
                    https_port: e.https_port,
                },
                ..Default::default()
            })
        })
        .collect();
    let reports = probe_many(targets, timeout, facts, Depth::TlsOnly).await;
    expects
        .iter()
        .zip(reports)
        .map(|(e, r)| {
            let dialed = e
                .server
                .split_once("://")
                .map(|(_, rest)| rest)
                .unwrap_or(&e.server);
            let name = format!("router passthrough {} ({dialed})", e.hostname);
            if r.ok {
                EnvCheck {
                    name,
                    status: CheckStatus::Pass,
                    detail: format!(
                        "answers with the vcluster's certificate: {}",
                        r.layers
                            .last()
                            .map(|l| l.detail.as_str())
                            .unwrap_or_default()
                    ),
                    hint: None,
                }
            } else {
                EnvCheck {
                    name,
                    status: CheckStatus::Fail,
                    detail: r.diagnosis.unwrap_or_default(),
                    hint: r.hint,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_tls_answers_are_quoted() {
        let io = std::io::Error::other("x");
        assert_eq!(
            tls_problem(&io, b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n"),
            TlsProblem::NotTls {
                answer: Some("HTTP/1.1 400 Bad Request".into())
            }
        );
        assert_eq!(
            tls_problem(&io, &[0x00, 0xff, 0x10]),
            TlsProblem::NotTls { answer: None }
        );
        // a TLS alert record is TLS: classified by the error, not the bytes
        assert_eq!(
            tls_problem(&io, &[0x15, 0x03, 0x03]),
            TlsProblem::Other("x".into())
        );
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert_eq!(tls_problem(&eof, &[]), TlsProblem::Closed);
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("::1"));
        assert!(is_loopback_host("LOCALHOST"));
        assert!(!is_loopback_host("host.docker.internal"));
    }

    #[test]
    fn error_chain_names_the_cause() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other(
            "received fatal alert: BadCertificate",
        ));
        assert_eq!(
            error_chain(&e),
            "client error (Connect): received fatal alert: BadCertificate"
        );
    }
}
