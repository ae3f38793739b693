//! Test kit: a throwaway PKI (rcgen) and `ApiServer`, a TLS endpoint that answers the few
//! kube-apiserver calls bootstrap makes (`/version`, `/api`, SelfSubjectAccessReview). It is a
//! double, used only because no real kube-apiserver can run on our test machines; TLS, client
//! certificates and bearer tokens are real.

pub mod gateway;
pub mod node;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

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
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*n).try_into().unwrap()),
            })
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A serving certificate with an explicit common name (such as ingress-nginx's fake one).
    pub fn server_with_cn(&self, cn: &str, names: &[&str]) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = names
            .iter()
            .map(|n| SanType::DnsName((*n).try_into().unwrap()))
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
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

/// Objects the double holds, by API path (`/api/v1/namespaces/ns/secrets/name`).
pub type Store = Arc<std::sync::Mutex<std::collections::BTreeMap<String, serde_json::Value>>>;

pub struct ApiServer {
    pub addr: SocketAddr,
    /// Requests served, for tests that count calls.
    pub hits: Arc<AtomicUsize>,
    /// Requests that would change state (anything but GET), for "converged makes no writes".
    pub writes: Arc<AtomicUsize>,
    /// What the double holds; tests may seed it with objects a real controller would create.
    pub store: Store,
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
        let writes = Arc::new(AtomicUsize::new(0));
        let writes2 = writes.clone();
        let store: Store = Default::default();
        let store2 = store.clone();
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
                            let writes = writes2.clone();
                            let store = store2.clone();
                            tokio::spawn(async move {
                                let Ok(tls) = acceptor.accept(tcp).await else { return };
                                let has_client_cert = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                                let io = hyper_util::rt::TokioIo::new(tls);
                                let svc = hyper::service::service_fn(move |req| {
                                    hits.fetch_add(1, Ordering::Relaxed);
                                    if req.method() != hyper::Method::GET {
                                        writes.fetch_add(1, Ordering::Relaxed);
                                    }
                                    let auth = auth.clone();
                                    let store = store.clone();
                                    async move { Ok::<_, std::convert::Infallible>(answer(req, has_client_cert, &auth, &store).await) }
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
            hits,
            writes,
            store,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Put an object in the store at its API path, as a controller in a real cluster would.
    pub fn seed(&self, path: &str, object: serde_json::Value) {
        self.store.lock().unwrap().insert(path.to_owned(), object);
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

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn status_body(code: u16, reason: &str, message: &str) -> String {
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{message}","reason":"{reason}","code":{code}}}"#
    )
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    has_client_cert: bool,
    auth: &Auth,
    store: &Store,
) -> Response<Full<Bytes>> {
    let bearer_ok = match (&auth.token, req.headers().get("authorization")) {
        (Some(t), Some(h)) => h
            .to_str()
            .map(|h| h == format!("Bearer {t}"))
            .unwrap_or(false),
        _ => false,
    };
    let authed = bearer_ok || (has_client_cert && auth.client_ca_pem.is_some());
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if !authed {
        return json(
            StatusCode::UNAUTHORIZED,
            status_body(401, "Unauthorized", "Unauthorized"),
        );
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/version") => json(
            StatusCode::OK,
            r#"{"major":"1","minor":"35","gitVersion":"v1.35.0-testkit","platform":"linux/amd64"}"#.into(),
        ),
        ("GET", "/api") => json(
            StatusCode::OK,
            r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}"#.into(),
        ),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") => json(
            StatusCode::CREATED,
            format!(
                r#"{{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","metadata":{{}},"spec":{{"resourceAttributes":{{"verb":"list","resource":"namespaces"}}}},"status":{{"allowed":{}}}}}"#,
                !auth.deny_all
            ),
        ),
        ("GET", "/api/v1") => json(StatusCode::OK, discovery("v1", &[("secrets", "Secret", true), ("namespaces", "Namespace", false)])),
        ("GET", "/apis/networking.k8s.io/v1") => json(
            StatusCode::OK,
            discovery("networking.k8s.io/v1", &[("ingresses", "Ingress", true)]),
        ),
        _ => object(method.as_str(), &path, &body, store),
    }
}

fn discovery(gv: &str, resources: &[(&str, &str, bool)]) -> String {
    node::discovery(gv, resources).to_string()
}

/// The object store: server-side apply (PATCH) stores the object, GET reads, DELETE removes.
fn object(method: &str, path: &str, body: &[u8], store: &Store) -> Response<Full<Bytes>> {
    let not_found = || {
        json(
            StatusCode::NOT_FOUND,
            status_body(404, "NotFound", "not found"),
        )
    };
    let mut objects = store.lock().unwrap();
    match method {
        "GET" => match objects.get(path) {
            Some(v) => json(StatusCode::OK, v.to_string()),
            None => not_found(),
        },
        "PATCH" => {
            let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) else {
                return json(
                    StatusCode::BAD_REQUEST,
                    status_body(400, "BadRequest", "body is not JSON"),
                );
            };
            let created = !objects.contains_key(path);
            v["metadata"]["uid"] = serde_json::json!(format!("uid-{}", objects.len()));
            v["metadata"]["resourceVersion"] = serde_json::json!("1");
            objects.insert(path.to_owned(), v.clone());
            json(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                v.to_string(),
            )
        }
        "DELETE" => match objects.remove(path) {
            Some(_) => json(
                StatusCode::OK,
                r#"{"kind":"Status","apiVersion":"v1","status":"Success"}"#.into(),
            ),
            None => not_found(),
        },
        _ => not_found(),
    }
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
