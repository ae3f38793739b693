//! The whole stack on a real Docker engine with the kind double (running the kind node double)
//! and the helm double (the real Helm engine) installing the real charts from a local chart
//! repository; names under cnoe.localtest.me resolve through a private /etc/hosts in a mount
//! namespace (no DNS here), as they resolve to 127.0.0.1 on a laptop.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct World {
    pub dir: tempfile::TempDir,
    pub env_file: PathBuf,
    pub kubeconfig: PathBuf,
    pub hosts: PathBuf,
    pub helm: PathBuf,
    pub helm_state: PathBuf,
    pub cluster: String,
    /// The contract charts over HTTP; `chart.repo` of the router and the vclusters.
    pub charts: super::charts::ChartRepo,
}

pub const FOREIGN: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: work\n  cluster:\n    server: https://k8s.example.com:6443\n    certificate-authority-data: Zm9yZWlnbg==\ncontexts:\n- name: work\n  context: {cluster: work, user: work, namespace: team-a}\ncurrent-context: work\npreferences: {colors: true}\nusers:\n- name: work\n  user: {token: keep-me}\n";

/// dev runs the seeds' vcluster 0.26.0, staging the newest here, 0.36.1.
pub fn world() -> World {
    world_with(RouterUnderTest::IngressNginx)
}

/// The same world behind the given router. Its download cache (`$HOME/.cache/bootstrap`, HOME
/// being the world's folder) holds what that router's `up` fetches.
pub fn world_with(router: RouterUnderTest) -> World {
    let charts = super::charts::ChartRepo::start();
    let repo_url = charts.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let cluster = unique("full");
    let (api, https) = (free_port(), free_port());
    let env_file = dir.path().join("envs.yaml");
    let router_yaml = router.yaml(&repo_url, https);
    router.seed_cache(&dir.path().join(".cache/bootstrap"));
    std::fs::write(
        &env_file,
        format!(
            "apiVersion: bootstrap/v1alpha1\ncluster:\n  name: {cluster}\n  nodeImage: {NODE_IMAGE}\n  apiServer: {{address: 127.0.0.1, port: {api}}}\n  portMappings:\n    - {{containerPort: 443, hostPort: {https}}}\n{router_yaml}vclusters:\n  - {{name: dev, namespace: dev-vcluster, release: vcluster-dev-helm, context: dev-vcluster, chart: {{repo: '{repo_url}', name: vcluster, version: 0.26.0}}}}\n  - {{name: staging, namespace: staging-vcluster, release: vcluster-staging-helm, context: staging-vcluster, chart: {{repo: '{repo_url}', name: vcluster, version: 0.36.1}}}}\nargocd:\n  register: true\n"
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
        charts,
    }
}

/// Run the node double built from this checkout (`node_image()`), not the shared
/// `bootstrap-test/kind-node:latest` tag another checkout may rebuild meanwhile.
pub fn pin_node_image(w: &World) {
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    assert!(text.contains(&format!("nodeImage: {NODE_IMAGE}")), "{text}");
    std::fs::write(
        &w.env_file,
        text.replace(
            &format!("nodeImage: {NODE_IMAGE}"),
            &format!("nodeImage: {}", node_image()),
        ),
    )
    .unwrap();
}

/// Run a program with our /etc/hosts in a private mount namespace.
pub fn in_ns(w: &World, program: &Path, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let out = run_bounded(
        ns_command(w, program, args, extra),
        Duration::from_secs(180),
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The command `in_ns` runs, for a test that starts it and stops it itself.
pub fn ns_command(w: &World, program: &Path, args: &[&str], extra: &[(&str, &str)]) -> Command {
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
    .env("XDG_CACHE_HOME", w.dir.path().join(".cache"))
    .env_remove("DOCKER_HOST")
    .env_remove("BOOTSTRAP_ACCESS");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

pub fn up(w: &World, extra: &[(&str, &str)]) -> Run {
    in_ns(
        w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "up"],
        extra,
    )
}

pub fn kubectl(w: &World, args: &[&str]) -> Run {
    let kubectl = which::which("kubectl").expect("kubectl on PATH (scripts/test.sh installs it)");
    in_ns(w, &kubectl, args, &[])
}

pub fn unshare_works() -> bool {
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
