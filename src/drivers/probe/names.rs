//! What a TLS server presents, read from its handshake: the names its certificate holds. No
//! credentials are sent and nothing is trusted: the chain is recorded (verify's `Recorder` with
//! no verifier inside), not verified (the handshake's own signature still is), because this only
//! observes which names a server was given (the kind API server's certificate names, compared
//! with the file's).

use super::tls::{cert_facts, Recorder};
use anyhow::{anyhow, Context, Result};
use rustls::pki_types::ServerName;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The DNS and IP names of the certificate `host:port` presents for `sni`.
pub async fn presented_names(
    host: &str,
    port: u16,
    sni: &str,
    timeout: Duration,
) -> Result<Vec<String>> {
    let started = std::time::Instant::now();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let seen = Arc::new(Mutex::new(Vec::new()));
    // verify's recorder with no verifier inside: the chain is kept, not trusted.
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Recorder {
            inner: None,
            provider,
            seen: seen.clone(),
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
    let der = seen
        .lock()
        .ok()
        .and_then(|s| s.first().cloned())
        .ok_or_else(|| anyhow!("{host}:{port} presented no certificate"))?;
    Ok(cert_facts(&der)
        .ok_or_else(|| anyhow!("{host}:{port}: the certificate does not parse"))?
        .names)
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
