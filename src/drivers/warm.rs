//! Warming the pull-through caches: each image pulled through its cache (manifest, config and
//! every layer read to the end), so the cache stores it and the nodes' containerd later finds it
//! there. The requests are the ones containerd makes to a mirror (oci-client's mirror mode: the
//! cache's address with `?ns=<registry>`), for the nodes' platform.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use oci_client::Client;
pub use oci_client::Reference;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The nodes' architecture in OCI's words. kind's nodes run on the Docker host's CPU, which is
/// ours (Docker Desktop runs nodes of the Mac's own architecture).
pub fn node_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn resolver(entries: &[ImageIndexEntry]) -> Option<String> {
    let arch = node_arch();
    entries
        .iter()
        .find(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.os.to_string() == "linux" && p.architecture.to_string() == arch)
        })
        .map(|e| e.digest.clone())
}

/// A client for caches at plain-HTTP addresses: no proxy (the cache is local), short timeouts
/// to connect (an unreachable cache is known at once), none to read (a layer may be large).
pub fn client() -> Client {
    // reqwest is built without a default crypto provider; ours is ring, as everywhere else.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        platform_resolver: Some(Box::new(resolver)),
        connect_timeout: Some(Duration::from_secs(3)),
        no_proxy: Some("*".into()),
        ..Default::default()
    })
}

/// Counts what a blob download writes, and drops it: the cache keeps it, we need not.
struct Counter(Arc<AtomicU64>);

impl tokio::io::AsyncWrite for Counter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// One blob is fetched through one repository at a time. distribution's proxy serves a blob
/// that another request is already fetching straight from the upstream without storing it for
/// this repository (registry/proxy/proxyblobstore.go: `inflight`), and it looks blobs up per
/// repository: images sharing a layer, warmed side by side, would leave some repositories
/// without it, to be fetched again on the next cluster (or missed offline).
#[derive(Default)]
pub struct InFlight(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl InFlight {
    fn lock_for(&self, digest: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(digest.to_owned()).or_default().clone()
    }
}

/// Pull `image` through the cache at `cache_addr` (`ip:port`); `bytes` grows as blobs arrive.
/// Errors are said in the registry's words (not found, unauthorized, unreachable).
pub async fn pull_through(
    client: &Client,
    cache_addr: &str,
    image: &Reference,
    bytes: Arc<AtomicU64>,
    in_flight: &InFlight,
) -> anyhow::Result<()> {
    let mut r = image.clone();
    r.set_mirror_registry(cache_addr.to_owned());
    let (manifest, _digest) = client
        .pull_image_manifest(&r, &RegistryAuth::Anonymous)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut blobs = vec![manifest.config.clone()];
    blobs.extend(manifest.layers.iter().cloned());
    for b in &blobs {
        let lock = in_flight.lock_for(&b.digest);
        let _one_at_a_time = lock.lock().await;
        client
            .pull_blob(&r, b, Counter(bytes.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("blob {}: {e}", b.digest))?;
    }
    Ok(())
}

/// Whether something answers at `addr` within a moment: where the caches' addresses do not
/// reach (Docker Desktop's VM, a devcontainer not on their network), warming is skipped rather
/// than timed out image by image.
pub async fn reachable(addr: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}
