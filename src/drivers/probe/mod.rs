//! The imperative shell of verify: dial each context layer by layer (dns, tcp, tls, auth, api),
//! stop at the first failure, and hand the facts to `diagnose`. Contexts run as separate tokio
//! tasks and every layer has its own timeout, so a dead endpoint costs its timeout and nothing
//! more, and never holds up the others.

mod connect;
mod http;
mod names;
pub mod observe;
mod passthrough;
mod shared;
mod tls;

pub use crate::core::verify::target::{certs_from, first_cert_der};
use connect::*;
use http::*;
pub use names::presented_names;
pub use passthrough::{check_passthrough, PassthroughExpect};
pub use tls::cert_facts;
use tls::*;

use crate::core::verify::diagnose::{
    diagnose, CertFacts, ConnectError, Credential, Failure, Layer, Situation, TlsProblem, Via,
};
use crate::core::verify::report::{CheckStatus, ContextReport, EnvCheck, LayerReport, Report};
use crate::core::verify::target::{Resolved, Target};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::collections::HashMap;
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
                Ok(conn) => Some(crate::drivers::zone::detect(&conn).await),
                Err(_) => None,
            }
        };
        let verdict = tokio::time::timeout(Duration::from_secs(2), engine)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                crate::core::zone::classify(&crate::drivers::zone::gather(None, None))
            });
        HostFacts {
            in_container: verdict.zone == crate::core::zone::Zone::Devcontainer,
        }
    }

    /// What a zone verdict already says (a run that detected it once need not ask Docker again).
    pub fn of(verdict: &crate::core::zone::ZoneVerdict) -> Self {
        HostFacts {
            in_container: verdict.zone == crate::core::zone::Zone::Devcontainer,
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

/// Resolve context `name` of `doc`, the files it refers to (CA, client certificate and key,
/// token file) read from disk.
pub fn resolve(doc: &serde_json::Value, name: &str, via: Via) -> Resolved {
    crate::core::verify::target::resolve_with(doc, name, via, &|p| std::fs::read(p))
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
    let names: Vec<(String, String)> = targets
        .iter()
        .map(|t| match t {
            Ok(t) => (t.context.clone(), t.server.clone()),
            Err(e) => (e.context.clone(), e.server.clone().unwrap_or_default()),
        })
        .collect();
    let probed = run_groups(share_groups(targets, depth), &names, timeout, depth).await;
    diagnose_all(probed, facts, timeout).await
}

/// Contexts that would open the same connection share one (shared.rs); the router check
/// (TLS only) is about each handshake, so it never shares. Each group: the targets' places in
/// the input, and the targets.
fn share_groups(targets: Vec<Resolved>, depth: Depth) -> Vec<(Vec<usize>, Vec<Resolved>)> {
    let mut groups: Vec<(Vec<usize>, Vec<Resolved>)> = Vec::new();
    let mut by_key: HashMap<shared::ShareKey, usize> = HashMap::new();
    for (i, t) in targets.into_iter().enumerate() {
        let key = match (&t, depth) {
            (Ok(t), Depth::Full) => shared::share_key(t),
            _ => None,
        };
        let g = match key.and_then(|k| match by_key.get(&k) {
            Some(g) => Some(*g),
            None => {
                by_key.insert(k, groups.len());
                None
            }
        }) {
            Some(g) => g,
            None => {
                groups.push((Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        groups[g].0.push(i);
        groups[g].1.push(t);
    }
    groups
}

/// Probe each group in its own task; the results in the input's order (`names`: each
/// target's context and server, for a task that died).
async fn run_groups(
    groups: Vec<(Vec<usize>, Vec<Resolved>)>,
    names: &[(String, String)],
    timeout: Duration,
    depth: Depth,
) -> Vec<Probed> {
    let tasks: Vec<_> = groups
        .into_iter()
        .map(|(at, mut members)| {
            let task = if members.len() == 1 {
                let t = members.pop().expect("one member");
                tokio::spawn(async move { vec![probe_context(t, timeout, depth).await] })
            } else {
                let members: Vec<Target> = members.into_iter().flatten().collect();
                tokio::spawn(shared::probe_shared(members, timeout))
            };
            (at, task)
        })
        .collect();
    let mut slots: Vec<Option<Probed>> = (0..names.len()).map(|_| None).collect();
    for (at, task) in tasks {
        match task.await {
            Ok(done) => {
                for (i, p) in at.into_iter().zip(done) {
                    slots[i] = Some(p);
                }
            }
            Err(e) => {
                for i in at {
                    let (name, server) = names[i].clone();
                    slots[i] = Some(Probed {
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
                    });
                }
            }
        }
    }
    slots
        .into_iter()
        .map(|p| p.expect("every context was probed"))
        .collect()
}

/// Diagnose each failure, with where we stand detected only when a diagnosis depends on it.
async fn diagnose_all(
    probed: Vec<Probed>,
    facts: Option<HostFacts>,
    timeout: Duration,
) -> Vec<ContextReport> {
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
        observe::publishers(&gateway_ports, timeout).await
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
    ) && crate::core::verify::diagnose::is_host_gateway(&p.situation.host)
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
        via: t.via.clone(),
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
    let mut t = t;
    if let (Some(kc), Depth::Full) = (t.plugin.take(), depth) {
        // The context's plugin runs first, as kubectl runs it before dialing; kube runs it.
        let asked = Instant::now();
        match crate::drivers::kube::auth::plugin_credentials(kc, &t.context).await {
            Ok(creds) => {
                if let Some(token) = creds
                    .header
                    .as_deref()
                    .and_then(|h| h.strip_prefix("Bearer "))
                {
                    t.token = Some(token.to_string());
                }
                t.client_auth = creds.client_auth;
            }
            Err(message) => {
                layers.push(LayerReport {
                    shared: false,
                    name: Layer::Auth,
                    ok: false,
                    ms: ms_since(asked),
                    detail: message.lines().next().unwrap_or_default().to_string(),
                });
                return Probed {
                    name: t.context.clone(),
                    server: t.server.clone(),
                    situation: situation(&t, timeout),
                    layers,
                    failure: Some(Failure::Plugin { message }),
                    ms: ms_since(started),
                };
            }
        }
    }
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
                shared: false,
                name,
                ok: true,
                ms,
                detail,
            });
            Ok(v)
        }
        Err(f) => {
            layers.push(LayerReport {
                shared: false,
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
        Failure::Plugin { message } => message.lines().next().unwrap_or_default().to_string(),
    }
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
