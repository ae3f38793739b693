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
    let facts = crate::verify::probe::cert_facts(&der)
        .ok_or_else(|| anyhow!("{host}:{port}: the certificate does not parse"))?;
    Ok(facts.names)
}
