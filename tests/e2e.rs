//! Opt-in end to end: the real stack (kind, helm, charts from the internet) on a machine that has
//! them. Skipped unless BOOTSTRAP_E2E=1; run with `just e2e` or
//! `BOOTSTRAP_E2E=1 cargo test --test e2e -- --nocapture`. Uses envs/localdev.yaml and a private
//! kubeconfig; it needs host ports 6443 and 8443 free and deletes the `localdev` cluster at the end.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn enabled() -> bool {
    if std::env::var("BOOTSTRAP_E2E").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipped: set BOOTSTRAP_E2E=1 on a machine with kind, helm, Docker and internet");
    false
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bootstrap(kubeconfig: &std::path::Path, args: &[&str]) -> (i32, String) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .current_dir(root())
        .env("KUBECONFIG", kubeconfig)
        .args(["-f", "envs/localdev.yaml"])
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "$ bootstrap {} ({:.1}s, exit {:?})\n{text}",
        args.join(" "),
        t.elapsed().as_secs_f64(),
        out.status.code()
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn localdev_up_verify_up_again_kubectl_down() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
    )
    .unwrap();

    let (code, out) = bootstrap(&kubeconfig, &["up"]);
    assert_eq!(code, 0, "first up failed:\n{out}");
    let (code, out) = bootstrap(&kubeconfig, &["verify", "-o", "json"]);
    assert_eq!(code, 0, "verify failed:\n{out}");

    let t = Instant::now();
    let (code, out) = bootstrap(&kubeconfig, &["up"]);
    assert_eq!(code, 0, "second up failed:\n{out}");
    assert!(
        out.contains("Nothing to change"),
        "second up was not a no-op:\n{out}"
    );
    eprintln!("converged up: {:.2}s", t.elapsed().as_secs_f64());

    for ctx in ["kind-localdev", "dev-vcluster", "staging-vcluster"] {
        let out = Command::new("kubectl")
            .env("KUBECONFIG", &kubeconfig)
            .args(["--context", ctx, "get", "namespaces"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl --context {ctx}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let config = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        !config.contains("insecure-skip-tls-verify: true"),
        "certificates must stay verified"
    );

    let (code, out) = bootstrap(&kubeconfig, &["down"]);
    assert_eq!(code, 0, "down failed:\n{out}");
    let config = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        !config.contains("dev-vcluster"),
        "down left a context behind:\n{config}"
    );
}
