//! What a TLS server presents, read from its handshake: the names its certificate holds. No
//! credentials are sent and nothing is trusted: the chain is recorded, not verified (the
//! handshake's own signature still is), because this only observes which names a server was
//! given (the kind API server's certificate names, compared with the file's).

use anyhow::{anyhow, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug)]
struct Record {
    provider: Arc<CryptoProvider>,
    leaf: Arc<Mutex<Option<Vec<u8>>>>,
}

impl ServerCertVerifier for Record {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut leaf) = self.leaf.lock() {
            *leaf = Some(end_entity.to_vec());
        }
        Ok(ServerCertVerified::assertion())
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

/// The DNS and IP names of the certificate `host:port` presents for `sni`.
pub async fn presented_names(
    host: &str,
    port: u16,
    sni: &str,
    timeout: Duration,
) -> Result<Vec<String>> {
    let started = std::time::Instant::now();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let leaf = Arc::new(Mutex::new(None));
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Record {
            provider,
            leaf: leaf.clone(),
        }))
        .with_no_client_auth();
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| anyhow!("{sni}: {e}"))?;
    let work = async {
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    };
    let result = tokio::time::timeout(timeout, work).await;
    tracing::debug!(
        target: crate::logging::TARGET,
        "tls {host}:{port} (sni {sni}) -> {} ({})",
        match &result {
            Ok(Ok(_)) => "handshake".to_owned(),
            Ok(Err(e)) => format!("failed: {e}"),
            Err(_) => "timed out".to_owned(),
        },
        crate::logging::took(started.elapsed())
    );
    result
        .map_err(|_| anyhow!("{host}:{port}: no TLS handshake within {timeout:?}"))?
        .with_context(|| format!("TLS handshake with {host}:{port}"))?;
    let der = leaf
        .lock()
        .ok()
        .and_then(|l| l.clone())
        .ok_or_else(|| anyhow!("{host}:{port} presented no certificate"))?;
    san_names(&der).ok_or_else(|| anyhow!("{host}:{port}: the certificate does not parse"))
}

/// Pure: the DNS names and IP addresses of a certificate's subjectAltName extension.
pub fn san_names(der: &[u8]) -> Option<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(ip) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*ip) {
                        names.push(std::net::IpAddr::from(v4).to_string());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*ip) {
                        names.push(std::net::IpAddr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real handshake with a server whose certificate holds DNS names and IP addresses.
    #[tokio::test]
    async fn the_names_a_server_presents_are_read_from_its_handshake() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![
            "localhost".to_owned(),
            "b.example.com".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .unwrap();
        let cert = params.self_signed(&key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = acceptor.accept(tcp).await;
        });
        let names = presented_names("127.0.0.1", port, "localhost", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(names, ["localhost", "b.example.com", "127.0.0.1", "::1"]);
        let closed =
            presented_names("127.0.0.1", port, "localhost", Duration::from_millis(500)).await;
        assert!(closed.is_err(), "nothing listens any more");
    }
}
