//! Test kit: a throwaway PKI (rcgen) and `ApiServer`, a TLS endpoint serving the
//! kube-apiserver double of `kube` (discovery, OpenAPI v3, objects, watches, server-side apply)
//! to real clients. It is a double, used only because no real kube-apiserver can run on our
//! test machines; TLS, client certificates and bearer tokens are real.

pub mod gateway;
pub mod kube;
pub mod node;

use hyper::{Request, Response};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

fn sans(names: &[&str]) -> Vec<SanType> {
    names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*n).try_into().unwrap()),
        })
        .collect()
}

/// A certificate authority for one test.
pub struct Pki {
    issuer: Issuer<'static, KeyPair>,
    pub ca_pem: String,
}

/// A leaf certificate and its key, PEM.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Pki {
    pub fn new(common_name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A serving certificate holding exactly `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("server"),
        );
        params.subject_alt_names = sans(names);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A serving certificate with an explicit common name holding exactly `names` (DNS names,
    /// wildcards or IP addresses), as vcluster issues its API certificate (CN kube-apiserver).
    pub fn server_with_cn(&self, cn: &str, names: &[&str]) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans(names);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A self-signed serving certificate, as ingress-nginx makes its default ("Fake") one
    /// (kubernetes/ingress-nginx internal/net/ssl/ssl.go: CN "Kubernetes Ingress Controller
    /// Fake Certificate", O "Acme Co", the DNS name ingress.local).
    pub fn self_signed(cn: &str, org: &str, names: &[&str]) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
        params.subject_alt_names = sans(names);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A self-signed serving certificate with a common name and no organisation, as Traefik
    /// generates its default one.
    pub fn self_signed_cn(cn: &str, names: &[&str]) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans(names);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A client certificate, as kind and vcluster issue them (CN user, O group).
    pub fn client(&self, user: &str, group: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, user);
        params
            .distinguished_name
            .push(DnType::OrganizationName, group);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// What the fake apiserver accepts as credentials.
#[derive(Clone, Default)]
pub struct Auth {
    /// Client certificates signed by this CA (PEM) are accepted.
    pub client_ca_pem: Option<String>,
    /// This bearer token is accepted.
    pub token: Option<String>,
    /// Authenticated, but every SelfSubjectAccessReview answers allowed=false.
    pub deny_all: bool,
}

/// Holds writes whose path contains a pattern, for tests that interrupt a client between two
/// API calls: a held request gets no answer until `release` (or never, when the client dies
/// waiting), and the test is told it arrived, so it acts at that exact point instead of guessing
/// with sleeps.
#[derive(Default)]
pub struct Gate {
    pattern: std::sync::Mutex<Option<String>>,
    held: AtomicUsize,
    released: std::sync::atomic::AtomicBool,
}

impl Gate {
    /// Hold every mutating request whose path contains `pattern` from now on.
    pub fn hold(&self, pattern: &str) {
        self.released.store(false, Ordering::SeqCst);
        *self.pattern.lock().unwrap() = Some(pattern.to_owned());
    }

    /// Answer the held requests, and hold no more.
    pub fn release(&self) {
        *self.pattern.lock().unwrap() = None;
        self.released.store(true, Ordering::SeqCst);
    }

    /// How many requests have been held.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    fn holds(&self, method: &hyper::Method, path: &str) -> bool {
        *method != hyper::Method::GET
            && self
                .pattern
                .lock()
                .unwrap()
                .as_deref()
                .is_some_and(|p| path.contains(p))
    }

    async fn wait(&self) {
        self.held.fetch_add(1, Ordering::SeqCst);
        while !self.released.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

pub struct ApiServer {
    pub addr: SocketAddr,
    /// Writes held on purpose (see `Gate`).
    pub gate: Arc<Gate>,
    /// Requests served, for tests that count calls.
    pub hits: Arc<AtomicUsize>,
    /// TLS handshakes completed, full or resumed (each a connection).
    pub handshakes: Arc<AtomicUsize>,
    /// Of those, the ones that resumed an earlier session (no certificate sent).
    pub resumed: Arc<AtomicUsize>,
    /// The apiserver behind the TLS endpoint: its store, its count of writes.
    pub api: Arc<kube::Api>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiServer {
    /// Serve on `bind` (use port 0 for any free port) with `leaf` as the serving certificate.
    pub fn start(bind: &str, leaf: &Leaf, auth: Auth) -> ApiServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs: Vec<CertificateDer<'static>> = pem_certs(&leaf.cert_pem);
        let key = pem_key(&leaf.key_pem);
        let builder = rustls::ServerConfig::builder();
        let builder = match &auth.client_ca_pem {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in pem_certs(ca) {
                    roots.add(c).unwrap();
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                    .allow_unauthenticated()
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(certs, key).unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let std_listener = std::net::TcpListener::bind(bind).expect("bind test apiserver");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let hits = Arc::new(AtomicUsize::new(0));
        let hits2 = hits.clone();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let handshakes2 = handshakes.clone();
        let resumed = Arc::new(AtomicUsize::new(0));
        let resumed2 = resumed.clone();
        let api = Arc::new(kube::Api::new(kube::Store::new(), "v1.35.0-testkit"));
        let api2 = api.clone();
        let gate = Arc::new(Gate::default());
        let gate2 = gate.clone();
        let auth = Arc::new(auth);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            // Go's net package (kube-apiserver) sets TCP_NODELAY; without it a
                            // split response waits on the client's delayed ACK (~40 ms).
                            let _ = tcp.set_nodelay(true);
                            let acceptor = acceptor.clone();
                            let auth = auth.clone();
                            let hits = hits2.clone();
                            let api = api2.clone();
                            let gate = gate2.clone();
                            let handshakes = handshakes2.clone();
                            let resumed = resumed2.clone();
                            tokio::spawn(async move {
                                let Ok(tls) = acceptor.accept(tcp).await else { return };
                                handshakes.fetch_add(1, Ordering::SeqCst);
                                if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                                    resumed.fetch_add(1, Ordering::SeqCst);
                                }
                                let has_client_cert = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                                let io = hyper_util::rt::TokioIo::new(tls);
                                let svc = hyper::service::service_fn(move |req| {
                                    hits.fetch_add(1, Ordering::Relaxed);
                                    let auth = auth.clone();
                                    let api = api.clone();
                                    let gate = gate.clone();
                                    async move {
                                        if gate.holds(req.method(), req.uri().path()) {
                                            gate.wait().await;
                                        }
                                        Ok::<_, std::convert::Infallible>(answer(req, has_client_cert, &auth, &api).await)
                                    }
                                });
                                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
                            });
                        }
                    }
                }
            });
        });
        ApiServer {
            addr,
            gate,
            hits,
            handshakes,
            resumed,
            api,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Mutating requests served so far (create, update, patch, delete).
    pub fn writes(&self) -> usize {
        self.api.writes()
    }

    /// Put an object in the store at its API path (`/api/v1/namespaces/ns/secrets/name`), as
    /// a controller in a real cluster would: no request, no write counted.
    pub fn seed(&self, path: &str, object: serde_json::Value) {
        let t = kube::server::parse_target(path).expect("an object's API path");
        let name = t.name.clone().expect("an object's API path names it");
        let ns = t.namespace.clone().unwrap_or_default();
        self.api.store.tx(|tx| {
            let res = tx
                .resources()
                .iter()
                .find(|r| r.group == t.group && r.version == t.version && r.plural == t.plural)
                .cloned()
                .expect("a served kind");
            tx.put(
                &res,
                kube::Key::new(&t.group, &t.plural, &ns, &name),
                object,
            );
        });
    }

    /// The object stored at an API path.
    pub fn object(&self, path: &str) -> Option<serde_json::Value> {
        let t = kube::server::parse_target(path)?;
        self.api.store.get(&kube::Key::new(
            &t.group,
            &t.plural,
            &t.namespace.unwrap_or_default(),
            &t.name?,
        ))
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    has_client_cert: bool,
    auth: &Auth,
    api: &kube::Api,
) -> Response<kube::Body> {
    let bearer_ok = match (&auth.token, req.headers().get("authorization")) {
        (Some(t), Some(h)) => h
            .to_str()
            .map(|h| h == format!("Bearer {t}"))
            .unwrap_or(false),
        _ => false,
    };
    let authed = bearer_ok || (has_client_cert && auth.client_ca_pem.is_some());
    if !authed {
        return kube::json_response(
            401,
            &serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
        );
    }
    kube::serve(api, req, !auth.deny_all).await
}

pub fn pem_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap())
        .collect()
}

pub fn pem_key(pem: &str) -> PrivateKeyDer<'static> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .unwrap_or_else(|_| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(Vec::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_with_real_tls() {
        let pki = Pki::new("test-ca");
        let leaf = pki.server(&["localhost", "127.0.0.1"]);
        let srv = ApiServer::start(
            "127.0.0.1:0",
            &leaf,
            Auth {
                token: Some("t".into()),
                ..Default::default()
            },
        );
        assert!(srv.port() > 0);
    }
}
