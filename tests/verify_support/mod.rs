//! Shared by the verify integration tests: kubeconfig files, a real nginx routing by SNI the way
//! ingress-nginx passthrough does, and tool checks that fail under CI and skip elsewhere.
#![allow(dead_code)]

use base64::Engine as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{Leaf, Pki};

/// Is `tool` usable? Under CI a missing tool fails the test; elsewhere the test skips.
pub fn need(tool: &str, probe_args: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!(
                "`{tool}` is required for this test (CI is set) but `{tool} {}` failed",
                probe_args.join(" ")
            );
        }
        eprintln!("skipping: `{tool}` is not available");
    }
    ok
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_listening(addr: &str, within: Duration) {
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < within,
            "{addr} did not start listening within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One context of a test kubeconfig.
#[derive(Clone, Default)]
pub struct Ctx {
    pub name: String,
    pub server: String,
    pub tls_server_name: Option<String>,
    pub ca_pem: Option<String>,
    pub client: Option<Leaf>,
    pub token: Option<String>,
}

impl Ctx {
    pub fn new(name: &str, server: &str, ca_pem: &str) -> Ctx {
        Ctx {
            name: name.into(),
            server: server.into(),
            ca_pem: Some(ca_pem.into()),
            ..Default::default()
        }
    }
    pub fn sni(mut self, name: &str) -> Ctx {
        self.tls_server_name = Some(name.into());
        self
    }
    pub fn client(mut self, leaf: &Leaf) -> Ctx {
        self.client = Some(leaf.clone());
        self
    }
    pub fn token(mut self, t: &str) -> Ctx {
        self.token = Some(t.into());
        self
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn kubeconfig_yaml(contexts: &[Ctx]) -> String {
    let mut clusters = String::new();
    let mut users = String::new();
    let mut ctxs = String::new();
    for c in contexts {
        clusters.push_str(&format!(
            "- name: {n}\n  cluster:\n    server: {s}\n",
            n = c.name,
            s = c.server
        ));
        if let Some(sni) = &c.tls_server_name {
            clusters.push_str(&format!("    tls-server-name: {sni}\n"));
        }
        if let Some(ca) = &c.ca_pem {
            clusters.push_str(&format!("    certificate-authority-data: {}\n", b64(ca)));
        }
        users.push_str(&format!("- name: {}\n  user:", c.name));
        let mut empty = true;
        if let Some(l) = &c.client {
            users.push_str(&format!(
                "\n    client-certificate-data: {}\n    client-key-data: {}",
                b64(&l.cert_pem),
                b64(&l.key_pem)
            ));
            empty = false;
        }
        if let Some(t) = &c.token {
            users.push_str(&format!("\n    token: {t}"));
            empty = false;
        }
        users.push_str(if empty { " {}\n" } else { "\n" });
        ctxs.push_str(&format!(
            "- name: {n}\n  context:\n    cluster: {n}\n    user: {n}\n",
            n = c.name
        ));
    }
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n{users}contexts:\n{ctxs}current-context: {}\n",
        contexts.first().map(|c| c.name.as_str()).unwrap_or("")
    )
}

pub fn write_kubeconfig(dir: &Path, contexts: &[Ctx]) -> PathBuf {
    let path = dir.join("kubeconfig");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(kubeconfig_yaml(contexts).as_bytes()).unwrap();
    path
}

/// What the nginx double in front of the test servers does.
pub struct NginxPorts {
    /// The passthrough router: SNI `routes` go to their backends, anything else to `default_backend`.
    pub router: u16,
    /// Plain HTTP (nginx's http module).
    pub plain_http: u16,
    /// A non-HTTP, non-TLS service that speaks first (an SSH banner, from the stream module).
    pub banner: u16,
    /// A TLS web server (the forbidden certificate) answering 200 with an HTML page.
    pub web: u16,
    /// TLS-terminating HTTP that answers every request 403, as an API server does for a user
    /// without RBAC on the path.
    pub forbidden: u16,
}

/// A real nginx (Debian's, stream module, ssl_preread). Killed on drop.
pub struct Nginx {
    child: Child,
    pub ports: NginxPorts,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub fn start(routes: &[(&str, u16)], default_backend: u16, forbidden_leaf: &Leaf) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::write(dir.path().join("forbidden.crt"), &forbidden_leaf.cert_pem).unwrap();
        std::fs::write(dir.path().join("forbidden.key"), &forbidden_leaf.key_pem).unwrap();
        let ports = NginxPorts {
            router: free_port(),
            plain_http: free_port(),
            banner: free_port(),
            forbidden: free_port(),
            web: free_port(),
        };
        let map: String = routes
            .iter()
            .map(|(host, port)| format!("      {host} 127.0.0.1:{port};\n"))
            .collect();
        let forbidden_body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"forbidden: User \\"dev\\" cannot get path \\"/version\\"","reason":"Forbidden","code":403}"#;
        let conf = format!(
            r#"load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
stream {{
  map $ssl_preread_server_name $backend {{
{map}      default 127.0.0.1:{default_backend};
  }}
  server {{
    listen 127.0.0.1:{router};
    ssl_preread on;
    proxy_pass $backend;
  }}
  server {{
    listen 127.0.0.1:{banner};
    return "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
  }}
}}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{plain};
    location / {{ return 200 "hello from plain http\n"; }}
  }}
  server {{
    listen 127.0.0.1:{web} ssl;
    ssl_certificate {d}/forbidden.crt;
    ssl_certificate_key {d}/forbidden.key;
    location / {{
      default_type text/html;
      return 200 "<html><body>Welcome to nginx!</body></html>";
    }}
  }}
  server {{
    listen 127.0.0.1:{forbidden} ssl;
    ssl_certificate {d}/forbidden.crt;
    ssl_certificate_key {d}/forbidden.key;
    location / {{
      default_type application/json;
      return 403 '{forbidden_body}';
    }}
  }}
}}
"#,
            router = ports.router,
            banner = ports.banner,
            plain = ports.plain_http,
            forbidden = ports.forbidden,
            web = ports.web,
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut n = Nginx {
            child,
            ports,
            _dir: dir,
        };
        for p in [
            n.ports.router,
            n.ports.plain_http,
            n.ports.banner,
            n.ports.forbidden,
            n.ports.web,
        ] {
            let addr = format!("127.0.0.1:{p}");
            let start = Instant::now();
            while std::net::TcpStream::connect(&addr).is_err() {
                if let Ok(Some(status)) = n.child.try_wait() {
                    let log = std::fs::read_to_string(n._dir.path().join("error.log"))
                        .unwrap_or_default();
                    panic!("nginx exited ({status}): {log}");
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "nginx did not listen on {addr}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        n
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PKI whose server certificate carries the names ingress-nginx's default certificate has.
pub fn fake_router_pki() -> (Pki, Leaf) {
    let pki = Pki::new("Kubernetes Ingress Controller Fake Certificate");
    let leaf = pki.server(&["ingress.local"]);
    (pki, leaf)
}
