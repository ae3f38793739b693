//! Shared helpers for the tests on a real Docker engine: images, the kind double, unique names,
//! free ports, environment files, bounded runs of the binary, and cleanup by label.
#![allow(dead_code)]

pub mod charts;
pub mod crds;
pub mod full;
pub mod helm;
pub mod proxy;
pub mod registry;
pub mod spawns;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
/// What the kind double runs as a node: the kind node double (crates/testkit), which answers as a
/// kube-apiserver with real TLS, so `up` runs whole.
pub const NODE_IMAGE: &str = "bootstrap-test/kind-node:latest";
/// The same bits under another tag, to make node-image drift.
pub const NODE_IMAGE_V2: &str = "bootstrap-test/kind-node:v2";

/// The kind node double image built from this checkout, under a tag of its own binary's sum.
/// `bootstrap-test/kind-node:latest` is one tag on a shared engine: another checkout's tests may
/// rebuild it from other sources between our build and our `kind create`. The journeys pin the
/// bits they were built with (the kind double runs any `bootstrap-test/kind-node*` as the node).
pub fn node_image() -> String {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        // Where cargo put it: `CARGO_TARGET_DIR` when set (relative to where cargo ran, the
        // checkout), as node-image.sh reads it too.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "target".into());
        let bin = repo().join(target).join("debug/kind-node-double");
        let out = Command::new("sha256sum").arg(&bin).output().unwrap();
        let sum: String = String::from_utf8_lossy(&out.stdout).chars().take(16).collect();
        assert_eq!(sum.len(), 16, "sha256sum {}", bin.display());
        let tag = format!("bootstrap-test/kind-node:sum-{sum}");
        let label = |image: &str| {
            Command::new("docker")
                .args(["image", "inspect", "-f", "{{index .Config.Labels \"bin-sum\"}}", image])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        for _ in 0..5 {
            if label(&tag) == sum {
                return tag;
            }
            let built = Command::new(repo().join("tests/support/node-image.sh"))
                .output()
                .unwrap();
            assert!(
                built.status.success(),
                "node-image.sh: {}",
                String::from_utf8_lossy(&built.stderr)
            );
            if label(NODE_IMAGE) == sum {
                let _ = docker_status(&["tag", NODE_IMAGE, &tag]);
            }
        }
        panic!("could not pin the kind node image built from {} (another checkout keeps rebuilding {NODE_IMAGE})", bin.display());
    })
    .clone()
}

/// The router a journey's environment file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterUnderTest {
    /// ingress-nginx 4.14.1 with SSL passthrough (the seeds' stack).
    IngressNginx,
    /// `router.kind: gateway-api`: Traefik 41.3.0, our Gateway and TLSRoutes (envs/gateway.yaml).
    GatewayApi,
}

impl RouterUnderTest {
    /// The file's `router:` block, charts from `repo_url`.
    pub fn yaml(self, repo_url: &str, https_port: u16) -> String {
        match self {
            RouterUnderTest::IngressNginx => format!("router:\n  domain: cnoe.localtest.me\n  httpsPort: {https_port}\n  chart: {{repo: '{repo_url}', name: ingress-nginx, version: 4.14.1}}\n"),
            RouterUnderTest::GatewayApi => format!("router:\n  kind: gateway-api\n  passthrough: true\n  domain: cnoe.localtest.me\n  httpsPort: {https_port}\n  chart: {{repo: '{repo_url}', name: traefik, version: 41.3.0}}\n"),
        }
    }

    /// The release `up` installs for it (namespace/name).
    pub fn release(self) -> &'static str {
        match self {
            RouterUnderTest::IngressNginx => "ingress-nginx/ingress-nginx",
            RouterUnderTest::GatewayApi => "traefik/traefik",
        }
    }

    /// What the user's cache must hold for `up` offline: the Gateway API CRDs' release asset.
    pub fn seed_cache(self, cache_root: &Path) {
        if self == RouterUnderTest::GatewayApi {
            crds::seed_cache(cache_root);
        }
    }
}

/// Docker must answer. Under CI its absence is a failure; elsewhere the test is skipped, loudly.
pub fn docker_or_skip(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("{test}: Docker is required under CI but `docker version` failed: start dockerd and make /var/run/docker.sock reachable");
        }
        eprintln!("SKIPPED {test}: no Docker engine answers (`docker version` failed)");
        return false;
    }
    static IMAGES: Once = Once::new();
    IMAGES.call_once(|| {
        let out = Command::new(repo().join("tests/support/make-images.sh"))
            .output()
            .expect("run make-images.sh");
        assert!(
            out.status.success(),
            "make-images.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(repo().join("tests/support/node-image.sh"))
            .output()
            .expect("run node-image.sh");
        assert!(
            out.status.success(),
            "node-image.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    true
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bootstrap"))
}

pub fn kind_double() -> PathBuf {
    repo().join("tests/doubles/kind")
}

/// A cluster name no other test (or engineer on this engine) uses; short, since kind names
/// `<name>-control-plane` and the file's validation caps the length.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "bt{prefix}{}x{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A port free on all addresses right now, never the same one twice in this test binary, and
/// below Linux's ephemeral range (32768+) so that no outgoing connection takes it meanwhile.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id().wrapping_mul(2_654_435_761)
        | 1;
    loop {
        // xorshift: spread over 20000..32000, no crate needed.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let p = 20_000 + (x % 12_000) as u16;
        if given.contains(&p) || std::net::TcpListener::bind(("0.0.0.0", p)).is_err() {
            continue;
        }
        given.push(p);
        return p;
    }
}

/// The cluster part of an environment: API on 127.0.0.1:<api>, node 443 on 0.0.0.0:<https>.
pub struct Spec {
    pub name: String,
    pub api_port: u16,
    pub https_port: u16,
    pub image: Option<String>,
}

impl Spec {
    pub fn new(name: &str) -> Spec {
        Spec {
            name: name.into(),
            api_port: free_port(),
            https_port: free_port(),
            image: Some(NODE_IMAGE.into()),
        }
    }

    pub fn yaml(&self) -> String {
        let image = self
            .image
            .as_ref()
            .map(|i| format!("  nodeImage: {i}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: bootstrap/v1alpha1\nrouter:\n  httpsPort: {https}\ncluster:\n  name: {name}\n{image}  apiServer:\n    address: 127.0.0.1\n    port: {api}\n  portMappings:\n    - containerPort: 443\n      hostPort: {https}\n",
            https = self.https_port,
            name = self.name,
            api = self.api_port,
        )
    }

    pub fn write(&self, dir: &Path) -> PathBuf {
        let p = dir.join(format!("{}.yaml", self.name));
        std::fs::write(&p, self.yaml()).unwrap();
        p
    }
}

/// Removes every container labelled with the cluster's name when the test ends, pass or fail.
pub struct Cleanup(pub Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            remove_cluster(name);
        }
    }
}

pub fn remove_cluster(name: &str) {
    let ids = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label={CLUSTER_LABEL}={name}"),
    ]);
    for id in ids.split_whitespace() {
        let _ = docker_status(&["rm", "-f", "-v", id]);
    }
}

/// Removes named containers at the end of a test.
pub struct Containers(pub Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = docker_status(&["rm", "-f", c]);
        }
    }
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn docker_status(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The node containers of a cluster, by name.
pub fn nodes(name: &str) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={CLUSTER_LABEL}={name}"),
        "--format",
        "{{.Names}}",
    ]);
    out.lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn text(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run bootstrap with the kind double, a private HOME and KUBECONFIG, bounded in time.
pub fn bootstrap(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("BOOTSTRAP_KIND", kind_double())
        // Tests never reach the internet: a missing tool is reported, not downloaded.
        .env("BOOTSTRAP_OFFLINE", "1")
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("kubeconfig"))
        .env_remove("DOCKER_HOST")
        .env_remove("BOOTSTRAP_API_PORT")
        .env_remove("BOOTSTRAP_NODE_IMAGE")
        .env_remove("BOOTSTRAP_CLUSTER_NAME");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = run_bounded(cmd, Duration::from_secs(120));
    // kind must never have written the user's kubeconfig: whatever is there, bootstrap wrote and
    // marked as its own.
    assert!(
        !home.path().join(".kube/config").exists(),
        "something wrote ~/.kube/config"
    );
    if let Ok(text) = std::fs::read_to_string(home.path().join("kubeconfig")) {
        let d = bootstrap::core::kubeconfig::doc::parse(&text).unwrap();
        for item in d["contexts"].as_array().into_iter().flatten() {
            assert!(
                bootstrap::core::kubeconfig::doc::owner_of(
                    item,
                    bootstrap::core::kubeconfig::doc::Kind::Context
                )
                .is_some(),
                "an unmarked context appeared in the user's kubeconfig (kind wrote it?):\n{text}"
            );
        }
    }
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Drain both pipes while waiting, so a chatty child never blocks on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = t_err.join().unwrap_or_default();
            panic!(
                "{cmd:?} did not finish within {limit:?}\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}
