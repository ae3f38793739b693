//! Benchmark (not a test): a large kubeconfig read, printed and verified, against kubectl on the
//! same file in the same run. kubectl's `config view --minify --flatten --context X` reads the
//! whole file and prints one context, as `bootstrap kubeconfig X --print` does; `bootstrap verify
//! --context X` also dials X (a healthy testkit API server on loopback). Each is timed on files
//! of 2,000 and 20,000 contexts (a long-lived laptop's, with foreign extensions, exec users and
//! unknown fields): the ratio against kubectl says "no slower", the ratio between the two sizes
//! says "linear" (10x the input should cost about 10x, not 100x).
//!
//! Run: `cargo bench --bench kubeconfig_large` (needs kubectl on PATH for the comparison).

#[path = "../tests/kubeconfig_support/mod.rs"]
mod support;

use base64::Engine as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{ApiServer, Auth, Pki};

const BIN: &str = env!("CARGO_BIN_EXE_bootstrap");

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `n` foreign contexts, then `bench`: a context of a healthy API server, last in every list
/// (the worst place for a reader that scans).
fn file(n: usize, server: &ApiServer, pki: &Pki) -> String {
    let admin = pki.client("kubernetes-admin", "system:masters");
    let text = support::foreign_kubeconfig(n);
    let text = text
        .replacen(
            "users:\n",
            &format!(
                "- name: bench\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {}\nusers:\n",
                server.port(),
                b64(&pki.ca_pem)
            ),
            1,
        )
        .replacen(
            "contexts:\n",
            &format!(
                "- name: bench\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n",
                b64(&admin.cert_pem),
                b64(&admin.key_pem)
            ),
            1,
        );
    text.replacen(
        "current-context: ctx-0\n",
        "- name: bench\n  context: {cluster: bench, user: bench}\ncurrent-context: ctx-0\n",
        1,
    )
}

fn time(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:>8.1} ms", d.as_secs_f64() * 1000.0)
}

fn bootstrap(kc: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["-f", "/nonexistent/envs.yaml", "--kubeconfig"])
        .arg(kc)
        .args(args)
        .env_remove("KUBECONFIG");
    c
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` builds and runs this too and must
    // stay quick.
    if std::env::args().all(|a| a != "--bench") {
        eprintln!("kubeconfig_large bench: run with `cargo bench --bench kubeconfig_large`");
        return;
    }
    let pki = Pki::new("bench-ca");
    let leaf = pki.server(&["localhost", "127.0.0.1"]);
    let auth = Auth {
        client_ca_pem: Some(pki.ca_pem.clone()),
        ..Default::default()
    };
    let server = ApiServer::start("127.0.0.1:0", &leaf, auth);
    let dir = tempfile::tempdir().unwrap();
    // kubectl caches discovery under $HOME/.kube/cache; keep it out of the user's home.
    std::env::set_var("HOME", dir.path());
    let kubectl = which::which("kubectl").ok();
    const RUNS: usize = 5;
    let mut rows: Vec<(usize, [Option<Duration>; 3])> = Vec::new();
    for n in [2_000usize, 20_000] {
        let kc = dir.path().join(format!("config-{n}"));
        std::fs::write(&kc, file(n, &server, &pki)).unwrap();
        let size = std::fs::metadata(&kc).unwrap().len();
        let mut print = Vec::new();
        let mut verify = Vec::new();
        let mut view = Vec::new();
        // Interleaved, the first round discarded (page cache, binaries).
        for round in 0..=RUNS {
            let p = time(bootstrap(&kc, &["kubeconfig", "bench", "--print"]));
            let v = time(bootstrap(&kc, &["verify", "--context", "bench"]));
            let k = kubectl.as_ref().map(|k| {
                let mut c = Command::new(k);
                c.arg("--kubeconfig").arg(&kc).args([
                    "config",
                    "view",
                    "--minify",
                    "--flatten",
                    "--context",
                    "bench",
                ]);
                time(c)
            });
            if round > 0 {
                print.push(p);
                verify.push(v);
                view.extend(k);
            }
        }
        let (p, v) = (median(print), median(verify));
        let k = (!view.is_empty()).then(|| median(view));
        println!(
            "{n:>6} contexts ({:>5.1} MiB), median of {RUNS}: bootstrap kubeconfig --print {}, bootstrap verify {}, kubectl config view --minify --flatten {}",
            size as f64 / (1024.0 * 1024.0),
            ms(p),
            ms(v),
            k.map(ms).unwrap_or_else(|| "not installed".into())
        );
        if let Some(k) = k {
            println!(
                "        against kubectl: print {:.2}x, verify {:.2}x as fast",
                k.as_secs_f64() / p.as_secs_f64(),
                k.as_secs_f64() / v.as_secs_f64()
            );
        }
        rows.push((n, [Some(p), Some(v), k]));
    }
    let (small, large) = (&rows[0].1, &rows[1].1);
    let growth = |i: usize| match (small[i], large[i]) {
        (Some(s), Some(l)) => format!("{:.1}x", l.as_secs_f64() / s.as_secs_f64()),
        _ => "-".into(),
    };
    println!(
        "10x the contexts costs: print {}, verify {}, kubectl {}",
        growth(0),
        growth(1),
        growth(2)
    );
}
