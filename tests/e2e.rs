//! Opt-in end to end: the real stack (kind, helm, charts from the internet) on a machine that has
//! them, with both routers (envs/localdev.yaml: ingress-nginx; envs/gateway.yaml: Traefik and
//! the Gateway API). Ignored by a plain `cargo test` (reported as ignored, not as passed); run
//! with `just e2e` or
//! `BOOTSTRAP_E2E=1 cargo test --test e2e -- --ignored --nocapture --test-threads=1`. Uses envs/localdev.yaml
//! and a private kubeconfig; it needs host ports 6443 and 8443 free and deletes the `localdev`
//! cluster at the end. Two journeys, one after the other (they share the file's cluster and
//! ports): from the host, and from a devcontainer started as devcontainer/devcontainer.json says
//! (tests/journey_support), so whoever runs it sees the first use for real. The workflow
//! .github/workflows/e2e.yml runs both on a runner with Docker; nothing here has run them.

mod journey_support;
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

/// Both journeys use the file's cluster name and host ports.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Asked for by name (`--ignored`), the suite still wants the variable: it deletes the
/// `localdev` cluster and takes host ports 6443 and 8443, so it never runs by accident and never
/// reports a pass it did not run.
fn enabled() -> bool {
    assert_eq!(
        std::env::var("BOOTSTRAP_E2E").as_deref(),
        Ok("1"),
        "set BOOTSTRAP_E2E=1 on a machine with kind, helm, Docker and internet"
    );
    true
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bootstrap_with(file: &str, kubeconfig: &std::path::Path, args: &[&str]) -> (i32, String) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .current_dir(root())
        .env("KUBECONFIG", kubeconfig)
        .args(["-f", file])
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
#[ignore = "opt-in end to end: BOOTSTRAP_E2E=1 cargo test --test e2e -- --ignored (needs kind, helm, Docker and internet)"]
fn localdev_up_verify_up_again_kubectl_down() {
    if !enabled() {
        return;
    }
    host_journey("envs/localdev.yaml");
}

/// The same journey with the Gateway API router (envs/gateway.yaml: Traefik, the Gateway API
/// v1.6.1 CRDs downloaded and checked against their pin, one TLSRoute per vcluster).
#[test]
#[ignore = "opt-in end to end: BOOTSTRAP_E2E=1 cargo test --test e2e -- --ignored (needs kind, helm, Docker and internet)"]
fn gateway_up_verify_up_again_kubectl_down() {
    if !enabled() {
        return;
    }
    host_journey("envs/gateway.yaml");
}

fn host_journey(file: &str) {
    let bootstrap =
        |kubeconfig: &std::path::Path, args: &[&str]| bootstrap_with(file, kubeconfig, args);
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

/// The first use: `bootstrap up` from a fresh devcontainer on the default bridge, fetching the
/// real kind and helm itself, charts from the internet, then kubectl, `verify -f`, a converged
/// `up` with no Docker writes and the kubeconfig untouched, and `down` leaving nothing of ours
/// (the network join included).
#[test]
#[ignore = "opt-in end to end: BOOTSTRAP_E2E=1 cargo test --test e2e -- --ignored (needs kind, helm, Docker and internet)"]
fn devcontainer_journey_on_the_real_stack() {
    use journey_support::*;
    if !enabled() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // The foreign container is busybox (tests/support/make-images.sh; needs busybox-static).
    let images = Command::new(root().join("tests/support/make-images.sh"))
        .output()
        .unwrap();
    assert!(
        images.status.success(),
        "{}",
        String::from_utf8_lossy(&images.stderr)
    );
    // kind and helm are not needed here: bootstrap fetches its pinned releases inside the
    // devcontainer (into the workspace's XDG_CACHE_HOME), as on a fresh one; the e2e workflow
    // takes them off PATH for that reason.
    for tool in ["kubectl", "docker"] {
        assert!(which::which(tool).is_ok(), "{tool} must be on PATH");
    }
    let ws = Workspace::real(&root().join("envs/localdev.yaml"), "localdev", 6443, 8443);
    let dc = Devcontainer::start_in(Stand::devcontainer(Net::Bridge), ws);
    assert!(!dc.doubles());
    let before = dc.networks();
    let t = walk(&dc);
    eprintln!("{}", t.show());
    assert!(
        t.steps[0].1.stderr.contains("joined this container"),
        "{}",
        t.steps[0].1.text()
    );
    assert_eq!(
        dc.networks(),
        before,
        "down leaves kind's network it joined"
    );
}
