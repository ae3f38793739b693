//! What the handshake showed: the presented chain (kept even when verification fails), the
//! first bytes of a peer that does not speak TLS, and the problem as diagnose names it.

#[allow(unused_imports)]
use super::*;

/// Classify a failed handshake; `first_bytes` are what the server sent before it failed.
pub(super) fn tls_problem(e: &std::io::Error, first_bytes: &[u8]) -> TlsProblem {
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

pub(super) fn cert_error_text(e: &rustls::CertificateError) -> String {
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
pub(super) fn looks_like_tls(b: &[u8]) -> bool {
    (0x14..=0x18).contains(&b[0]) && b.get(1).is_none_or(|v| *v == 3)
}

pub(super) fn first_line(b: &[u8]) -> Option<String> {
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
pub(super) struct Recorder {
    /// None: insecure-skip-tls-verify, the chain is accepted unchecked.
    pub(super) inner: Option<Arc<WebPkiServerVerifier>>,
    pub(super) provider: Arc<CryptoProvider>,
    pub(super) seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
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
pub(super) struct Tap<S> {
    inner: S,
    pub(super) seen: Arc<Mutex<Vec<u8>>>,
}

pub(super) const TAP_BYTES: usize = 128;

impl<S> Tap<S> {
    pub(super) fn new(inner: S) -> Self {
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
