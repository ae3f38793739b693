//! Before and at the wire: what a context asks for (proxy, TLS setup), name resolution, TCP
//! (directly or through an HTTP CONNECT proxy), then the layers in order.

#[allow(unused_imports)]
use super::*;

pub(super) struct TlsSetup {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    /// The chain the server presents, kept by `Recorder` even when verification fails.
    presented: Arc<Mutex<Vec<CertificateDer<'static>>>>,
}

/// Everything that can be checked before dialling; a failure here is the context's config.
pub(super) struct Prepared {
    tls: Option<TlsSetup>,
    expected_ca: Option<String>,
    /// Dial this proxy and CONNECT through it (never for loopback servers).
    proxy: Option<(String, u16)>,
    proxy_note: Option<String>,
}

pub(super) fn prepare(t: &Target) -> Result<Prepared, Failure> {
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
            let u = crate::core::verify::target::parse_server(p)
                .map_err(|m| cfg(format!("proxy-url: {m}")))?;
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
    let name = t.tls_server_name.clone().unwrap_or_else(|| t.host.clone());
    let server_name = ServerName::try_from(name.clone())
        .map_err(|_| cfg(format!("`{name}` is not a valid TLS server name")))?;
    let (config, presented) = match t.client_auth {
        // A plugin's client identity is its own, fetched for this context.
        Some(_) => client_config(t)?,
        None => {
            let trust = Trust {
                host: t.host.to_ascii_lowercase(),
                port: t.port,
                name,
                ca_pem: t.ca_pem.clone(),
                insecure: t.insecure,
                client_cert_pem: t.client_cert_pem.clone(),
                client_key_pem: t.client_key_pem.clone(),
            };
            config_for(trust, || client_config(t))?
        }
    };
    Ok(Prepared {
        tls: Some(TlsSetup {
            config,
            server_name,
            presented,
        }),
        expected_ca,
        proxy,
        proxy_note,
    })
}

type Presented = Arc<Mutex<Vec<CertificateDer<'static>>>>;

/// A TLS client for `t`: its CA (or the public roots), its client certificate, and a verifier that
/// records the chain presented even when verification fails.
fn client_config(t: &Target) -> Result<(Arc<rustls::ClientConfig>, Presented), Failure> {
    let cfg = |m: String| Failure::Config { message: m };
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
        _ => match &t.client_auth {
            Some(resolver) => builder.with_client_cert_resolver(resolver.clone()),
            None => builder.with_no_client_auth(),
        },
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), seen))
}

/// Everything a TLS session was established under. A session is resumed only by a connection
/// with all of it the same: resuming skips the certificate check, so a context trusting another
/// CA (or insecure, or with another client identity) must never take a session another one
/// verified; verify would then prove nothing about its own CA.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Trust {
    host: String,
    port: u16,
    name: String,
    ca_pem: Option<Vec<u8>>,
    insecure: bool,
    client_cert_pem: Option<Vec<u8>>,
    client_key_pem: Option<Vec<u8>>,
}

/// The TLS client of `trust`, one per process: the route probes of `up`, then its verify, then
/// the router check resume the sessions the server offered (TLS 1.3 tickets) instead of a full
/// handshake each (a chain check, and an RSA signature for a client certificate). rustls resumes
/// a session only with the verifier and client identity it was made with (the same `Arc`s), so
/// the whole client is kept, not just a session store.
fn config_for(
    trust: Trust,
    build: impl FnOnce() -> Result<(Arc<rustls::ClientConfig>, Presented), Failure>,
) -> Result<(Arc<rustls::ClientConfig>, Presented), Failure> {
    type Clients = HashMap<Trust, (Arc<rustls::ClientConfig>, Presented)>;
    static CLIENTS: Mutex<Option<Clients>> = Mutex::new(None);
    if let Some(found) = CLIENTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(&trust)
    {
        return Ok(found.clone());
    }
    let built = build()?;
    CLIENTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .entry(trust)
        .or_insert_with(|| built.clone());
    Ok(built)
}

/// A connection the HTTP layers can run on: TLS over TCP, or plain TCP for an http:// server.
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Every layer of one context on its own connection.
pub(super) async fn run_layers(
    t: &Target,
    timeout: Duration,
    depth: Depth,
    layers: &mut Vec<LayerReport>,
) -> Result<(), Failure> {
    let io = connect_layers(t, timeout, layers).await?;
    if depth == Depth::TlsOnly {
        return Ok(());
    }
    http_layers(t, io, timeout, layers).await
}

/// dns, tcp and tls: a connection ready for HTTP, each layer recorded.
pub(super) async fn connect_layers(
    t: &Target,
    timeout: Duration,
    layers: &mut Vec<LayerReport>,
) -> Result<Box<dyn Io>, Failure> {
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
            shared: false,
        });
        return Ok(Box::new(tap));
    };
    // The record is per client, and a client serves every connection of its trust: what an
    // earlier handshake presented must not be taken for this one's.
    if let Ok(mut s) = seen_certs.lock() {
        s.clear();
    }
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
                let resumed = match conn.handshake_kind() {
                    Some(rustls::HandshakeKind::Resumed) => " (session resumed)",
                    _ => "",
                };
                Ok((
                    stream,
                    format!("{version}{resumed}, `{subject}` {verified}"),
                ))
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
    Ok(Box::new(stream))
}

pub(super) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub(super) async fn resolve(host: &str, port: u16) -> Result<(Vec<SocketAddr>, String), Failure> {
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
pub(super) async fn connect(
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

pub(super) async fn proxy_connect(
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
