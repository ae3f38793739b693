//! From the facts a probe gathered to a diagnosis a person can act on. Pure: the probe shell
//! collects facts (what failed, what the server presented, where we stand), this decides what
//! they mean. Every rule here has a row in the table test below.

use serde::Serialize;

/// The layers of a context check, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Config => "config",
            Layer::Dns => "dns",
            Layer::Tcp => "tcp",
            Layer::Tls => "tls",
            Layer::Auth => "auth",
            Layer::Api => "api",
        }
    }
}

/// How the environment file says this context is reached; `Unknown` for a context the file does
/// not declare (`--context` on any kubeconfig entry).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Route {
    #[default]
    Unknown,
    /// The host cluster's API server.
    Api,
    /// A vcluster behind the SSL-passthrough router, selected by SNI.
    Passthrough { hostname: String, https_port: u16 },
    /// A vcluster reached through `kubectl port-forward` on a local port.
    PortForward {
        local_port: u16,
        namespace: String,
        service: String,
    },
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
    /// An exec plugin or auth-provider: verify does not run them.
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
            Credential::Plugin { what } => format!("{what} credentials (not run by verify)"),
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
    pub route: Route,
    pub credential: Credential,
    /// Evidence (/.dockerenv, cgroup, devcontainer variables, or --access) that we run in a container.
    pub in_container: bool,
    pub timeout_ms: u64,
    /// What Docker showed publishing this port, asked after a refusal through the host gateway;
    /// None when not asked or Docker did not answer.
    pub publishers: Option<Vec<super::gateway::Publisher>>,
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

fn dns(s: &Situation, timed_out: bool, message: &str) -> Diagnosis {
    let host = &s.host;
    let wildcard = LOOPBACK_WILDCARDS
        .iter()
        .find(|w| host.ends_with(&format!(".{w}")) || host == *w);
    let passthrough = matches!(s.route, Route::Passthrough { .. });
    if wildcard.is_some() || passthrough {
        let domain = match wildcard {
            Some(w) => w.to_string(),
            None => host
                .split_once('.')
                .map(|(_, rest)| rest.to_string())
                .unwrap_or_else(|| host.clone()),
        };
        return d(
            Layer::Dns,
            format!(
                "{host} does not resolve ({message}): the passthrough domain relies on DNS answering 127.0.0.1 for *.{domain}, and this resolver gave no answer (offline, or a resolver that blocks private answers as DNS rebinding)"
            ),
            format!(
                "add `127.0.0.1 {host}` to /etc/hosts, or use a resolver that allows rebinding for {domain} (dnsmasq: `rebind-domain-ok=/{domain}/`); inside a devcontainer use server https://host.docker.internal:{} with tls-server-name {host}",
                match &s.route {
                    Route::Passthrough { https_port, .. } => *https_port,
                    _ => s.port,
                }
            ),
        );
    }
    if timed_out {
        return d(
            Layer::Dns,
            format!("looking up {host} timed out after {} ms", s.timeout_ms),
            "check the resolver in /etc/resolv.conf answers (or raise --timeout)".into(),
        );
    }
    d(
        Layer::Dns,
        format!("{host} does not resolve ({message})"),
        format!(
            "check the server name in cluster `{}` of the kubeconfig, or add it to /etc/hosts",
            s.cluster
        ),
    )
}

fn tcp(s: &Situation, kind: ConnectError, addr: &str, loopback: bool, message: &str) -> Diagnosis {
    match kind {
        ConnectError::Refused => {
            if let Route::PortForward { local_port, namespace, service } = &s.route {
                if loopback && *local_port == s.port {
                    return d(
                        Layer::Tcp,
                        format!(
                            "nothing listens on {addr}: the port-forward for this vcluster is not running"
                        ),
                        format!(
                            "start it: `kubectl --context <host-context> -n {namespace} port-forward svc/{service} {local_port}:443` (or rerun `bootstrap up`), and keep it running"
                        ),
                    );
                }
            }
            if loopback && s.in_container {
                return localhost_trap(s, addr);
            }
            if let (false, Some(publishers)) = (loopback, &s.publishers) {
                if super::gateway::is_gateway_host(&s.host) {
                    return super::gateway::refused(s, addr, publishers);
                }
            }
            let hint = match &s.route {
                Route::Passthrough { https_port, .. } => format!(
                    "is the cluster up, with the router's https port published? kind must map host port {https_port} to the node's 443 (extraPortMappings); `bootstrap status` shows it"
                ),
                Route::Api => "is the cluster up? `docker ps` should show its control-plane container publishing this port; `bootstrap up` starts it".into(),
                _ => "check the port in the server URL and that the cluster is up (`bootstrap status`)".into(),
            };
            d(Layer::Tcp, format!("connection to {addr} refused: nothing listens on that port"), hint)
        }
        ConnectError::TimedOut => d(
            Layer::Tcp,
            format!(
                "connection to {addr} timed out after {} ms: nothing answered (not even a refusal), so packets are dropped on the way",
                s.timeout_ms
            ),
            "the address is unreachable from here: a firewall, a wrong IP, a host or VM that is asleep or gone; a refused connection would mean the host is there with nothing on the port".into(),
        ),
        ConnectError::Unreachable => d(
            Layer::Tcp,
            format!("no route to {addr} ({message})"),
            "this address is not reachable from where you stand; check the network (VPN, Docker network) and the server address".into(),
        ),
        ConnectError::Other => d(
            Layer::Tcp,
            format!("connecting to {addr} failed: {message}"),
            "check the server address in the kubeconfig".into(),
        ),
    }
}

fn localhost_trap(s: &Situation, addr: &str) -> Diagnosis {
    let (port, name) = match &s.route {
        Route::Passthrough {
            hostname,
            https_port,
        } => (*https_port, hostname.clone()),
        _ => {
            let name = match &s.tls_server_name {
                Some(n) => n.clone(),
                None if s.host.parse::<std::net::IpAddr>().is_ok() => "localhost".to_string(),
                None => s.host.clone(),
            };
            (s.port, name)
        }
    };
    let mut hint = format!(
        "use the devcontainer route: server https://host.docker.internal:{port} with tls-server-name: {name} (`bootstrap up --access devcontainer` writes it; on a Linux engine start the container with --add-host host.docker.internal:host-gateway)"
    );
    if !matches!(s.route, Route::Passthrough { .. }) {
        hint.push_str(
            "; on a Linux Docker engine a port published on 127.0.0.1 (kind's API) is not reachable that way: join the `kind` network or publish the API on 0.0.0.0",
        );
    }
    d(
        Layer::Tcp,
        format!(
            "connection to {addr} refused, and this runs inside a container: 127.0.0.1 is the container itself, not the host where the cluster's port is published (the localhost trap)"
        ),
        hint,
    )
}

fn tls(
    s: &Situation,
    problem: &TlsProblem,
    cert: Option<&CertFacts>,
    expected_ca: Option<&str>,
) -> Diagnosis {
    let sni = s.server_name();
    let presented = |c: &CertFacts| {
        format!(
            "`{}` issued by `{}`, names [{}]",
            c.subject,
            c.issuer,
            c.names.join(", ")
        )
    };
    if let Some(c) = cert {
        let via_router = matches!(s.route, Route::Passthrough { .. });
        let foreign = matches!(
            problem,
            TlsProblem::UnknownAuthority | TlsProblem::NameMismatch
        ) && !c.holds(sni);
        if c.is_router_default()
            || (via_router && foreign && matches!(problem, TlsProblem::UnknownAuthority))
        {
            return d(
                Layer::Tls,
                format!(
                    "passthrough is not working: the router on {}:{} answered for {sni} with its own certificate ({}) instead of passing the connection through to the vcluster",
                    s.host,
                    s.port,
                    presented(c)
                ),
                format!(
                    "enable SSL passthrough: ingress-nginx needs the controller flag --enable-ssl-passthrough and an Ingress for host {sni} annotated nginx.ingress.kubernetes.io/ssl-passthrough: \"true\"; with Gateway API, a TLS listener with mode Passthrough and a TLSRoute for {sni}"
                ),
            );
        }
    }
    match problem {
        TlsProblem::NameMismatch => {
            let names = cert.map(|c| c.names.clone()).unwrap_or_default();
            let hint = match &s.route {
                Route::Passthrough { hostname, .. } => format!(
                    "the router selects the vcluster by this name, so keep it: add {hostname} to the vcluster's certificate (chart value controlPlane.proxy.extraSANs) and let it reissue"
                ),
                _ => match suggest_name(&names) {
                    Some(n) => format!(
                        "set tls-server-name: {n} on cluster `{}` (`kubectl config set clusters.{}.tls-server-name {n}`), which the certificate holds",
                        s.cluster, s.cluster
                    ),
                    None => "the certificate holds no usable name; reissue it with the server's name".into(),
                },
            };
            d(
                Layer::Tls,
                format!(
                    "certificate name mismatch: the certificate is not valid for {sni}; it holds [{}]",
                    names.join(", ")
                ),
                hint,
            )
        }
        TlsProblem::UnknownAuthority => {
            let seen = cert.map(|c| format!("{} (issued by `{}`)", presented(c), c.issuer)).unwrap_or_else(|| "a certificate".into());
            let (expected, hint) = match expected_ca {
                Some(ca) => (
                    format!("the context trusts only `{ca}`"),
                    "the cluster was probably recreated and the kubeconfig still holds the old CA: rerun `bootstrap up` (or `kind export kubeconfig`) to refresh certificate-authority-data; otherwise this address reaches a different server".to_string(),
                ),
                None => (
                    "the context has no certificate-authority, so only public roots are trusted".into(),
                    "add the cluster's CA as certificate-authority-data (`bootstrap up` writes it)".into(),
                ),
            };
            d(
                Layer::Tls,
                format!("unknown authority: the server presented {seen}, which does not chain to the expected CA; {expected}"),
                hint,
            )
        }
        TlsProblem::Expired | TlsProblem::NotYetValid => {
            let when = cert.map(|c| format!(" (not after {})", c.not_after)).unwrap_or_default();
            let what = if matches!(problem, TlsProblem::Expired) { "has expired" } else { "is not valid yet" };
            d(
                Layer::Tls,
                format!("the server's certificate {what}{when}"),
                "check the clock of this machine and of the cluster; recreate or rotate the cluster's certificates".into(),
            )
        }
        TlsProblem::BadCertificate(why) => d(
            Layer::Tls,
            format!("the server's certificate was rejected: {why}"),
            "reissue the server certificate (it must be a serving certificate signed by the cluster's CA)".into(),
        ),
        TlsProblem::NotTls { answer } => {
            let diagnosis = match answer {
                Some(line) if line.starts_with("HTTP/") => format!(
                    "{}:{} speaks plain HTTP, not TLS: it answered the TLS handshake with `{line}`",
                    s.host, s.port
                ),
                Some(line) => format!(
                    "another service is behind {}:{}: it answered the TLS handshake with `{line}`, which is not a TLS record",
                    s.host, s.port
                ),
                None => format!(
                    "another service is behind {}:{}: its first bytes were not a TLS record",
                    s.host, s.port
                ),
            };
            d(
                Layer::Tls,
                diagnosis,
                format!(
                    "the server URL points at the wrong port or something else holds it (`ss -ltnp 'sport = :{}'` shows which process); the API server and the router's https port both speak TLS",
                    s.port
                ),
            )
        }
        TlsProblem::Closed => {
            let hint = match &s.route {
                Route::Passthrough { .. } => format!(
                    "the router found nothing to pass {sni} to: check the passthrough route (Ingress or TLSRoute) for {sni} and that the vcluster's service has endpoints"
                ),
                _ => "a proxy or port-forward accepted the connection but its backend is gone: check the pod behind it".into(),
            };
            d(
                Layer::Tls,
                format!("{}:{} accepted the connection and closed it during the TLS handshake (SNI {sni})", s.host, s.port),
                hint,
            )
        }
        TlsProblem::Alert(alert) => client_cert_alert(s, Layer::Tls, alert).unwrap_or_else(|| {
            d(
                Layer::Tls,
                format!("the server refused the TLS handshake (alert {alert})"),
                "the server does not accept this client's TLS parameters; check the server name and that it is a kube-apiserver".into(),
            )
        }),
        TlsProblem::TimedOut => d(
            Layer::Tls,
            format!(
                "TLS handshake with {}:{} timed out after {} ms: the port accepts connections but never answers TLS",
                s.host, s.port, s.timeout_ms
            ),
            "a service that waits for the client to speak a different protocol, or a proxy whose backend hangs, holds this port".into(),
        ),
        TlsProblem::Other(msg) => d(
            Layer::Tls,
            format!("TLS handshake failed: {msg}"),
            "run with -v for details; check the server URL and tls-server-name".into(),
        ),
    }
}

/// A name of the certificate that can serve as tls-server-name: `localhost` first (what kind's
/// and vcluster's certificates hold for local access), then a DNS name, then anything.
fn suggest_name(names: &[String]) -> Option<String> {
    names
        .iter()
        .find(|n| *n == "localhost")
        .or_else(|| {
            names
                .iter()
                .find(|n| n.parse::<std::net::IpAddr>().is_err() && !n.starts_with("*."))
        })
        .or_else(|| names.first())
        .cloned()
}

const CLIENT_CERT_HINT: &str = "the client certificate is not signed by a CA this server trusts (an old kubeconfig after the cluster was recreated?): refresh it with `bootstrap up`";

fn client_cert_alert(s: &Situation, layer: Layer, alert: &str) -> Option<Diagnosis> {
    const CERT_ALERTS: [&str; 5] = [
        "BadCertificate",
        "UnknownCA",
        "CertificateRequired",
        "CertificateUnknown",
        "AccessDenied",
    ];
    if !CERT_ALERTS.iter().any(|a| alert.contains(a)) {
        return None;
    }
    Some(d(
        layer,
        format!(
            "credentials rejected during the TLS handshake: the server refused the {} (alert {alert})",
            s.credential.describe()
        ),
        CLIENT_CERT_HINT.into(),
    ))
}

fn http(s: &Situation, layer: Layer, status: u16, path: &str, message: &str) -> Diagnosis {
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
                Credential::Plugin { what } => format!("verify does not run {what} plugins in this build; check this context with kubectl"),
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

fn transport(s: &Situation, layer: Layer, timed_out: bool, message: &str) -> Diagnosis {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sit(host: &str, port: u16) -> Situation {
        Situation {
            context: "ctx".into(),
            cluster: "cl".into(),
            host: host.into(),
            port,
            timeout_ms: 2000,
            ..Default::default()
        }
    }

    fn passthrough(mut s: Situation, hostname: &str) -> Situation {
        s.route = Route::Passthrough {
            hostname: hostname.into(),
            https_port: 8443,
        };
        s
    }

    fn cert(subject: &str, issuer: &str, names: &[&str]) -> CertFacts {
        CertFacts {
            subject: subject.into(),
            issuer: issuer.into(),
            names: names.iter().map(|n| n.to_string()).collect(),
            not_after: "2030-01-01".into(),
        }
    }

    fn refused(addr: &str, loopback: bool) -> Failure {
        Failure::Tcp {
            kind: ConnectError::Refused,
            addr: addr.into(),
            loopback,
            message: "Connection refused".into(),
        }
    }

    fn tls_fail(problem: TlsProblem, c: Option<CertFacts>, ca: Option<&str>) -> Failure {
        Failure::Tls {
            problem,
            cert: c.map(Box::new),
            expected_ca: ca.map(Into::into),
        }
    }

    struct Case {
        name: &'static str,
        situation: Situation,
        failure: Failure,
        layer: Layer,
        diagnosis: &'static [&'static str],
        hint: &'static [&'static str],
    }

    fn cases() -> Vec<Case> {
        let in_container = Situation {
            in_container: true,
            ..sit("127.0.0.1", 6443)
        };
        let portforward = Situation {
            route: Route::PortForward {
                local_port: 9443,
                namespace: "dev-vcluster".into(),
                service: "vcluster-dev-helm".into(),
            },
            in_container: true,
            ..sit("127.0.0.1", 9443)
        };
        let token = Situation {
            credential: Credential::Token,
            ..sit("127.0.0.1", 6443)
        };
        let client = Situation {
            credential: Credential::ClientCert {
                subject: "kubernetes-admin".into(),
            },
            ..sit("127.0.0.1", 6443)
        };
        vec![
            Case {
                name: "localhost trap, api route",
                situation: Situation {
                    route: Route::Api,
                    ..in_container.clone()
                },
                failure: refused("127.0.0.1:6443", true),
                layer: Layer::Tcp,
                diagnosis: &[
                    "127.0.0.1:6443 refused",
                    "inside a container",
                    "localhost trap",
                ],
                hint: &[
                    "host.docker.internal:6443",
                    "tls-server-name: localhost",
                    "kind` network",
                ],
            },
            Case {
                name: "localhost trap, passthrough route keeps the hostname as tls-server-name",
                situation: Situation {
                    in_container: true,
                    ..passthrough(
                        sit("dev-vcluster.cnoe.localtest.me", 8443),
                        "dev-vcluster.cnoe.localtest.me",
                    )
                },
                failure: refused("127.0.0.1:8443", true),
                layer: Layer::Tcp,
                diagnosis: &["localhost trap"],
                hint: &[
                    "https://host.docker.internal:8443",
                    "tls-server-name: dev-vcluster.cnoe.localtest.me",
                ],
            },
            Case {
                name: "refused on the host is no trap",
                situation: Situation {
                    route: Route::Api,
                    ..sit("127.0.0.1", 6443)
                },
                failure: refused("127.0.0.1:6443", true),
                layer: Layer::Tcp,
                diagnosis: &["connection to 127.0.0.1:6443 refused: nothing listens"],
                hint: &["is the cluster up?"],
            },
            Case {
                name: "timed out is told apart from refused",
                situation: sit("10.9.9.9", 6443),
                failure: Failure::Tcp {
                    kind: ConnectError::TimedOut,
                    addr: "10.9.9.9:6443".into(),
                    loopback: false,
                    message: String::new(),
                },
                layer: Layer::Tcp,
                diagnosis: &["timed out after 2000 ms", "not even a refusal"],
                hint: &["unreachable"],
            },
            Case {
                name: "port-forward not running wins over the trap",
                situation: portforward,
                failure: refused("127.0.0.1:9443", true),
                layer: Layer::Tcp,
                diagnosis: &[
                    "nothing listens on 127.0.0.1:9443",
                    "port-forward for this vcluster is not running",
                ],
                hint: &["-n dev-vcluster port-forward svc/vcluster-dev-helm 9443:443"],
            },
            Case {
                name: "dns failure of the passthrough domain",
                situation: sit("dev-vcluster.cnoe.localtest.me", 8443),
                failure: Failure::Dns {
                    timed_out: false,
                    message: "failed to lookup address".into(),
                },
                layer: Layer::Dns,
                diagnosis: &[
                    "dev-vcluster.cnoe.localtest.me does not resolve",
                    "*.localtest.me",
                    "rebinding",
                ],
                hint: &[
                    "127.0.0.1 dev-vcluster.cnoe.localtest.me` to /etc/hosts",
                    "rebind-domain-ok=/localtest.me/",
                ],
            },
            Case {
                name: "dns failure of a declared passthrough domain that is no public wildcard",
                situation: passthrough(sit("dev.corp.test", 8443), "dev.corp.test"),
                failure: Failure::Dns {
                    timed_out: false,
                    message: "no such host".into(),
                },
                layer: Layer::Dns,
                diagnosis: &["*.corp.test"],
                hint: &["/etc/hosts", "rebinding for corp.test"],
            },
            Case {
                name: "dns failure elsewhere",
                situation: sit("api.example.invalid", 6443),
                failure: Failure::Dns {
                    timed_out: false,
                    message: "no such host".into(),
                },
                layer: Layer::Dns,
                diagnosis: &["api.example.invalid does not resolve"],
                hint: &["cluster `cl`"],
            },
            Case {
                name: "name mismatch suggests a name the certificate holds",
                situation: sit("host.docker.internal", 6443),
                failure: tls_fail(
                    TlsProblem::NameMismatch,
                    Some(cert(
                        "kube-apiserver",
                        "kubernetes",
                        &["localdev-control-plane", "localhost", "127.0.0.1"],
                    )),
                    Some("kubernetes"),
                ),
                layer: Layer::Tls,
                diagnosis: &[
                    "name mismatch",
                    "not valid for host.docker.internal",
                    "[localdev-control-plane, localhost, 127.0.0.1]",
                ],
                hint: &["tls-server-name: localhost", "clusters.cl.tls-server-name"],
            },
            Case {
                name: "name mismatch through passthrough asks for an extra SAN",
                situation: passthrough(
                    sit("dev-vcluster.cnoe.localtest.me", 8443),
                    "dev-vcluster.cnoe.localtest.me",
                ),
                failure: tls_fail(
                    TlsProblem::NameMismatch,
                    Some(cert("vcluster", "vcluster-ca", &["localhost", "127.0.0.1"])),
                    Some("vcluster-ca"),
                ),
                layer: Layer::Tls,
                diagnosis: &["not valid for dev-vcluster.cnoe.localtest.me"],
                hint: &["controlPlane.proxy.extraSANs"],
            },
            Case {
                name: "unknown authority names issuer seen and CA expected",
                situation: sit("127.0.0.1", 6443),
                failure: tls_fail(
                    TlsProblem::UnknownAuthority,
                    Some(cert("kube-apiserver", "other-ca", &["localhost"])),
                    Some("kubernetes-ca"),
                ),
                layer: Layer::Tls,
                diagnosis: &[
                    "unknown authority",
                    "issued by `other-ca`",
                    "trusts only `kubernetes-ca`",
                ],
                hint: &["old CA", "bootstrap up"],
            },
            Case {
                name: "router default certificate means passthrough is off",
                situation: sit("dev-vcluster.cnoe.localtest.me", 8443),
                failure: tls_fail(
                    TlsProblem::UnknownAuthority,
                    Some(cert(
                        "Kubernetes Ingress Controller Fake Certificate",
                        "Kubernetes Ingress Controller Fake Certificate",
                        &["ingress.local"],
                    )),
                    Some("vcluster-ca"),
                ),
                layer: Layer::Tls,
                diagnosis: &[
                    "passthrough is not working",
                    "its own certificate",
                    "Fake Certificate",
                ],
                hint: &[
                    "--enable-ssl-passthrough",
                    "ssl-passthrough: \"true\"",
                    "TLSRoute",
                ],
            },
            Case {
                name: "a foreign certificate on a passthrough route is the router's",
                situation: passthrough(
                    sit("dev-vcluster.cnoe.localtest.me", 8443),
                    "dev-vcluster.cnoe.localtest.me",
                ),
                failure: tls_fail(
                    TlsProblem::UnknownAuthority,
                    Some(cert("ingress.local", "router-ca", &["ingress.local"])),
                    Some("vcluster-ca"),
                ),
                layer: Layer::Tls,
                diagnosis: &["passthrough is not working"],
                hint: &["--enable-ssl-passthrough"],
            },
            Case {
                name: "plain http behind the port",
                situation: sit("127.0.0.1", 6443),
                failure: tls_fail(
                    TlsProblem::NotTls {
                        answer: Some("HTTP/1.1 400 Bad Request".into()),
                    },
                    None,
                    None,
                ),
                layer: Layer::Tls,
                diagnosis: &["speaks plain HTTP, not TLS", "HTTP/1.1 400 Bad Request"],
                hint: &["sport = :6443"],
            },
            Case {
                name: "another protocol behind the port",
                situation: sit("127.0.0.1", 6443),
                failure: tls_fail(
                    TlsProblem::NotTls {
                        answer: Some("SSH-2.0-OpenSSH_9.2".into()),
                    },
                    None,
                    None,
                ),
                layer: Layer::Tls,
                diagnosis: &["another service is behind 127.0.0.1:6443", "SSH-2.0"],
                hint: &["wrong port"],
            },
            Case {
                name: "401 with a token",
                situation: token,
                failure: Failure::Http {
                    layer: Layer::Auth,
                    status: 401,
                    path: "/version".into(),
                    message: "Unauthorized".into(),
                },
                layer: Layer::Auth,
                diagnosis: &["credentials rejected (401 Unauthorized)", "bearer token"],
                hint: &["expired or was revoked"],
            },
            Case {
                name: "401 with a client certificate",
                situation: client.clone(),
                failure: Failure::Http {
                    layer: Layer::Auth,
                    status: 401,
                    path: "/version".into(),
                    message: String::new(),
                },
                layer: Layer::Auth,
                diagnosis: &["401 Unauthorized", "client certificate (kubernetes-admin)"],
                hint: &["old CA"],
            },
            Case {
                name: "403 is not 401",
                situation: client.clone(),
                failure: Failure::Http {
                    layer: Layer::Api,
                    status: 403,
                    path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews".into(),
                    message: "forbidden".into(),
                },
                layer: Layer::Api,
                diagnosis: &["credentials accepted but forbidden (403 Forbidden)"],
                hint: &["RBAC"],
            },
            Case {
                name: "access review says no",
                situation: client.clone(),
                failure: Failure::Denied {
                    reason: String::new(),
                },
                layer: Layer::Api,
                diagnosis: &["not allowed to list namespaces", "allowed=false"],
                hint: &["clusterrolebinding"],
            },
            Case {
                name: "client certificate refused by alert after the handshake",
                situation: client,
                failure: Failure::Transport {
                    layer: Layer::Auth,
                    timed_out: false,
                    message: "received fatal alert: CertificateRequired".into(),
                },
                layer: Layer::Auth,
                diagnosis: &["credentials rejected during the TLS handshake"],
                hint: &["bootstrap up"],
            },
            Case {
                name: "client certificate refused, the alert lost to a reset",
                situation: Situation {
                    credential: Credential::ClientCert {
                        subject: "mallory".into(),
                    },
                    ..sit("127.0.0.1", 6443)
                },
                failure: Failure::Transport {
                    layer: Layer::Auth,
                    timed_out: false,
                    message: "connection reset by peer".into(),
                },
                layer: Layer::Auth,
                diagnosis: &["credentials rejected", "client certificate (mallory)"],
                hint: &["not signed by a CA this server trusts"],
            },
            Case {
                name: "a token context whose connection breaks is no credential problem",
                situation: Situation {
                    credential: Credential::Token,
                    ..sit("127.0.0.1", 6443)
                },
                failure: Failure::Transport {
                    layer: Layer::Auth,
                    timed_out: false,
                    message: "connection closed before message completed".into(),
                },
                layer: Layer::Auth,
                diagnosis: &["the connection broke during the auth request"],
                hint: &["API server's logs"],
            },
            Case {
                name: "closed during handshake behind passthrough",
                situation: passthrough(
                    sit("staging.cnoe.localtest.me", 8443),
                    "staging.cnoe.localtest.me",
                ),
                failure: tls_fail(TlsProblem::Closed, None, None),
                layer: Layer::Tls,
                diagnosis: &["closed it during the TLS handshake"],
                hint: &["passthrough route"],
            },
            Case {
                name: "tls timeout",
                situation: sit("127.0.0.1", 6443),
                failure: tls_fail(TlsProblem::TimedOut, None, None),
                layer: Layer::Tls,
                diagnosis: &["timed out after 2000 ms"],
                hint: &["different protocol"],
            },
            Case {
                name: "missing context",
                situation: sit("", 0),
                failure: Failure::Config {
                    message: "no context `x` in the kubeconfig".into(),
                },
                layer: Layer::Config,
                diagnosis: &["context `ctx` cannot be used", "no context `x`"],
                hint: &["get-contexts"],
            },
        ]
    }

    #[test]
    fn every_rule() {
        for c in cases() {
            let got = diagnose(&c.situation, &c.failure);
            assert_eq!(got.layer, c.layer, "{}: layer", c.name);
            for want in c.diagnosis {
                assert!(
                    got.diagnosis.contains(want),
                    "{}: diagnosis lacks `{want}`:\n{}",
                    c.name,
                    got.diagnosis
                );
            }
            for want in c.hint {
                assert!(
                    got.hint.contains(want),
                    "{}: hint lacks `{want}`:\n{}",
                    c.name,
                    got.hint
                );
            }
        }
    }

    #[test]
    fn wildcard_names() {
        assert!(name_matches("*.cnoe.localtest.me", "dev.cnoe.localtest.me"));
        assert!(!name_matches(
            "*.cnoe.localtest.me",
            "a.b.cnoe.localtest.me"
        ));
        assert!(!name_matches("*.cnoe.localtest.me", "cnoe.localtest.me"));
        assert!(name_matches("LOCALHOST", "localhost"));
    }

    #[test]
    fn suggestion_prefers_localhost_then_dns_names() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            suggest_name(&v(&["10.0.0.1", "node", "localhost"])).as_deref(),
            Some("localhost")
        );
        assert_eq!(
            suggest_name(&v(&["10.0.0.1", "*.x.io", "node"])).as_deref(),
            Some("node")
        );
        assert_eq!(suggest_name(&v(&["10.0.0.1"])).as_deref(), Some("10.0.0.1"));
        assert_eq!(suggest_name(&[]), None);
    }
}
