//! Shared by the kubeconfig integration tests: fixtures, a tiny PRNG, bounded waits, and the
//! tool check the CI rules ask for.
#![allow(dead_code)]

use bootstrap::core::kubeconfig::Entry;
use std::fmt::Write as _;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// kubectl's path, or None (skip) outside CI; inside CI a missing kubectl fails the test.
pub fn kubectl() -> Option<std::path::PathBuf> {
    match which::which("kubectl") {
        Ok(p) => Some(p),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("kubectl is required in CI but is not on PATH")
        }
        Err(_) => {
            eprintln!("skipping: kubectl is not on PATH");
            None
        }
    }
}

/// A kubectl command that never talks to a proxy and never reads the caller's kubeconfig.
pub fn kubectl_cmd(kubectl: &std::path::Path, kubeconfig: &std::path::Path) -> Command {
    let mut c = Command::new(kubectl);
    c.arg("--kubeconfig").arg(kubeconfig);
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "KUBECONFIG",
    ] {
        c.env_remove(v);
    }
    c.env("NO_PROXY", "*");
    c
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait for child") {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "child process {} did not finish within {limit:?}",
                child.id()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// xorshift64*: enough randomness for delays, reproducible from the printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn from_time() -> Rng {
        let seed = std::env::var("KC_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("random seed {seed} (set KC_TEST_SEED to replay)");
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub fn entry(context: &str, server: &str) -> Entry {
    Entry {
        context: context.into(),
        cluster: format!("{context}-cluster"),
        user: format!("{context}-user"),
        creds: bootstrap::core::kubeconfig::doc::Credentials {
            server: server.into(),
            ca_pem: format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                "Q".repeat(900)
            )
            .into_bytes(),
            client_cert_pem: Some(format!("CERT-{context}").into_bytes()),
            client_key_pem: Some(format!("KEY-{context}").into_bytes()),
            ..Default::default()
        },
        tls_server_name: Some("localhost".into()),
        ..Default::default()
    }
}

/// A kubeconfig as a long-lived laptop has it: `n` foreign contexts with clusters and users,
/// foreign extensions, preferences, exec users, and unknown fields at every level.
pub fn foreign_kubeconfig(n: usize) -> String {
    let mut s = String::from(
        "apiVersion: v1\nkind: Config\npreferences:\n  colors: true\n  extensions:\n  - name: pref-ext\n    extension: {theme: dark, level: 3}\nx-vendor-top:\n  nested: {list: [a, 'on', 1.5, null], flag: no}\n",
    );
    // A base64 certificate-shaped string, about as long as a small real one.
    let ca = "TUlJQ2NEQ0NBZGlnQXdJQkFnSUJBREFOQmdrcWhraUc5dzBCQVFzRkFEQVZNUk13RVFZRFZRUURFd3ByZFdKbGNtNWxkR1Z6TUI0WERUSTBNREV3TVRBd01EQXdNRm9YRFRNME1ERXdNVEF3TURBd01Gb3dGVEVUTUJFR0ExVUVBeE1LYTNWaVpYSnVaWFJsY3pDQ0FTSXdEUVlKS29aSWh2Y05BUUVCQlFBRGdnRVBBRENDQVFvQ2dnRUJBT0xLCg==";
    s.push_str("clusters:\n");
    for i in 0..n {
        let _ = write!(
            s,
            "- name: cluster-{i}\n  cluster:\n    server: https://10.0.{}.{}:6443\n    certificate-authority-data: {ca}\n    extensions:\n    - name: cluster_info\n      extension:\n        last-update: Wed, 01 Jan 2025 00:00:00 UTC\n        provider: minikube.sigs.k8s.io\n        version: v1.35.0\n    x-future: {{depth: {{deeper: [{i}, \"{i}\"]}}}}\n  x-item-level: keep-{i}\n",
            i / 256,
            i % 256,
        );
    }
    s.push_str("users:\n");
    for i in 0..n {
        if i % 3 == 0 {
            let _ = write!(
                s,
                "- name: user-{i}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n      args: [eks, get-token, --cluster-name, c{i}]\n      env: null\n      interactiveMode: IfAvailable\n"
            );
        } else {
            let _ = write!(
                s,
                "- name: user-{i}\n  user:\n    token: tok-{i}\n    x-unknown: {{a: {i}}}\n"
            );
        }
    }
    s.push_str("contexts:\n");
    for i in 0..n {
        let _ = write!(
            s,
            "- name: ctx-{i}\n  context:\n    cluster: cluster-{i}\n    user: user-{i}\n    namespace: ns-{}\n    extensions:\n    - name: context_info\n      extension: {{provider: minikube.sigs.k8s.io, version: v1.35.0}}\n",
            i % 7
        );
    }
    s.push_str("current-context: ctx-0\n");
    s
}

/// Path of this test binary, to run a helper mode of it as a separate process.
pub fn self_exe() -> std::path::PathBuf {
    std::env::current_exe().expect("current test binary")
}
