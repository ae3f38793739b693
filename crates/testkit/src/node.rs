//! A DOUBLE of a kind node running ingress-nginx (passthrough) and vclusters, for the full
//! `up`/`up`/`down` test: no kind node image, kube-apiserver or chart can be had here.
//!
//! - On the API port: the kube-apiserver double of `crate::kube` (what the Helm engine installs
//!   the real charts into), client-certificate auth with the admin certificate it issued, and
//!   `vc-<release>` secrets that appear when first read once that release's StatefulSet is
//!   applied (playing the vcluster that would then run).
//! - On the router port: TLS passthrough by SNI. A hostname that an applied Ingress (with the
//!   ssl-passthrough annotation) routes to service R in namespace N is answered by "vcluster
//!   N/R": a certificate for that hostname from that vcluster's CA, and its own client-certificate
//!   auth. Any other name gets ingress-nginx's fake default certificate.
//!
//! TLS, certificates and authentication are real; only the cluster behind them is simulated.

use crate::{pem_certs, pem_key, Leaf, Pki};
use hyper::{Request, Response, StatusCode};
use rustls::pki_types::CertificateDer;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const FAKE_CERT_CN: &str = "Kubernetes Ingress Controller Fake Certificate";

struct Vcluster {
    pki: Pki,
    client: Leaf,
    serving: BTreeMap<String, Arc<CertifiedKey>>,
}

pub struct Node {
    pub node_name: String,
    host_pki: Pki,
    host_serving: Arc<CertifiedKey>,
    pub admin: Leaf,
    /// The host cluster's kube-apiserver double; its writes are readable at GET /double/writes.
    pub host: Arc<crate::kube::Api>,
    vclusters: Mutex<BTreeMap<(String, String), Vcluster>>,
    fake: Arc<CertifiedKey>,
}

fn certified(leaf: &Leaf) -> Arc<CertifiedKey> {
    let provider = rustls::crypto::ring::default_provider();
    let key = provider
        .key_provider
        .load_private_key(pem_key(&leaf.key_pem))
        .unwrap();
    Arc::new(CertifiedKey::new(pem_certs(&leaf.cert_pem), key))
}

impl Node {
    pub fn new(node_name: &str) -> Arc<Node> {
        let host_pki = Pki::new("kubernetes");
        let serving = host_pki.server(&["localhost", "127.0.0.1", node_name, "kubernetes"]);
        let admin = host_pki.client("kubernetes-admin", "system:masters");
        let fake_pki = Pki::new(FAKE_CERT_CN);
        let fake = fake_pki.server_with_cn(FAKE_CERT_CN, &["ingress.local"]);
        Arc::new(Node {
            node_name: node_name.to_owned(),
            host_serving: certified(&serving),
            host_pki,
            admin,
            host: Arc::new(crate::kube::Api::new(
                crate::kube::Store::new(),
                "v1.35.0+kind-node-double",
            )),
            vclusters: Mutex::new(BTreeMap::new()),
            fake: certified(&fake),
        })
    }

    /// The kubeconfig kind would write for this node, reached at `server`.
    pub fn kubeconfig(&self, cluster: &str, server: &str) -> String {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: kind-{cluster}\ncontexts:\n- context:\n    cluster: kind-{cluster}\n    user: kind-{cluster}\n  name: kind-{cluster}\ncurrent-context: kind-{cluster}\npreferences: {{}}\nusers:\n- name: kind-{cluster}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b(&self.host_pki.ca_pem),
            b(&self.admin.cert_pem),
            b(&self.admin.key_pem)
        )
    }

    fn with_vcluster<T>(&self, ns: &str, release: &str, f: impl FnOnce(&mut Vcluster) -> T) -> T {
        let mut all = self.vclusters.lock().unwrap();
        let v = all
            .entry((ns.to_owned(), release.to_owned()))
            .or_insert_with(|| {
                let pki = Pki::new(&format!("vcluster-ca-{ns}-{release}"));
                let client = pki.client("admin", "system:masters");
                Vcluster {
                    pki,
                    client,
                    serving: BTreeMap::new(),
                }
            });
        f(v)
    }

    /// The vcluster an Ingress with TLS passthrough routes `host` to.
    fn route(&self, host: &str) -> Option<(String, String)> {
        let store = self.host.store.all();
        store.iter().map(|(_, o)| o).find_map(|o| {
            if o["kind"] != "Ingress"
                || o["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-passthrough"]
                    != "true"
            {
                return None;
            }
            let rule = o["spec"]["rules"]
                .as_array()?
                .iter()
                .find(|r| r["host"] == host)?;
            let svc = rule["http"]["paths"][0]["backend"]["service"]["name"].as_str()?;
            Some((
                o["metadata"]["namespace"].as_str()?.to_owned(),
                svc.to_owned(),
            ))
        })
    }

    fn secret(&self, ns: &str, release: &str) -> Value {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        self.with_vcluster(ns, release, |v| {
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": format!("vc-{release}"), "namespace": ns},
                   "data": {"certificate-authority": b(&v.pki.ca_pem), "client-certificate": b(&v.client.cert_pem),
                            "client-key": b(&v.client.key_pem), "config": b("apiVersion: v1\nkind: Config\n")}})
        })
    }

    /// `vc-<release>` appears when first read once the release's StatefulSet is applied, as the
    /// running vcluster would have written it.
    fn ensure_secret(&self, path: &str) {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let ["api", "v1", "namespaces", ns, "secrets", name] = parts.as_slice() {
            if let Some(release) = name.strip_prefix("vc-") {
                let key = crate::kube::Key::new("", "secrets", ns, name);
                let sts = crate::kube::Key::new("apps", "statefulsets", ns, release);
                if self.host.store.get(&key).is_none() && self.host.store.get(&sts).is_some() {
                    let secret = self.secret(ns, release);
                    self.host.store.tx(|tx| {
                        let res = tx.resource("", "secrets").expect("secrets are served");
                        tx.put(&res, key, secret);
                    });
                }
            }
        }
    }

    fn vcluster_answer(&self, method: &str, path: &str) -> (StatusCode, Value) {
        match (method, path) {
            ("GET", "/version") => (
                StatusCode::OK,
                json!({"major": "1", "minor": "35", "gitVersion": "v1.35.0+vcluster-double", "platform": "linux/amd64"}),
            ),
            ("GET", "/api") => (
                StatusCode::OK,
                json!({"kind": "APIVersions", "versions": ["v1"]}),
            ),
            ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") => (
                StatusCode::CREATED,
                json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "status": {"allowed": true}}),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                json!({"kind": "Status", "code": 404, "message": "not found"}),
            ),
        }
    }
}

/// Accepts any client certificate at the handshake (signatures are still checked); the request
/// handler then authorises by comparing it with the one this double issued for that endpoint.
#[derive(Debug)]
struct AnyClientCert(Arc<rustls::crypto::CryptoProvider>);

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: rustls::pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Debug)]
struct Sni(Arc<NodeRef>);

struct NodeRef(Arc<Node>);

impl std::fmt::Debug for NodeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("node")
    }
}

impl ResolvesServerCert for Sni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let node = &self.0 .0;
        let Some(host) = hello.server_name().map(str::to_owned) else {
            return Some(node.fake.clone());
        };
        match node.route(&host) {
            Some((ns, release)) => Some(node.with_vcluster(&ns, &release, |v| {
                v.serving
                    .entry(host.clone())
                    .or_insert_with(|| {
                        let svc = format!("{release}.{ns}.svc");
                        certified(&v.pki.server(&[
                            host.as_str(),
                            svc.as_str(),
                            "localhost",
                            "127.0.0.1",
                        ]))
                    })
                    .clone()
            })),
            None => Some(node.fake.clone()),
        }
    }
}

#[derive(Debug)]
struct HostCert(Arc<CertifiedKey>);

impl ResolvesServerCert for HostCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn respond(status: StatusCode, v: &Value) -> Response<crate::kube::Body> {
    crate::kube::json_response(status.as_u16(), v)
}

/// Serve the API on `api` and the passthrough router on `router` until the process ends.
pub async fn serve(
    node: Arc<Node>,
    api: std::net::SocketAddr,
    router: std::net::SocketAddr,
) -> std::io::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = |resolver: Arc<dyn ResolvesServerCert>| {
        let mut c = rustls::ServerConfig::builder()
            .with_client_cert_verifier(Arc::new(AnyClientCert(provider.clone())))
            .with_cert_resolver(resolver);
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(c))
    };
    let api_acceptor = config(Arc::new(HostCert(node.host_serving.clone())));
    let router_acceptor = config(Arc::new(Sni(Arc::new(NodeRef(node.clone())))));
    let api_listener = tokio::net::TcpListener::bind(api).await?;
    let router_listener = tokio::net::TcpListener::bind(router).await?;
    let accept = |listener: tokio::net::TcpListener,
                  acceptor: tokio_rustls::TlsAcceptor,
                  is_router: bool,
                  node: Arc<Node>| async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let node = node.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let (_, conn) = tls.get_ref();
                let presented = conn
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.as_ref().to_vec());
                let sni = conn.server_name().map(str::to_owned);
                let expected = match (is_router, &sni) {
                    (false, _) => Some(pem_certs(&node.admin.cert_pem)[0].as_ref().to_vec()),
                    (true, Some(host)) => node.route(host).map(|(ns, r)| {
                        node.with_vcluster(&ns, &r, |v| {
                            pem_certs(&v.client.cert_pem)[0].as_ref().to_vec()
                        })
                    }),
                    (true, None) => None,
                };
                let authed = presented.is_some() && presented == expected;
                let io = hyper_util::rt::TokioIo::new(tls);
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let node = node.clone();
                    async move {
                        let method = req.method().to_string();
                        let path = req.uri().path().to_owned();
                        if !authed {
                            return Ok::<_, std::convert::Infallible>(respond(
                                StatusCode::UNAUTHORIZED,
                                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 401, "reason": "Unauthorized", "message": "Unauthorized"}),
                            ));
                        }
                        if is_router {
                            let (status, v) = node.vcluster_answer(&method, &path);
                            return Ok(respond(status, &v));
                        }
                        if method == "GET" && path == "/double/writes" {
                            return Ok(respond(StatusCode::OK, &json!(node.host.writes())));
                        }
                        if method == "GET" {
                            node.ensure_secret(&path);
                        }
                        Ok(crate::kube::serve(&node.host, req, true).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    };
    tokio::join!(
        accept(api_listener, api_acceptor, false, node.clone()),
        accept(router_listener, router_acceptor, true, node.clone())
    );
    Ok(())
}
