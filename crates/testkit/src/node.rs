//! A DOUBLE of a kind node, for the full `up`/`up`/`down` journeys: no kind node image, kubelet
//! or container runtime can be had here. It runs in a container started by the kind double
//! (tests/doubles/kind) and serves two ports.
//!
//! - 6443, the API: the kube-apiserver double of `crate::kube` (real REST, discovery, OpenAPI
//!   v3, server-side apply, watches; controllers played from what was applied, see
//!   `kube::controllers`). The Helm engine installs the real charts into it. Clients
//!   authenticate with certificates signed by the node's CA (kind's admin kubeconfig).
//! - 443, what kind maps the router's host port to: whatever the applied objects make listen
//!   there (`router`). With no running ingress-nginx controller that binds host port 443 the
//!   connection is refused. A controller without `--enable-ssl-passthrough`, or a hostname no
//!   passthrough Ingress of a class it serves names, gets its default "Fake" certificate and
//!   nginx's 404. A passthrough hostname goes to its backend Service and, if that Service
//!   selects a running vcluster on its proxy port, to that vcluster; otherwise the connection
//!   closes (a Service without endpoints).
//!
//! Each vcluster (`vcluster`) is played from its StatefulSet, its config Secret
//! (`vc-config-<release>`, the chart's rendered config) and its Service: when the StatefulSet
//! is ready it "starts": a CA kept for its lifetime, an admin client certificate, a serving
//! certificate holding exactly the names vcluster's cert.go derives from that config (new ones
//! on each restart, i.e. a new pod template revision, as the real pod regenerates it in
//! memory), its own apiserver double, and the `vc-<release>` Secret with the keys the real
//! one writes. Nothing appears before its StatefulSet is applied.
//!
//! TLS, certificates and authentication are real; the cluster behind them is simulated.

pub mod router;
pub mod vcluster;

use crate::kube::{Api, Key, Store, Tx};
use crate::{pem_certs, pem_key, Leaf, Pki};
use router::{Answer, Fallback};
use rustls::server::{Acceptor, WebPkiClientVerifier};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const FAKE_CERT_CN: &str = "Kubernetes Ingress Controller Fake Certificate";
/// Traefik's generated default certificate: self-signed, CN `TRAEFIK DEFAULT CERT`, one DNS name
/// `<32 hex>.<32 hex>.traefik.default` from random bytes (traefik/traefik v3.7.9:
/// pkg/tls/generate/generate.go `DefaultCertificate`, `derCert`).
pub const TRAEFIK_CERT_CN: &str = "TRAEFIK DEFAULT CERT";
/// What Traefik answers a request no router takes: Go's `http.NotFound`.
const TRAEFIK_404: &str = "404 page not found\n";

/// What nginx's default server answers (kubernetes/ingress-nginx rootfs/etc/nginx/template).
const NGINX_404: &str = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// One vcluster's running state.
struct Runtime {
    ca: Pki,
    admin: Leaf,
    /// The pod template revision this incarnation started with.
    revision: String,
    names: Vec<String>,
    tls: Arc<rustls::ServerConfig>,
    api: Arc<Api>,
    running: bool,
}

type Runtimes = Arc<Mutex<BTreeMap<(String, String), Runtime>>>;

pub struct Node {
    pub node_name: String,
    host_pki: Pki,
    pub admin: Leaf,
    /// The host cluster's kube-apiserver double; its writes are readable at GET /double/writes.
    pub host: Arc<Api>,
    vclusters: Runtimes,
    host_tls: Arc<rustls::ServerConfig>,
    fake_tls: Arc<rustls::ServerConfig>,
    traefik_tls: Arc<rustls::ServerConfig>,
}

/// TLS for an apiserver: `leaf`, and client certificates signed by `client_ca` (anonymous
/// connections are let through the handshake and refused per request, 401).
fn server_config(leaf: &Leaf, client_ca: Option<&str>) -> Arc<rustls::ServerConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in pem_certs(ca) {
                roots.add(c).unwrap();
            }
            builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder(Arc::new(roots))
                    .allow_unauthenticated()
                    .build()
                    .unwrap(),
            )
        }
        None => builder.with_no_client_auth(),
    };
    let mut c = builder
        .with_single_cert(pem_certs(&leaf.cert_pem), pem_key(&leaf.key_pem))
        .unwrap();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

/// A pod IP in kind's default pod subnet (10.244.0.0/16), stable per vcluster.
fn pod_ip(namespace: &str, name: &str) -> String {
    let h = format!("{namespace}/{name}")
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    format!("10.244.0.{}", 2 + h % 250)
}

impl Runtime {
    fn new() -> Runtime {
        let ca = Pki::new("kubernetes");
        let admin = ca.client("kubernetes-super-admin", "system:masters");
        let placeholder = ca.server(&["localhost"]);
        Runtime {
            tls: server_config(&placeholder, Some(&ca.ca_pem)),
            ca,
            admin,
            revision: String::new(),
            names: vec![],
            api: Arc::new(Api::new(Store::new(), "v0.0.0")),
            running: false,
        }
    }

    /// A new incarnation: the serving certificate and version from the config as applied now.
    /// The virtual cluster's own objects persist (its data volume is kept).
    fn start(&mut self, i: &vcluster::Instance, svc: Option<&Value>) {
        self.names = vcluster::serving_names(i, svc, &pod_ip(&i.namespace, &i.name));
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let mut serving = self.ca.server_with_cn("kube-apiserver", &names);
        // cert.go serves the certificate followed by its CA.
        serving.cert_pem.push_str(&self.ca.ca_pem);
        self.tls = server_config(&serving, Some(&self.ca.ca_pem));
        let version = format!("{}+vcluster-double", vcluster::kubernetes_version(i));
        self.api = Arc::new(Api::new(self.api.store.clone(), &version));
        self.revision = i.revision.clone();
    }
}

/// The kinds the router and the vclusters are derived from (not every object is copied for
/// each connection and each write: CRDs can be large).
fn relevant(k: &Key) -> bool {
    matches!(
        (k.group.as_str(), k.plural.as_str()),
        ("apps", "deployments" | "daemonsets" | "statefulsets")
            | ("", "services" | "secrets" | "nodes")
            | ("", "namespaces")
            | ("networking.k8s.io", "ingresses" | "ingressclasses")
            | (
                "gateway.networking.k8s.io",
                "gatewayclasses" | "gateways" | "tlsroutes" | "referencegrants"
            )
    ) && (k.plural != "secrets" || k.name.starts_with("vc-config-"))
}

/// The reactor playing every vcluster the host's objects describe.
fn play_vclusters(tx: &mut Tx, runtimes: &Mutex<BTreeMap<(String, String), Runtime>>) {
    let objects: Vec<(Key, Value)> = tx
        .iter()
        .filter(|(k, _)| relevant(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let instances = vcluster::instances(&objects);
    let mut all = runtimes.lock().unwrap();
    for r in all.values_mut() {
        r.running = false;
    }
    for i in &instances {
        let svc = vcluster::service(&objects, &i.namespace, &i.name);
        if !i.ready || vcluster::cannot_start(i, svc).is_some() {
            continue;
        }
        // The CA is kept across restarts and reinstalls, as vcluster keeps its certs Secret.
        let rt = all
            .entry((i.namespace.clone(), i.name.clone()))
            .or_insert_with(Runtime::new);
        if rt.revision != i.revision {
            rt.start(i, svc);
        }
        rt.running = true;
        let mut secret = vcluster::kubeconfig_secret(
            i,
            svc,
            &rt.ca.ca_pem,
            &rt.admin.cert_pem,
            &rt.admin.key_pem,
        );
        let key = Key::new("", "secrets", &i.namespace, &format!("vc-{}", i.name));
        let now = tx.now.clone();
        crate::kube::patch::record_update(tx.get(&key), &mut secret, "vcluster", &now);
        let res = tx.resource("", "secrets").expect("secrets are served");
        tx.put(&res, key, secret);
    }
}

impl Node {
    pub fn new(node_name: &str) -> Arc<Node> {
        Self::with_config(node_name, &[], &BTreeMap::new())
    }

    /// The node as kind makes it from its config: the API server's certificate also holds
    /// `cert_sans` (kubeadm's certSANs, from the config's ClusterConfiguration patch), and the
    /// Node object carries `labels` (kubelet's --node-labels) besides kubelet's own.
    pub fn with_config(
        node_name: &str,
        cert_sans: &[String],
        labels: &BTreeMap<String, String>,
    ) -> Arc<Node> {
        let host_pki = Pki::new("kubernetes");
        let mut names = vec!["localhost", "127.0.0.1", node_name, "kubernetes"];
        for s in cert_sans {
            if !names.contains(&s.as_str()) {
                names.push(s);
            }
        }
        let serving = host_pki.server(&names);
        let admin = host_pki.client("kubernetes-admin", "system:masters");
        let fake = Pki::self_signed(FAKE_CERT_CN, "Acme Co", &["ingress.local"]);
        // Traefik draws the two hex labels from random bytes; any name of that shape will do.
        let traefik = Pki::self_signed_cn(
            TRAEFIK_CERT_CN,
            &["5f0c3c1b2a9e8d7c6b5a4f3e2d1c0b9a.8f7e6d5c4b3a29180f1e2d3c4b5a6978.traefik.default"],
        );
        let store = Store::new();
        let vclusters: Runtimes = Default::default();
        let playing = vclusters.clone();
        store.add_reactor(Arc::new(move |tx: &mut Tx| play_vclusters(tx, &playing)));
        // The node itself, as kubelet registers it: kubelet's own labels, then the config's
        // (--node-labels), as `kubectl get node -o yaml` shows them.
        let mut all = BTreeMap::from([
            ("kubernetes.io/hostname".to_owned(), node_name.to_owned()),
            ("kubernetes.io/os".to_owned(), "linux".to_owned()),
            ("kubernetes.io/arch".to_owned(), "amd64".to_owned()),
            (
                "node-role.kubernetes.io/control-plane".to_owned(),
                String::new(),
            ),
        ]);
        all.extend(labels.clone());
        store.tx(|tx| {
            let res = tx.resource("", "nodes").expect("nodes are served");
            tx.put(&res, Key::new("", "nodes", "", node_name), json!({"metadata": {"labels": all},
                "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}));
        });
        Arc::new(Node {
            node_name: node_name.to_owned(),
            host_tls: server_config(&serving, Some(&host_pki.ca_pem)),
            fake_tls: server_config(&fake, None),
            traefik_tls: server_config(&traefik, None),
            host_pki,
            admin,
            host: Arc::new(Api::new(store, "v1.35.0+kind-node-double")),
            vclusters,
        })
    }

    /// kind's other nodes, as their kubelets register them with this control plane: a Node each
    /// (kubelet's own labels; control planes also kubeadm's role label). kind removes the control
    /// planes' NoSchedule taint only when the cluster has no workers.
    pub fn add_nodes(&self, control_planes: &[String], workers: &[String]) {
        if control_planes.is_empty() && workers.is_empty() {
            return;
        }
        self.host.store.tx(|tx| {
            let res = tx.resource("", "nodes").expect("nodes are served");
            let taints = if workers.is_empty() {
                json!([])
            } else {
                json!([{ "key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule" }])
            };
            for (name, control_plane) in control_planes
                .iter()
                .map(|n| (n, true))
                .chain(workers.iter().map(|n| (n, false)))
            {
                let mut labels = json!({
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                });
                let mut node = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
                if control_plane {
                    labels["node-role.kubernetes.io/control-plane"] = json!("");
                    node["spec"] = json!({ "taints": taints });
                }
                node["metadata"] = json!({ "labels": labels });
                tx.put(&res, Key::new("", "nodes", "", name), node);
            }
            let key = Key::new("", "nodes", "", &self.node_name);
            if let Some(mut me) = tx.get(&key).cloned() {
                me["spec"]["taints"] = taints.clone();
                tx.put(&res, key, me);
            }
        });
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

    /// The names in a running vcluster's serving certificate (for tests and diagnosis).
    pub fn vcluster_names(&self, namespace: &str, name: &str) -> Option<Vec<String>> {
        let all = self.vclusters.lock().unwrap();
        all.get(&(namespace.into(), name.into()))
            .filter(|r| r.running)
            .map(|r| r.names.clone())
    }
}

fn unauthorized() -> hyper::Response<crate::kube::Body> {
    crate::kube::json_response(
        401,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 401, "reason": "Unauthorized", "message": "Unauthorized"}),
    )
}

/// Serve HTTP on an established TLS stream with `api`, or the router's 404 when `api` is None.
async fn serve_http<S>(
    tls: tokio_rustls::server::TlsStream<S>,
    api: Option<Arc<Api>>,
    node: Option<Arc<Node>>,
    not_found: &'static str,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let authed = tls
        .get_ref()
        .1
        .peer_certificates()
        .is_some_and(|c| !c.is_empty());
    let io = hyper_util::rt::TokioIo::new(tls);
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let api = api.clone();
        let node = node.clone();
        async move {
            let Some(api) = api else {
                let kind = if not_found == NGINX_404 {
                    "text/html"
                } else {
                    "text/plain; charset=utf-8"
                };
                return Ok::<_, std::convert::Infallible>(crate::kube::full(404, kind, not_found));
            };
            if !authed {
                return Ok(unauthorized());
            }
            if let (Some(node), "/double/writes") = (&node, req.uri().path()) {
                return Ok(crate::kube::json_response(
                    200,
                    &json!({"writes": node.host.writes()}),
                ));
            }
            Ok(crate::kube::serve(&api, req, true).await)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .await;
}

/// kind's load balancer: every connection to `listen` is passed to `target` untouched (TLS
/// included, as haproxy does in kind's `tcp` mode).
pub async fn forward(listen: &str, target: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    loop {
        let (mut inbound, _) = listener.accept().await?;
        let target = target.to_owned();
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// One connection to the node's 443, answered as the applied objects say.
async fn route(node: Arc<Node>, tcp: tokio::net::TcpStream) {
    let objects = router::scheduled_on(node.host.store.select(relevant), &node.node_name);
    if router::answer(&objects, None) == Answer::Nobody {
        return; // nothing listens on 443: the connection is dropped
    }
    let Ok(start) = tokio_rustls::LazyConfigAcceptor::new(Acceptor::default(), tcp).await else {
        return;
    };
    let sni = start.client_hello().server_name().map(str::to_owned);
    match router::answer(&objects, sni.as_deref()) {
        Answer::Nobody => {}
        Answer::DefaultCertificate(which) => {
            let (config, not_found) = match which {
                Fallback::IngressNginx => (node.fake_tls.clone(), NGINX_404),
                Fallback::Traefik => (node.traefik_tls.clone(), TRAEFIK_404),
            };
            if let Ok(tls) = start.into_stream(config).await {
                serve_http(tls, None, None, not_found).await;
            }
        }
        Answer::Passthrough {
            namespace,
            service,
            port,
        } => {
            let instances = vcluster::instances(&objects);
            let Some(i) = vcluster::behind(&objects, &instances, &namespace, &service, &port)
            else {
                return; // a Service without endpoints: the proxied connection fails
            };
            let running = {
                let all = node.vclusters.lock().unwrap();
                all.get(&(i.namespace.clone(), i.name.clone()))
                    .filter(|r| r.running)
                    .map(|r| (r.tls.clone(), r.api.clone()))
            };
            let Some((config, api)) = running else { return };
            if let Ok(tls) = start.into_stream(config).await {
                serve_http(tls, Some(api), None, NGINX_404).await;
            }
        }
    }
}

/// Serve the API on `api` and the router on `router` until the process ends.
pub async fn serve(
    node: Arc<Node>,
    api: std::net::SocketAddr,
    router: std::net::SocketAddr,
) -> std::io::Result<()> {
    let api_listener = tokio::net::TcpListener::bind(api).await?;
    let router_listener = tokio::net::TcpListener::bind(router).await?;
    let api_node = node.clone();
    let apis = async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(api_node.host_tls.clone());
        loop {
            let Ok((tcp, _)) = api_listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, node) = (acceptor.clone(), api_node.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let host = node.host.clone();
                    serve_http(tls, Some(host), Some(node), NGINX_404).await;
                }
            });
        }
    };
    let routes = async move {
        loop {
            let Ok((tcp, _)) = router_listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(route(node.clone(), tcp));
        }
    };
    tokio::join!(apis, routes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn put(node: &Node, group: &str, plural: &str, ns: &str, name: &str, obj: Value) {
        node.host.store.tx(|tx| {
            let res = tx.resource(group, plural).unwrap();
            tx.put(&res, Key::new(group, plural, ns, name), obj);
        });
    }

    fn config(extra_sans: &[&str]) -> Value {
        let yaml = format!(
            "controlPlane:\n  ingress: {{host: my-host.com}}\n  proxy: {{port: 8443, extraSANs: [{}]}}\nexportKubeConfig: {{server: 'https://vc.dev.svc:443'}}\n",
            extra_sans.join(", ")
        );
        json!({"data": {"config.yaml": base64::engine::general_purpose::STANDARD.encode(yaml)}})
    }

    fn statefulset(hash: &str) -> Value {
        json!({"metadata": {"labels": {"app": "vcluster", "chart": "vcluster-0.26.0", "release": "vc"}},
            "spec": {"template": {"metadata": {"annotations": {"vClusterConfigHash": hash}, "labels": {"app": "vcluster", "release": "vc"}}}}})
    }

    #[test]
    fn a_vcluster_exists_only_once_its_statefulset_is_applied_and_restarts_with_new_names() {
        let node = Node::new("n-control-plane");
        let secret = Key::new("", "secrets", "dev", "vc-vc");
        put(&node, "", "namespaces", "", "dev", json!({}));
        put(
            &node,
            "",
            "secrets",
            "dev",
            "vc-config-vc",
            config(&["dev.example"]),
        );
        put(
            &node,
            "",
            "services",
            "dev",
            "vc",
            json!({"spec": {"selector": {"app": "vcluster", "release": "vc"},
            "ports": [{"name": "https", "port": 443, "targetPort": 8443}]}}),
        );
        assert!(
            node.host.store.get(&secret).is_none(),
            "no vcluster before its StatefulSet"
        );
        assert!(node.vcluster_names("dev", "vc").is_none());

        put(&node, "apps", "statefulsets", "dev", "vc", statefulset("1"));
        let s = node
            .host
            .store
            .get(&secret)
            .expect("the vcluster wrote its kubeconfig");
        // Sorted: the workspace builds serde_json with preserve_order.
        let mut keys: Vec<&str> = s["data"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "certificate-authority",
                "client-certificate",
                "client-key",
                "config",
                "token"
            ]
        );
        assert_eq!(s["metadata"]["managedFields"][0]["manager"], "vcluster");
        let names = node.vcluster_names("dev", "vc").unwrap();
        assert!(
            names.contains(&"dev.example".to_owned()) && names.contains(&"my-host.com".to_owned()),
            "{names:?}"
        );

        // A new config without the name: same certificate until the pod restarts...
        put(&node, "", "secrets", "dev", "vc-config-vc", config(&[]));
        assert!(node
            .vcluster_names("dev", "vc")
            .unwrap()
            .contains(&"dev.example".to_owned()));
        // ...which a new pod template (the chart's config hash annotation) makes it do.
        put(&node, "apps", "statefulsets", "dev", "vc", statefulset("2"));
        assert!(!node
            .vcluster_names("dev", "vc")
            .unwrap()
            .contains(&"dev.example".to_owned()));
        let ca_before = s["data"]["certificate-authority"].clone();
        assert_eq!(
            node.host.store.get(&secret).unwrap()["data"]["certificate-authority"],
            ca_before,
            "the CA is kept"
        );

        // Uninstall: the Service goes, and with it the Secret it owns.
        node.host
            .store
            .tx(|tx| tx.delete(&Key::new("apps", "statefulsets", "dev", "vc"), false));
        node.host
            .store
            .tx(|tx| tx.delete(&Key::new("", "services", "dev", "vc"), false));
        assert!(node.host.store.get(&secret).is_none());
        assert!(node.vcluster_names("dev", "vc").is_none());
    }

    #[test]
    fn a_vcluster_without_its_service_does_not_start() {
        let node = Node::new("n-control-plane");
        put(&node, "", "namespaces", "", "dev", json!({}));
        put(&node, "", "secrets", "dev", "vc-config-vc", config(&[]));
        put(&node, "apps", "statefulsets", "dev", "vc", statefulset("1"));
        assert!(node
            .host
            .store
            .get(&Key::new("", "secrets", "dev", "vc-vc"))
            .is_none());
    }
}
