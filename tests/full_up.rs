//! The whole `up`, a second `up` that changes nothing, and `down`, on a real Docker engine with
//! the kind double (running the kind node double: a kube-apiserver and passthrough router double
//! with real TLS) and the helm double. Names under cnoe.localtest.me resolve through a private
//! /etc/hosts in a mount namespace (no DNS here), as they resolve to 127.0.0.1 on a laptop.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::proxy::Proxy;
use support::*;

struct World {
    dir: tempfile::TempDir,
    env_file: PathBuf,
    kubeconfig: PathBuf,
    hosts: PathBuf,
    helm: PathBuf,
    helm_state: PathBuf,
    cluster: String,
}

const FOREIGN: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: work\n  cluster:\n    server: https://k8s.example.com:6443\n    certificate-authority-data: Zm9yZWlnbg==\ncontexts:\n- name: work\n  context: {cluster: work, user: work, namespace: team-a}\ncurrent-context: work\npreferences: {colors: true}\nusers:\n- name: work\n  user: {token: keep-me}\n";

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let cluster = unique("full");
    let (api, https) = (free_port(), free_port());
    let env_file = dir.path().join("envs.yaml");
    std::fs::write(
        &env_file,
        format!(
            "apiVersion: bootstrap/v1alpha1\ncluster:\n  name: {cluster}\n  nodeImage: {NODE_IMAGE}\n  apiServer: {{address: 127.0.0.1, port: {api}}}\n  portMappings:\n    - {{containerPort: 443, hostPort: {https}}}\nrouter:\n  domain: cnoe.localtest.me\n  httpsPort: {https}\nvclusters:\n  - {{name: dev, namespace: dev-vcluster, release: vcluster-dev-helm, context: dev-vcluster}}\n  - {{name: staging, namespace: staging-vcluster, release: vcluster-staging-helm, context: staging-vcluster}}\nargocd:\n  register: true\n"
        ),
    )
    .unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, FOREIGN).unwrap();
    let hosts = dir.path().join("hosts");
    let system = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    std::fs::write(
        &hosts,
        format!(
            "127.0.0.1 dev-vcluster.cnoe.localtest.me staging-vcluster.cnoe.localtest.me\n{system}"
        ),
    )
    .unwrap();
    let helm_state = dir.path().join("helm-state");
    let helm = dir.path().join("helm");
    std::fs::write(
        &helm,
        format!(
            "#!/bin/sh\nHELM_DOUBLE_STATE='{}' exec '{}' \"$@\"\n",
            helm_state.display(),
            repo().join("tests/doubles/helm").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    World {
        dir,
        env_file,
        kubeconfig,
        hosts,
        helm,
        helm_state,
        cluster,
    }
}

/// Run a program with our /etc/hosts in a private mount namespace.
fn in_ns(w: &World, program: &Path, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
    ])
    .arg(&w.hosts)
    .arg(program)
    .args(args)
    .env("KUBECONFIG", &w.kubeconfig)
    .env("BOOTSTRAP_KIND", kind_double())
    .env("BOOTSTRAP_HELM", &w.helm)
    .env("HOME", w.dir.path())
    .env_remove("DOCKER_HOST")
    .env_remove("BOOTSTRAP_ACCESS");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = run_bounded(cmd, Duration::from_secs(180));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn up(w: &World, extra: &[(&str, &str)]) -> Run {
    in_ns(
        w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "up"],
        extra,
    )
}

fn kubectl(w: &World, args: &[&str]) -> Run {
    let kubectl = which::which("kubectl").expect("kubectl on PATH (scripts/test.sh installs it)");
    in_ns(w, &kubectl, args, &[])
}

fn unshare_works() -> bool {
    let ok = Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must allow `unshare -m` (run as root)"
        );
        eprintln!("SKIPPED: `unshare -m` is not permitted here (needs root)");
    }
    ok
}

#[test]
fn up_then_converged_up_then_down() {
    if !docker_or_skip("up_then_converged_up_then_down") || !unshare_works() {
        return;
    }
    let w = world();
    let _clean = Cleanup(vec![w.cluster.clone()]);

    let plan = in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "plan"],
        &[],
    );
    assert_eq!(plan.code, 0, "{}", plan.text());
    assert!(
        plan.stdout
            .contains(&format!("create-cluster kind/{}", w.cluster)),
        "{}",
        plan.text()
    );
    assert!(nodes(&w.cluster).is_empty(), "plan must create nothing");

    let first = up(&w, &[]);
    assert_eq!(first.code, 0, "{}", first.text());
    for want in [
        format!("cluster `{}` created", w.cluster),
        "helm install ingress-nginx/ingress-nginx".into(),
        "helm install dev-vcluster/vcluster-dev-helm".into(),
        "applied Ingress staging-vcluster/vcluster-staging-helm-api".into(),
        "applied Secret argocd/cluster-dev-vcluster".into(),
    ] {
        assert!(
            first.stdout.contains(&want),
            "missing {want:?}:\n{}",
            first.text()
        );
    }
    let config = std::fs::read_to_string(&w.kubeconfig).unwrap();
    let d = bootstrap::kubeconfig::doc::parse(&config).unwrap();
    let names = bootstrap::kubeconfig::doc::context_names(&d);
    for ctx in [
        "work",
        "dev-vcluster",
        "staging-vcluster",
        &format!("kind-{}", w.cluster),
    ] {
        assert!(
            names.iter().any(|n| n == ctx),
            "context {ctx} missing: {names:?}"
        );
    }
    assert_eq!(
        d["current-context"], "work",
        "current-context must be left alone"
    );
    assert!(
        config.contains("keep-me") && config.contains("team-a") && config.contains("colors"),
        "{config}"
    );
    assert!(
        !config.contains("insecure-skip-tls-verify: true"),
        "certificates must stay verified"
    );
    let dev = bootstrap::kubeconfig::doc::context_view(&d, "dev-vcluster").unwrap();
    assert_eq!(
        dev.server.as_deref(),
        Some(&*format!(
            "https://dev-vcluster.cnoe.localtest.me:{}",
            config_port(&w)
        ))
    );

    // A real client reads what we wrote and reaches each endpoint through real TLS.
    for ctx in [
        "dev-vcluster",
        "staging-vcluster",
        &format!("kind-{}", w.cluster),
    ] {
        let v = kubectl(&w, &["--context", ctx, "get", "--raw", "/version"]);
        assert_eq!(v.code, 0, "kubectl --context {ctx}: {}", v.text());
        assert!(v.stdout.contains("double"), "{}", v.text());
    }
    let writes_before = kubectl(
        &w,
        &[
            "--context",
            &format!("kind-{}", w.cluster),
            "get",
            "--raw",
            "/double/writes",
        ],
    )
    .stdout;

    // Converged: nothing changes, nothing is written, and it says so; plan agrees.
    let before_plan = std::fs::read(&w.kubeconfig).unwrap();
    let plan = in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "plan"],
        &[],
    );
    assert_eq!(plan.code, 0, "{}", plan.text());
    assert!(plan.stdout.contains("Nothing to change"), "{}", plan.text());
    assert_eq!(
        std::fs::read(&w.kubeconfig).unwrap(),
        before_plan,
        "plan wrote the kubeconfig"
    );
    let modified = std::fs::metadata(&w.kubeconfig)
        .unwrap()
        .modified()
        .unwrap();
    let calls_before = std::fs::read_to_string(w.helm_state.join("calls.log")).unwrap();
    let sock = w.dir.path().join("docker.sock");
    let proxy = Proxy::start(&sock);
    let t = Instant::now();
    let second = up(&w, &[("DOCKER_HOST", &proxy.docker_host())]);
    let took = t.elapsed();
    assert_eq!(second.code, 0, "{}", second.text());
    assert!(
        second.stdout.contains("Nothing to change"),
        "{}",
        second.text()
    );
    assert_eq!(
        proxy.writes(),
        Vec::<String>::new(),
        "Docker writes on a converged up"
    );
    assert_eq!(
        std::fs::metadata(&w.kubeconfig)
            .unwrap()
            .modified()
            .unwrap(),
        modified,
        "kubeconfig rewritten"
    );
    let calls = std::fs::read_to_string(w.helm_state.join("calls.log")).unwrap();
    let new: Vec<&str> = calls[calls_before.len()..].lines().collect();
    assert!(
        new.iter()
            .all(|c| c.starts_with("list") || c.starts_with("get values")),
        "helm changed something: {new:?}"
    );
    let writes_after = kubectl(
        &w,
        &[
            "--context",
            &format!("kind-{}", w.cluster),
            "get",
            "--raw",
            "/double/writes",
        ],
    )
    .stdout;
    assert_eq!(writes_before, writes_after, "API writes on a converged up");
    eprintln!(
        "converged up with the doubles: {:.0} ms (one run; see benches for figures)",
        took.as_secs_f64() * 1000.0
    );

    let down = in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "down"],
        &[],
    );
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(nodes(&w.cluster).is_empty(), "the cluster must be gone");
    let config = std::fs::read_to_string(&w.kubeconfig).unwrap();
    let d = bootstrap::kubeconfig::doc::parse(&config).unwrap();
    assert_eq!(
        bootstrap::kubeconfig::doc::context_names(&d),
        vec!["work".to_owned()],
        "{config}"
    );
    assert_eq!(d["current-context"], "work");
    let again = in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "down"],
        &[],
    );
    assert_eq!(again.code, 0, "{}", again.text());
}

fn config_port(w: &World) -> u16 {
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    text.split("httpsPort: ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap()
}
