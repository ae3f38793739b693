//! The steps inside a cluster (router, vclusters, routes, ArgoCD, kubeconfig) through the real
//! binary, on `provider: existing`: the user's own context points at the apiserver double, and
//! the helm double's real Helm engine installs the contract charts into it. No Docker. First `up`
//! installs and applies; the second runs no helm at all (releases are read from helm's records
//! through the API) and writes nothing; a user's own release under our name is never touched;
//! `down` removes exactly what carries our mark.

// Only the server and its hit count are used here.
#[allow(dead_code)]
#[path = "support/http_files.rs"]
mod http_files;
mod support;

use base64::Engine;
use serde_json::json;
use support::charts::charts_or_skip;
use support::helm::{HelmWorld, CONTEXT};
use support::{bin, run_bounded, Run};

/// dev on the seeds' vcluster 0.26.0, staging on 0.36.1, the router on ingress-nginx 4.14.1,
/// all from the contract charts served at `repo`. Access is pinned to the host zone: there is
/// no router answering in front of the apiserver double, so routes are written unprobed, and
/// `up` runs without the final verify.
fn env_file(w: &HelmWorld, repo: &str, extra: &str) -> std::path::PathBuf {
    let text = format!(
        "cluster: {{provider: existing, name: t, context: {CONTEXT}}}\naccess: {{mode: host}}\nrouter: {{domain: cnoe.localtest.me, chart: {{repo: '{repo}', name: ingress-nginx, version: 4.14.1}}}}\nvclusters:\n  - {{name: dev, release: vcluster-dev-helm, namespace: dev-vcluster, chart: {{repo: '{repo}', name: vcluster, version: 0.26.0}}}}\n  - {{name: staging, release: vcluster-staging-helm, namespace: staging-vcluster, chart: {{repo: '{repo}', name: vcluster, version: 0.36.1}}}}\nargocd: {{register: true}}\n{extra}"
    );
    let p = w.dir.path().join("envs.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn bootstrap(w: &HelmWorld, helm: &std::path::Path, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args)
        .env("KUBECONFIG", &w.kubeconfig)
        .env("BOOTSTRAP_HELM", helm)
        .env("BOOTSTRAP_OFFLINE", "1")
        .env("HOME", w.dir.path())
        .env("XDG_CACHE_HOME", w.dir.path().join(".cache"))
        .env_remove("BOOTSTRAP_ACCESS")
        .env_remove("DOCKER_HOST");
    let out = run_bounded(cmd, std::time::Duration::from_secs(240));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The apiserver double plays no vcluster (the kind node double does): the secrets the vclusters
/// would write are seeded.
fn seed_vcluster_secrets(w: &HelmWorld) {
    for (ns, release) in [
        ("dev-vcluster", "vcluster-dev-helm"),
        ("staging-vcluster", "vcluster-staging-helm"),
    ] {
        w.api.seed(
            &format!("/api/v1/namespaces/{ns}/secrets/vc-{release}"),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("vc-{release}"), "namespace": ns},
                   "data": {"certificate-authority": b64("CA"), "client-certificate": b64("CERT"), "client-key": b64("KEY")}}),
        );
    }
}

fn calls(w: &HelmWorld) -> Vec<String> {
    std::fs::read_to_string(w.state.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn up_then_converged_up_runs_no_helm_then_down_removes_only_ours() {
    if !charts_or_skip("up_then_converged_up_runs_no_helm_then_down_removes_only_ours") {
        return;
    }
    let w = HelmWorld::start();
    seed_vcluster_secrets(&w);
    let f = env_file(&w, &w.charts.url, "");
    let f = f.to_str().unwrap();

    let first = bootstrap(&w, &w.helm, &["-f", f, "up", "--no-verify"]);
    assert_eq!(first.code, 0, "{}", first.text());
    for want in [
        "helm install ingress-nginx/ingress-nginx",
        "helm install dev-vcluster/vcluster-dev-helm",
        "helm install staging-vcluster/vcluster-staging-helm",
        "applied Ingress dev-vcluster/vcluster-dev-helm-api",
        "applied Ingress staging-vcluster/vcluster-staging-helm-api",
        "applied Secret argocd/cluster-dev-vcluster",
        "applied Secret argocd/cluster-staging-vcluster",
    ] {
        assert!(
            first.stdout.contains(want),
            "missing {want:?}:\n{}",
            first.text()
        );
    }
    // helm recorded our mark on its own release records (helm --labels), which is how a later
    // run tells our releases from the user's.
    let record = w
        .api
        .object("/api/v1/namespaces/ingress-nginx/secrets/sh.helm.release.v1.ingress-nginx.v1")
        .expect("helm's release record");
    assert_eq!(
        record["metadata"]["labels"]["bootstrap/env"], "t",
        "{record}"
    );
    assert_eq!(record["metadata"]["labels"]["owner"], "helm");

    // Converged: no helm process at all, no API write.
    let calls_before = calls(&w).len();
    let writes = w.api.writes();
    let second = bootstrap(&w, &w.helm, &["-f", f, "up", "--no-verify"]);
    assert_eq!(second.code, 0, "{}", second.text());
    assert!(
        second.stdout.contains("Nothing to change"),
        "{}",
        second.text()
    );
    assert_eq!(
        calls(&w)[calls_before..],
        [] as [String; 0],
        "helm ran on a converged up"
    );
    assert_eq!(w.api.writes(), writes, "API writes on a converged up");
    let plan = bootstrap(&w, &w.helm, &["-f", f, "plan"]);
    assert_eq!(plan.code, 0, "{}", plan.text());
    assert!(plan.stdout.contains("Nothing to change"), "{}", plan.text());

    // A release of the user's own, not ours, stays through `down`.
    let theirs = w.dir.path().join("theirs.yaml");
    std::fs::write(&theirs, "{}").unwrap();
    let mut user_helm = std::process::Command::new(&w.helm);
    user_helm.args([
        "upgrade",
        "--install",
        "user-vc",
        "vcluster",
        "--repo",
        &w.charts.url,
        "--version",
        "0.36.1",
        "--namespace",
        "users",
        "--create-namespace",
        "--values",
        theirs.to_str().unwrap(),
        "--kube-context",
        CONTEXT,
        "--kubeconfig",
        w.kubeconfig.to_str().unwrap(),
    ]);
    let out = run_bounded(user_helm, std::time::Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let down = bootstrap(&w, &w.helm, &["-f", f, "down"]);
    assert_eq!(down.code, 0, "{}", down.text());
    for gone in [
        "/apis/networking.k8s.io/v1/namespaces/dev-vcluster/ingresses/vcluster-dev-helm-api",
        "/api/v1/namespaces/argocd/secrets/cluster-dev-vcluster",
        "/api/v1/namespaces/ingress-nginx/secrets/sh.helm.release.v1.ingress-nginx.v1",
        "/api/v1/namespaces/dev-vcluster/secrets/sh.helm.release.v1.vcluster-dev-helm.v1",
    ] {
        assert!(
            w.api.object(gone).is_none(),
            "{gone} is still there:\n{}",
            down.text()
        );
    }
    assert!(
        w.api
            .object("/api/v1/namespaces/users/secrets/sh.helm.release.v1.user-vc.v1")
            .is_some(),
        "the user's release must stay:\n{}",
        down.text()
    );
    let again = bootstrap(&w, &w.helm, &["-f", f, "down"]);
    assert_eq!(again.code, 0, "{}", again.text());
}

#[test]
fn a_users_release_under_our_name_stops_up_before_any_change() {
    if !charts_or_skip("a_users_release_under_our_name_stops_up_before_any_change") {
        return;
    }
    let w = HelmWorld::start();
    seed_vcluster_secrets(&w);
    // The user's own ingress-nginx release, in the slot the file names, with other values.
    let theirs = w.dir.path().join("theirs.yaml");
    std::fs::write(&theirs, "{\"controller\": {\"replicaCount\": 2}}").unwrap();
    let mut user_helm = std::process::Command::new(&w.helm);
    user_helm.args([
        "upgrade",
        "--install",
        "ingress-nginx",
        "ingress-nginx",
        "--repo",
        &w.charts.url,
        "--version",
        "4.14.1",
        "--namespace",
        "ingress-nginx",
        "--create-namespace",
        "--values",
        theirs.to_str().unwrap(),
        "--kube-context",
        CONTEXT,
        "--kubeconfig",
        w.kubeconfig.to_str().unwrap(),
    ]);
    let out = run_bounded(user_helm, std::time::Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = env_file(&w, &w.charts.url, "");
    let calls_before = calls(&w).len();
    let writes = w.api.writes();
    let kubeconfig_before = std::fs::read(&w.kubeconfig).unwrap();

    let up = bootstrap(
        &w,
        &w.helm,
        &["-f", f.to_str().unwrap(), "up", "--no-verify"],
    );
    assert_eq!(up.code, 1, "{}", up.text());
    assert!(
        up.stderr
            .contains("release ingress-nginx/ingress-nginx exists and is not bootstrap's"),
        "{}",
        up.text()
    );
    assert!(up.stderr.contains("nothing was changed"), "{}", up.text());
    assert_eq!(calls(&w)[calls_before..], [] as [String; 0], "helm ran");
    assert_eq!(w.api.writes(), writes, "the API was written");
    assert_eq!(std::fs::read(&w.kubeconfig).unwrap(), kubeconfig_before);
}

/// `router.kind: gateway-api` fetches the Gateway API CRDs' release asset as the pinned tools are
/// fetched: offline with nothing cached, `up` stops at the router before any helm call for it,
/// naming what it needed; through BOOTSTRAP_DOWNLOAD_MIRROR (an internal mirror keeping the
/// release's path) it downloads once, checks the pin, applies the CRDs, installs Traefik, our
/// Gateway and the TLSRoutes; the next `up`, offline again, uses the cached file and changes
/// nothing.
#[test]
fn gateway_api_crds_come_through_the_offline_switch_the_mirror_and_the_cache() {
    if !charts_or_skip("gateway_api_crds_come_through_the_offline_switch_the_mirror_and_the_cache")
    {
        return;
    }
    let w = HelmWorld::start();
    seed_vcluster_secrets(&w);
    let repo = &w.charts.url;
    let f = w.dir.path().join("envs.yaml");
    std::fs::write(
        &f,
        format!(
            "cluster: {{provider: existing, name: t, context: {CONTEXT}}}\naccess: {{mode: host}}\nrouter: {{kind: gateway-api, domain: cnoe.localtest.me, chart: {{repo: '{repo}', name: traefik, version: 41.3.0}}}}\nvclusters:\n  - {{name: dev, release: vcluster-dev-helm, namespace: dev-vcluster, chart: {{repo: '{repo}', name: vcluster, version: 0.26.0}}}}\n"
        ),
    )
    .unwrap();
    let f = f.to_str().unwrap();

    let offline = bootstrap(&w, &w.helm, &["-f", f, "up", "--no-verify"]);
    assert_eq!(offline.code, 1, "{}", offline.text());
    for want in [
        "Gateway API v1.6.1 CRDs",
        "/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml",
        "offline",
    ] {
        assert!(
            offline.stderr.contains(want),
            "missing {want:?}: {}",
            offline.text()
        );
    }
    assert!(
        !calls(&w).iter().any(|c| c.contains("traefik")),
        "helm ran for the router before its CRDs: {:?}",
        calls(&w)
    );

    let mirror = http_files::FileServer::start();
    let path = "/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml";
    mirror.put(
        path,
        http_files::Route {
            body: support::crds::standard_install(),
            ..Default::default()
        },
    );
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["-f", f, "up", "--no-verify"])
        .env("KUBECONFIG", &w.kubeconfig)
        .env("BOOTSTRAP_HELM", &w.helm)
        .env("BOOTSTRAP_DOWNLOAD_MIRROR", &mirror.base)
        .env("HOME", w.dir.path())
        .env("XDG_CACHE_HOME", w.dir.path().join(".cache"))
        .env_remove("BOOTSTRAP_OFFLINE")
        .env_remove("BOOTSTRAP_ACCESS")
        .env_remove("DOCKER_HOST");
    let out = run_bounded(cmd, std::time::Duration::from_secs(240));
    let online = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(online.code, 0, "{}", online.text());
    for want in [
        "applied Gateway API v1.6.1 CRDs (standard channel)",
        "helm install traefik/traefik",
        "applied Gateway traefik/bootstrap",
        "applied TLSRoute dev-vcluster/vcluster-dev-helm-api",
    ] {
        assert!(
            online.stdout.contains(want),
            "missing {want:?}: {}",
            online.text()
        );
    }
    assert_eq!(mirror.hits(path), 1, "downloaded once");
    assert!(
        w.api
            .object("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tlsroutes.gateway.networking.k8s.io")
            .is_some(),
        "the TLSRoute CRD was applied"
    );

    let again = bootstrap(&w, &w.helm, &["-f", f, "up", "--no-verify"]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(
        again.stdout.contains("Nothing to change"),
        "{}",
        again.text()
    );
    assert_eq!(mirror.hits(path), 1, "the cached file is used");
}
