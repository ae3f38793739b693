//! From the facts a probe gathered to a diagnosis a person can act on. Pure: the probe shell
//! collects facts (what failed, what the server presented, where we stand), this decides what
//! they mean. Every rule here has a row in the table test below.

use serde::Serialize;

mod host_gateway;
mod http;
mod network;
mod tls;

pub use host_gateway::{is_host_gateway, Publisher};

use http::*;
use network::*;
use tls::*;

/// The layers of a context check, in the order they run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Layer {
    /// Resolving the context in the kubeconfig (before any network).
    Config,
    Dns,
    Tcp,
    Tls,
    Auth,
    Api,
}

impl Layer {
    /// Its serde name (strum derives the same from the variants).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What the environment file says is behind this context's server: the API server itself, or a
/// vcluster through the passthrough router; `Unknown` for a context the file does not declare
/// (`--context` on any kubeconfig entry). What the context dials is an `access::Dial`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Via {
    #[default]
    Unknown,
    /// The host cluster's API server.
    Api,
    /// A vcluster behind the SSL-passthrough router, selected by SNI.
    Passthrough { hostname: String, https_port: u16 },
}

/// What the context presents to the server as its identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Credential {
    #[default]
    None,
    ClientCert {
        subject: String,
    },
    Token,
    Basic,
    /// An exec plugin or auth-provider: verify runs it through kube, as kubectl would, and
    /// presents what it printed.
    Plugin {
        what: String,
    },
}

impl Credential {
    fn describe(&self) -> String {
        match self {
            Credential::None => "request without credentials".into(),
            Credential::ClientCert { subject } => format!("client certificate ({subject})"),
            Credential::Token => "bearer token".into(),
            Credential::Basic => "username and password".into(),
            Credential::Plugin { what } => format!("credentials from the {what}"),
        }
    }
}

/// The context under test and where we stand.
#[derive(Debug, Clone, Default)]
pub struct Situation {
    pub context: String,
    /// The kubeconfig cluster entry the context names.
    pub cluster: String,
    pub host: String,
    pub port: u16,
    pub tls_server_name: Option<String>,
    pub via: Via,
    pub credential: Credential,
    /// Evidence (/.dockerenv, cgroup, devcontainer variables, or --access) that we run in a container.
    pub in_container: bool,
    pub timeout_ms: u64,
    /// What Docker showed publishing this port, asked after a refusal through the host gateway;
    /// None when not asked or Docker did not answer.
    pub publishers: Option<Vec<Publisher>>,
}

impl Situation {
    /// The name the certificate is checked against and the SNI sent.
    pub fn server_name(&self) -> &str {
        self.tls_server_name.as_deref().unwrap_or(&self.host)
    }
}

/// What a presented certificate holds (parsed with x509-parser by the shell).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses of the subjectAltName extension.
    pub names: Vec<String>,
    pub not_after: String,
}

impl CertFacts {
    pub fn holds(&self, name: &str) -> bool {
        self.names.iter().any(|n| name_matches(n, name))
    }

    /// The default certificates routers answer with when nothing routes the SNI through
    /// (ingress-nginx's and Traefik's). Other routers are caught by the route rule instead: a
    /// foreign certificate on a passthrough route.
    pub fn is_router_default(&self) -> bool {
        const DEFAULTS: [&str; 2] = [
            "Kubernetes Ingress Controller Fake Certificate",
            "TRAEFIK DEFAULT CERT",
        ];
        DEFAULTS
            .iter()
            .any(|d| self.subject.contains(d) || self.issuer.contains(d))
    }
}

fn name_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == name,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    Refused,
    TimedOut,
    Unreachable,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The chain verified but the certificate does not hold the name.
    NameMismatch,
    UnknownAuthority,
    Expired,
    NotYetValid,
    BadCertificate(String),
    /// The first bytes back were not a TLS record; `answer` is their first line when printable.
    NotTls {
        answer: Option<String>,
    },
    /// The peer closed the connection during the handshake.
    Closed,
    /// The server rejected the handshake with a TLS alert.
    Alert(String),
    TimedOut,
    Other(String),
}

/// What went wrong, as facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Config {
        message: String,
    },
    Dns {
        timed_out: bool,
        message: String,
    },
    Tcp {
        kind: ConnectError,
        addr: String,
        loopback: bool,
        message: String,
    },
    Tls {
        problem: TlsProblem,
        /// Boxed: the rest of `Failure` is small, and it travels in every `Result`.
        cert: Option<Box<CertFacts>>,
        expected_ca: Option<String>,
    },
    /// An HTTP answer that is not success (auth: GET /version; api: the access review).
    Http {
        layer: Layer,
        status: u16,
        path: String,
        message: String,
    },
    /// The connection broke or timed out during the HTTP exchange.
    Transport {
        layer: Layer,
        timed_out: bool,
        message: String,
    },
    /// The access review answered allowed=false.
    Denied {
        reason: String,
    },
    /// The context's credential plugin (exec, auth-provider) failed: no request was sent.
    /// `message` names the plugin and the context, with what the plugin said.
    Plugin {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub layer: Layer,
    pub diagnosis: String,
    pub hint: String,
}

fn d(layer: Layer, diagnosis: String, hint: String) -> Diagnosis {
    Diagnosis {
        layer,
        diagnosis,
        hint,
    }
}

/// Public wildcard domains that resolve every name to 127.0.0.1; resolvers with DNS-rebinding
/// protection (some routers, Pi-hole, dnsmasq --stop-dns-rebind) drop exactly these answers.
const LOOPBACK_WILDCARDS: [&str; 5] =
    ["localtest.me", "lvh.me", "nip.io", "sslip.io", "traefik.me"];

pub fn diagnose(s: &Situation, f: &Failure) -> Diagnosis {
    match f {
        Failure::Config { message } => d(
            Layer::Config,
            format!("context `{}` cannot be used: {message}", s.context),
            "list the contexts with `kubectl config get-contexts`; `bootstrap up` writes the ones the file declares".into(),
        ),
        Failure::Dns { timed_out, message } => dns(s, *timed_out, message),
        Failure::Tcp { kind, addr, loopback, message } => tcp(s, *kind, addr, *loopback, message),
        Failure::Tls { problem, cert, expected_ca } => tls(s, problem, cert.as_deref(), expected_ca.as_deref()),
        Failure::Http { layer, status, path, message } => http(s, *layer, *status, path, message),
        Failure::Transport { layer, timed_out, message } => transport(s, *layer, *timed_out, message),
        Failure::Plugin { message } => {
            let (what, hint) = message.split_once("\n  hint: ").unwrap_or((message.as_str(), "run the plugin yourself to see why, then retry"));
            d(Layer::Auth, what.to_string(), hint.to_string())
        }
        Failure::Denied { reason } => d(
            Layer::Api,
            format!(
                "authenticated with the {}, but not allowed to list namespaces (SelfSubjectAccessReview allowed=false{})",
                s.credential.describe(),
                if reason.is_empty() { String::new() } else { format!(": {reason}") }
            ),
            "bind this user to a role that may list namespaces (for example `kubectl create clusterrolebinding <name> --clusterrole=view --user=<user>`), or use the cluster's admin context".into(),
        ),
    }
}

#[cfg(test)]
mod tests;
