//! Benchmark (not a test): `bootstrap verify` over 3 and 50 healthy contexts against the same
//! checks done the way a script does them with kubectl (`get --raw /version` and
//! `auth can-i list namespaces`, one context after another), in one run, as a ratio; and the
//! peak memory (max RSS) of verify over 50 contexts.
//!
//! Run: `cargo bench --bench verify` (needs kubectl on PATH for the comparison).
//! The endpoints are testkit's ApiServer doubles on loopback, with real TLS and client certs.

use base64::Engine as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{ApiServer, Auth, Pki};

const BIN: &str = env!("CARGO_BIN_EXE_bootstrap");

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn kubeconfig(servers: &[ApiServer], pki: &Pki) -> String {
    let admin = pki.client("kubernetes-admin", "system:masters");
    let mut clusters = String::new();
    let mut contexts = String::new();
    for (i, s) in servers.iter().enumerate() {
        clusters.push_str(&format!(
            "- name: c{i}\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {}\n",
            s.port(),
            b64(&pki.ca_pem)
        ));
        contexts.push_str(&format!(
            "- name: c{i}\n  context:\n    cluster: c{i}\n    user: admin\n"
        ));
    }
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n{contexts}current-context: c0\n",
        b64(&admin.cert_pem),
        b64(&admin.key_pem)
    )
}

/// `n` contexts over the first two servers (alternating) and one user: a context per namespace
/// or per tool, as kubeconfigs often hold them. Contexts `s0`.. `s{n-1}`.
fn shared_kubeconfig(servers: &[ApiServer], pki: &Pki, n: usize) -> String {
    let admin = pki.client("kubernetes-admin", "system:masters");
    let mut clusters = String::new();
    for (i, s) in servers.iter().take(2).enumerate() {
        clusters.push_str(&format!(
            "- name: server{i}\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority-data: {}\n",
            s.port(),
            b64(&pki.ca_pem)
        ));
    }
    let contexts: String = (0..n)
        .map(|i| {
            format!(
                "- name: s{i}\n  context:\n    cluster: server{}\n    user: admin\n    namespace: team-{i}\n",
                i % 2
            )
        })
        .collect();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n{contexts}current-context: s0\n",
        b64(&admin.cert_pem),
        b64(&admin.key_pem)
    )
}

/// Run to completion; wall time and the child's max RSS in KiB (from wait4's rusage).
fn run(cmd: &mut Command) -> (Duration, i64, bool) {
    let start = Instant::now();
    // Reaped by wait4 below, which std's Child::wait cannot do (it drops the rusage).
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet reaped (std's Child is dropped without waiting).
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (wall, usage.ru_maxrss, ok)
}

fn verify_cmd(kc: &Path, n: usize) -> Command {
    let mut c = Command::new(BIN);
    c.args(["verify", "-f", "/nonexistent/envs.yaml", "--kubeconfig"])
        .arg(kc);
    for i in 0..n {
        c.args(["--context", &format!("c{i}")]);
    }
    c.env_remove("KUBECONFIG");
    c
}

/// What a script does: both checks per context, one context after another.
fn kubectl_checks(kc: &Path, n: usize) -> (Duration, bool) {
    let start = Instant::now();
    let mut all_ok = true;
    for i in 0..n {
        let ctx = format!("c{i}");
        for args in [
            vec!["get", "--raw", "/version"],
            vec!["auth", "can-i", "list", "namespaces"],
        ] {
            let (_, _, ok) = run(Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(kc)
                .args(["--context", &ctx])
                .args(&args));
            all_ok &= ok;
        }
    }
    (start.elapsed(), all_ok)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too and must stay quick.
    if std::env::args().all(|a| a != "--bench") {
        eprintln!("verify bench: run with `cargo bench --bench verify`");
        return;
    }
    let pki = Pki::new("bench-ca");
    let leaf = pki.server(&["localhost", "127.0.0.1"]);
    let auth = Auth {
        client_ca_pem: Some(pki.ca_pem.clone()),
        ..Default::default()
    };
    let servers: Vec<ApiServer> = (0..50)
        .map(|_| ApiServer::start("127.0.0.1:0", &leaf, auth.clone()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, kubeconfig(&servers, &pki)).unwrap();
    // kubectl caches discovery under $HOME/.kube/cache; keep it out of the user's home
    std::env::set_var("HOME", dir.path());

    let have_kubectl = Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());

    // warm the page cache for both binaries
    let _ = run(&mut verify_cmd(&kc, 1));
    if have_kubectl {
        let _ = kubectl_checks(&kc, 1);
    }

    println!("verify bench: healthy testkit endpoints on loopback, client-certificate auth, default timeout");
    for n in [3usize, 50] {
        let runs = if n == 3 { 15 } else { 7 };
        let mut walls = Vec::new();
        let mut rss = 0;
        for _ in 0..runs {
            let (wall, maxrss, ok) = run(&mut verify_cmd(&kc, n));
            assert!(ok, "bootstrap verify of {n} healthy contexts failed");
            walls.push(wall);
            rss = rss.max(maxrss);
        }
        let verify = median(walls);
        print!(
            "  {n:>2} contexts: bootstrap verify {:>8.1} ms (median of {runs}), max RSS {:.1} MiB",
            ms(verify),
            rss as f64 / 1024.0
        );
        if have_kubectl {
            let kruns = if n == 3 { 3 } else { 1 };
            let mut kwalls = Vec::new();
            let mut kok = true;
            for _ in 0..kruns {
                let (wall, ok) = kubectl_checks(&kc, n);
                kwalls.push(wall);
                kok &= ok;
            }
            let k = median(kwalls);
            println!(
                "; kubectl x{} sequential {:>9.1} ms{}; ratio {:.1}x",
                2 * n,
                ms(k),
                if kok {
                    ""
                } else {
                    " (some kubectl calls failed)"
                },
                k.as_secs_f64() / verify.as_secs_f64()
            );
        } else {
            println!("; kubectl not found, no comparison");
        }
    }

    // 50 contexts sharing 2 servers and 1 user: one connection per server, against kubectl
    // checking a single context the way a script does (both calls).
    let shared = dir.path().join("shared-kubeconfig");
    std::fs::write(&shared, shared_kubeconfig(&servers, &pki, 50)).unwrap();
    let shared_cmd = || {
        let mut c = Command::new(BIN);
        c.args(["verify", "-f", "/nonexistent/envs.yaml", "--kubeconfig"])
            .arg(&shared);
        for i in 0..50 {
            c.args(["--context", &format!("s{i}")]);
        }
        c.env_remove("KUBECONFIG");
        c
    };
    let _ = run(&mut shared_cmd());
    let mut walls = Vec::new();
    let mut rss = 0;
    for _ in 0..9 {
        let (wall, maxrss, ok) = run(&mut shared_cmd());
        assert!(ok, "bootstrap verify of 50 shared contexts failed");
        walls.push(wall);
        rss = rss.max(maxrss);
    }
    let verify = median(walls);
    print!(
        "  50 contexts on 2 servers, 1 user: bootstrap verify {:>8.1} ms (median of 9), max RSS {:.1} MiB",
        ms(verify),
        rss as f64 / 1024.0
    );
    if have_kubectl {
        let one: Vec<Duration> = (0..5)
            .map(|_| {
                let start = Instant::now();
                for args in [
                    vec!["get", "--raw", "/version"],
                    vec!["auth", "can-i", "list", "namespaces"],
                ] {
                    let (_, _, ok) = run(Command::new("kubectl")
                        .arg("--kubeconfig")
                        .arg(&shared)
                        .args(["--context", "s0"])
                        .args(&args));
                    assert!(ok, "kubectl {args:?}");
                }
                start.elapsed()
            })
            .collect();
        let k = median(one);
        println!(
            "; kubectl checking ONE of them {:>7.1} ms; bootstrap checks all 50 in {:.2}x kubectl's time for one",
            ms(k),
            verify.as_secs_f64() / k.as_secs_f64()
        );
    } else {
        println!("; kubectl not found, no comparison");
    }

    // in-process, without process start-up: what `up` pays when it ends with verify
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cfg = bootstrap::drivers::kubeconfig::store::read(&kc)
        .unwrap()
        .unwrap();
    for n in [3usize, 50] {
        let mut walls = Vec::new();
        let mut last = None;
        for _ in 0..9 {
            let targets = (0..n)
                .map(|i| {
                    bootstrap::drivers::probe::resolve(&cfg, &format!("c{i}"), Default::default())
                })
                .collect();
            let start = Instant::now();
            let report = rt.block_on(bootstrap::drivers::probe::verify_contexts(
                targets,
                Duration::from_secs(2),
            ));
            walls.push(start.elapsed());
            assert!(report.ok);
            last = Some(report);
        }
        println!(
            "  {n:>2} contexts: verify_contexts in-process {:>6.1} ms (median of 9)",
            ms(median(walls))
        );
        if let Some(r) = &last {
            let layers: Vec<String> = r.contexts[0]
                .layers
                .iter()
                .map(|l| format!("{} {:.1}", l.name.as_str(), l.ms))
                .collect();
            println!(
                "      first context: {:.1} ms in its task; layers, ms: {}",
                r.contexts[0].ms,
                layers.join(", ")
            );
        }
    }
}
