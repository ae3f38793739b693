//! The TLS layer: a certificate without the name we asked for, another CA, the router's default
//! certificate answering for a hostname, a client certificate refused, a peer that is not TLS.

#[allow(unused_imports)]
use super::*;

pub(super) fn tls(
    s: &Situation,
    problem: &TlsProblem,
    cert: Option<&CertFacts>,
    expected_ca: Option<&str>,
) -> Diagnosis {
    if let Some(found) = cert.and_then(|c| router_answered(s, problem, c)) {
        return found;
    }
    match problem {
        TlsProblem::NameMismatch => name_mismatch(s, cert),
        TlsProblem::UnknownAuthority => unknown_authority(cert, expected_ca),
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
        TlsProblem::NotTls { answer } => not_tls(s, answer.as_deref()),
        TlsProblem::Closed => closed(s),
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

fn presented(c: &CertFacts) -> String {
    format!(
        "`{}` issued by `{}`, names [{}]",
        c.subject,
        c.issuer,
        c.names.join(", ")
    )
}

/// The router's own certificate where the vcluster's was expected: whatever the TLS problem,
/// passthrough is what failed, so this is read before the problem itself.
fn router_answered(s: &Situation, problem: &TlsProblem, c: &CertFacts) -> Option<Diagnosis> {
    let sni = s.server_name();
    let via_router = matches!(s.via, Via::Passthrough { .. });
    let foreign = matches!(
        problem,
        TlsProblem::UnknownAuthority | TlsProblem::NameMismatch
    ) && !c.holds(sni);
    if !(c.is_router_default()
        || (via_router && foreign && matches!(problem, TlsProblem::UnknownAuthority)))
    {
        return None;
    }
    Some(d(
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
    ))
}

fn name_mismatch(s: &Situation, cert: Option<&CertFacts>) -> Diagnosis {
    let names = cert.map(|c| c.names.clone()).unwrap_or_default();
    let hint = match &s.via {
        Via::Passthrough { hostname, .. } => format!(
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
            "certificate name mismatch: the certificate is not valid for {}; it holds [{}]",
            s.server_name(),
            names.join(", ")
        ),
        hint,
    )
}

fn unknown_authority(cert: Option<&CertFacts>, expected_ca: Option<&str>) -> Diagnosis {
    let seen = cert
        .map(|c| format!("{} (issued by `{}`)", presented(c), c.issuer))
        .unwrap_or_else(|| "a certificate".into());
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

fn not_tls(s: &Situation, answer: Option<&str>) -> Diagnosis {
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

fn closed(s: &Situation) -> Diagnosis {
    let sni = s.server_name();
    let hint = match &s.via {
        Via::Passthrough { .. } => format!(
            "the router found nothing to pass {sni} to: check the passthrough route (Ingress or TLSRoute) for {sni} and that the vcluster's service has endpoints"
        ),
        _ => "a proxy or port-forward accepted the connection but its backend is gone: check the pod behind it".into(),
    };
    d(
        Layer::Tls,
        format!(
            "{}:{} accepted the connection and closed it during the TLS handshake (SNI {sni})",
            s.host, s.port
        ),
        hint,
    )
}

/// A name of the certificate that can serve as tls-server-name: `localhost` first (what kind's
/// and vcluster's certificates hold for local access), then a DNS name, then anything.
pub(super) fn suggest_name(names: &[String]) -> Option<String> {
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

pub(super) const CLIENT_CERT_HINT: &str = "the client certificate is not signed by a CA this server trusts (an old kubeconfig after the cluster was recreated?): refresh it with `bootstrap up`";

pub(super) fn client_cert_alert(s: &Situation, layer: Layer, alert: &str) -> Option<Diagnosis> {
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
