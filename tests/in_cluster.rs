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
    users_helm_install(&w, "user-vc", "vcluster", "0.36.1", "users", "{}");

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
    users_router_release_is_never_taken_over(|w| env_file(w, &w.charts.url, ""));
}

/// The same with the hostnames waiting for a load balancer address: the user's router has one
/// (its chart defaults to a LoadBalancer Service), and `up` still stops before any change.
#[test]
fn a_users_router_release_stops_an_address_derived_up_before_any_change() {
    if !charts_or_skip("a_users_router_release_stops_an_address_derived_up_before_any_change") {
        return;
    }
    users_router_release_is_never_taken_over(|w| existing_file(w, "domainFromAddress: sslip.io"));
}

/// An existing cluster that already runs its own ingress-nginx, under another release name, with
/// the chart's defaults (IngressClass `nginx`, controller value `k8s.io/ingress-nginx`), as most
/// clusters do: our router gets an IngressClass and a controller value of its own, so helm never
/// has to take over theirs (the real Helm engine refuses to: the class belongs to their release)
/// and neither controller serves the other's Ingresses.
#[test]
fn an_existing_clusters_own_ingress_nginx_keeps_its_class() {
    if !charts_or_skip("an_existing_clusters_own_ingress_nginx_keeps_its_class") {
        return;
    }
    let w = HelmWorld::start();
    seed_vcluster_secrets(&w);
    users_helm_install(
        &w,
        "theirs",
        "ingress-nginx",
        "4.14.1",
        "their-ingress",
        "{}",
    );
    const THEIR_CLASS: &str = "/apis/networking.k8s.io/v1/ingressclasses/nginx";
    let their_class = w.api.object(THEIR_CLASS).expect("their IngressClass");

    let f = env_file(&w, &w.charts.url, "");
    let up = bootstrap(
        &w,
        &w.helm,
        &["-f", f.to_str().unwrap(), "up", "--no-verify"],
    );
    assert_eq!(up.code, 0, "{}", up.text());
    let ours = w
        .api
        .object("/apis/networking.k8s.io/v1/ingressclasses/t-passthrough")
        .expect("our IngressClass");
    assert_eq!(
        ours["spec"]["controller"], "bootstrap.dev/t-passthrough",
        "{ours}"
    );
    assert_eq!(
        ours["metadata"]["annotations"]["meta.helm.sh/release-name"], "ingress-nginx",
        "{ours}"
    );
    let now = w.api.object(THEIR_CLASS).expect("their IngressClass");
    assert_eq!(now["spec"], their_class["spec"], "{now}");
    assert_eq!(
        now["metadata"]["annotations"]["meta.helm.sh/release-name"], "theirs",
        "{now}"
    );
    let ingress = w.api.object(DEV_INGRESS).expect("our route");
    assert_eq!(
        ingress["spec"]["ingressClassName"], "t-passthrough",
        "{ingress}"
    );
}

fn users_router_release_is_never_taken_over(file: impl Fn(&HelmWorld) -> std::path::PathBuf) {
    let w = HelmWorld::start();
    seed_vcluster_secrets(&w);
    // The user's own ingress-nginx release, in the slot the file names, with other values.
    users_helm_install(
        &w,
        "ingress-nginx",
        "ingress-nginx",
        "4.14.1",
        "ingress-nginx",
        r#"{"controller": {"replicaCount": 2}}"#,
    );
    let f = file(&w);
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

    // `down` of the same file (this cluster is not ours to delete): the user's release, and an
    // Ingress of theirs under the name our route would have, stay; each is named with the
    // command that would remove it.
    let ingress = w.dir.path().join("their-ingress.yaml");
    std::fs::write(
        &ingress,
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: vcluster-dev-helm-api, namespace: dev-vcluster}\nspec:\n  rules: [{host: theirs.example.com}]\n",
    )
    .unwrap();
    let made = kubectl(&w, CONTEXT, &["create", "namespace", "dev-vcluster"]);
    assert_eq!(made.code, 0, "{}", made.text());
    let made = kubectl(&w, CONTEXT, &["apply", "-f", ingress.to_str().unwrap()]);
    assert_eq!(made.code, 0, "{}", made.text());
    let calls_before = calls(&w).len();
    let down = bootstrap(&w, &w.helm, &["-f", f.to_str().unwrap(), "down"]);
    assert_eq!(down.code, 0, "{}", down.text());
    for want in [
        "release ingress-nginx/ingress-nginx",
        "`helm uninstall ingress-nginx -n ingress-nginx`",
        "ingress/dev-vcluster/vcluster-dev-helm-api",
        "`kubectl delete ingress vcluster-dev-helm-api -n dev-vcluster`",
        "bootstrap down --force",
    ] {
        assert!(
            down.stderr.contains(want),
            "missing {want:?}: {}",
            down.text()
        );
    }
    assert!(
        !calls(&w)[calls_before..]
            .iter()
            .any(|c| c.contains("uninstall")),
        "helm uninstalled: {:?}",
        calls(&w)
    );
    assert!(
        w.api
            .object("/api/v1/namespaces/ingress-nginx/secrets/sh.helm.release.v1.ingress-nginx.v1")
            .is_some(),
        "the user's release is gone"
    );
    assert!(
        w.api.object(DEV_INGRESS).is_some(),
        "the user's Ingress is gone"
    );
}

/// A release the user installs with helm by hand (the Helm engine, the contract charts), with
/// `values` (JSON): never bootstrap's, whatever its name.
fn users_helm_install(
    w: &HelmWorld,
    release: &str,
    chart: &str,
    version: &str,
    namespace: &str,
    values: &str,
) {
    let file = w.dir.path().join(format!("{release}-values.json"));
    std::fs::write(&file, values).unwrap();
    let mut helm = std::process::Command::new(&w.helm);
    helm.args(["upgrade", "--install", release, chart, "--repo"])
        .arg(&w.charts.url)
        .args([
            "--version",
            version,
            "--namespace",
            namespace,
            "--create-namespace",
        ])
        .arg("--values")
        .arg(&file)
        .args(["--kube-context", CONTEXT, "--kubeconfig"])
        .arg(&w.kubeconfig);
    let out = run_bounded(helm, std::time::Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn kubectl(w: &HelmWorld, context: &str, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new("kubectl");
    cmd.args([
        "--kubeconfig",
        w.kubeconfig.to_str().unwrap(),
        "--context",
        context,
    ])
    .args(args);
    let out = run_bounded(cmd, std::time::Duration::from_secs(60));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A context whose credentials come from an exec plugin (EKS, GKE, AKS, OIDC logins): the
/// apiserver double accepts only the plugin's token. kubectl shows the double refuses the same
/// server without it; bootstrap's `up` (kube client and helm) and `verify` get through by
/// running the plugin as kubectl does. With the login expired, both stop with an error naming
/// the plugin and the context, and `up` changes nothing.
#[test]
fn exec_plugin_credentials_work_in_up_and_verify() {
    if !charts_or_skip("exec_plugin_credentials_work_in_up_and_verify") {
        return;
    }
    exec_plugin_journey(false);
}

/// The same with a plugin that prints a client certificate (as Teleport's does) to a double that
/// accepts only client certificates of its CA.
#[test]
fn exec_plugin_client_certificates_work_in_up_and_verify() {
    if !charts_or_skip("exec_plugin_client_certificates_work_in_up_and_verify") {
        return;
    }
    exec_plugin_journey(true);
}

fn exec_plugin_journey(client_cert: bool) {
    let w = HelmWorld::start_exec_giving(client_cert);
    seed_vcluster_secrets(&w);
    // The double's strictness, seen by the real kubectl: no credentials, no answer.
    let anonymous = kubectl(&w, "kind-t-anonymous", &["get", "namespaces"]);
    assert_ne!(anonymous.code, 0, "{}", anonymous.text());
    assert!(
        anonymous.stderr.contains("Unauthorized")
            || anonymous.stderr.contains("provide credentials"),
        "{}",
        anonymous.text()
    );
    let with_plugin = kubectl(&w, CONTEXT, &["get", "namespaces"]);
    assert_eq!(with_plugin.code, 0, "{}", with_plugin.text());
    let runs = w.plugin_runs();
    assert!(runs >= 1, "kubectl did not run the plugin");

    let f = env_file(&w, &w.charts.url, "");
    let f = f.to_str().unwrap();
    let up = bootstrap(&w, &w.helm, &["-f", f, "up", "--no-verify"]);
    assert_eq!(up.code, 0, "{}", up.text());
    assert!(
        up.stdout
            .contains("helm install ingress-nginx/ingress-nginx"),
        "{}",
        up.text()
    );
    assert!(
        w.api
            .object("/api/v1/namespaces/ingress-nginx/secrets/sh.helm.release.v1.ingress-nginx.v1")
            .is_some(),
        "helm's release record, written through the plugin's token"
    );
    assert!(w.plugin_runs() > runs, "bootstrap ran no plugin");
    // What the plugin was told (by kube, at least): the v1 ExecCredential, as client-go passes it.
    let log = std::fs::read_to_string(w.dir.path().join("plugin.log")).unwrap();
    assert!(
        log.lines()
            .filter(|l| l.contains(r#""apiVersion":"client.authentication.k8s.io/v1""#))
            .count()
            > runs,
        "{log}"
    );
    let runs = w.plugin_runs();
    let verify = bootstrap(&w, &w.helm, &["-f", f, "verify", "--context", CONTEXT]);
    assert_eq!(verify.code, 0, "{}", verify.text());
    assert!(
        verify.stdout.contains("1 of 1 context verified"),
        "{}",
        verify.text()
    );
    assert!(w.plugin_runs() > runs, "verify ran no plugin");

    // The login expired: the plugin fails. up stops before any change, naming both.
    std::fs::write(w.dir.path().join("logged-out"), "").unwrap();
    let writes = w.api.writes();
    let calls_before = calls(&w).len();
    let up = bootstrap(&w, &w.helm, &["-f", f, "up", "--no-verify"]);
    assert_ne!(up.code, 0, "{}", up.text());
    for want in [
        "context `kind-t`",
        "exec credential plugin",
        "creds-plugin",
        "the SSO session for profile dev has expired",
    ] {
        assert!(up.stderr.contains(want), "missing {want:?}:\n{}", up.text());
    }
    assert_eq!(w.api.writes(), writes, "the API was written");
    assert_eq!(calls(&w)[calls_before..], [] as [String; 0], "helm ran");
    let verify = bootstrap(&w, &w.helm, &["-f", f, "verify", "--context", CONTEXT]);
    assert_eq!(verify.code, 1, "{}", verify.text());
    for want in [
        "context `kind-t`",
        "creds-plugin",
        "the SSO session for profile dev has expired",
    ] {
        assert!(
            verify.stdout.contains(want),
            "missing {want:?}:\n{}",
            verify.text()
        );
    }
}

fn existing_file(w: &HelmWorld, router: &str) -> std::path::PathBuf {
    let repo = &w.charts.url;
    let text = format!(
        "cluster: {{provider: existing, name: t, context: {CONTEXT}}}\naccess: {{mode: host}}\nrouter: {{{router}, chart: {{repo: '{repo}', name: ingress-nginx, version: 4.14.1}}}}\nvclusters:\n  - {{name: dev, release: vcluster-dev-helm, namespace: dev-vcluster, chart: {{repo: '{repo}', name: vcluster, version: 0.26.0}}}}\n"
    );
    let p = w.dir.path().join("envs.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

const CONTROLLER_SVC: &str = "/api/v1/namespaces/ingress-nginx/services/ingress-nginx-controller";
const DEV_INGRESS: &str =
    "/apis/networking.k8s.io/v1/namespaces/dev-vcluster/ingresses/vcluster-dev-helm-api";

/// `up` stopped at the router: no vcluster release and no vcluster route exist.
fn no_vcluster_installed_or_routed(w: &HelmWorld) {
    assert!(
        w.api.object(DEV_INGRESS).is_none(),
        "a vcluster route was applied"
    );
    assert!(
        w.api
            .object(
                "/api/v1/namespaces/dev-vcluster/secrets/sh.helm.release.v1.vcluster-dev-helm.v1"
            )
            .is_none(),
        "a vcluster was installed"
    );
}

/// `router.domainFromAddress: sslip.io`: the router goes in first as a LoadBalancer Service on
/// 443 (the chart rendered with our values by the real Helm engine); once the load balancer
/// controller gave it an address, the vcluster's hostname, its Ingress and its context are
/// `dev-vcluster.<a-b-c-d>.sslip.io`. A second `up` changes nothing.
#[test]
fn the_load_balancers_address_names_the_vclusters_sslip_io_style() {
    if !charts_or_skip("the_load_balancers_address_names_the_vclusters_sslip_io_style") {
        return;
    }
    let w = HelmWorld::start();
    seed_vcluster_secrets(&w);
    let f = existing_file(&w, "domainFromAddress: sslip.io");
    let f = f.to_str().unwrap();
    // Before the router exists, plan says what the hostnames wait for.
    let plan = bootstrap(&w, &w.helm, &["-f", f, "plan"]);
    assert_eq!(plan.code, 0, "{}", plan.text());
    assert!(
        plan.stderr.contains("hostnames under `load-balancer-address.sslip.io` stand for the router's load balancer address"),
        "{}",
        plan.text()
    );
    let up = bootstrap(&w, &w.helm, &["-f", f, "up", "--no-verify"]);
    assert_eq!(up.code, 0, "{}", up.text());
    let svc = w.api.object(CONTROLLER_SVC).expect("the router's Service");
    assert_eq!(svc["spec"]["type"], "LoadBalancer", "{svc}");
    let https = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "https")
        .cloned()
        .unwrap();
    assert_eq!(https["port"], 443, "{svc}");
    let ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .expect("the double's load balancer address")
        .to_owned();
    let host = format!("dev-vcluster.{}.sslip.io", ip.replace('.', "-"));
    assert!(
        up.stderr.contains(&format!(
            "hostnames under {}",
            &host["dev-vcluster.".len()..]
        )),
        "{}",
        up.text()
    );
    let ingress = w.api.object(DEV_INGRESS).expect("the vcluster's Ingress");
    assert_eq!(
        ingress["spec"]["rules"][0]["host"],
        host.as_str(),
        "{ingress}"
    );
    let kubeconfig = std::fs::read_to_string(&w.kubeconfig).unwrap();
    assert!(
        kubeconfig.contains(&format!("server: https://{host}:443")),
        "{kubeconfig}"
    );
    let (code, values, err) = w.run(&[
        "get",
        "values",
        "vcluster-dev-helm",
        "-n",
        "dev-vcluster",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        values.contains(&host),
        "the vcluster's certificate names its hostname: {values}"
    );

    let plan = bootstrap(&w, &w.helm, &["-f", f, "plan"]);
    assert!(plan.stdout.contains("Nothing to change"), "{}", plan.text());
    let calls_before = calls(&w).len();
    let writes = w.api.writes();
    let again = bootstrap(&w, &w.helm, &["-f", f, "up", "--no-verify"]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(
        again.stdout.contains("Nothing to change"),
        "{}",
        again.text()
    );
    assert_eq!(calls(&w)[calls_before..], [] as [String; 0], "helm ran");
    assert_eq!(w.api.writes(), writes, "API writes on a converged up");

    let down = bootstrap(&w, &w.helm, &["-f", f, "down"]);
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(w.api.object(DEV_INGRESS).is_none(), "{}", down.text());
    assert!(w.api.object(CONTROLLER_SVC).is_none(), "{}", down.text());
    assert!(
        !std::fs::read_to_string(&w.kubeconfig)
            .unwrap()
            .contains("sslip.io"),
        "the vcluster's context stays:\n{}",
        down.text()
    );
}

/// The file's own values turn the router's Service into a NodePort: there is no load balancer
/// to take an address from, and `up` says so (after installing the router, before any vcluster).
#[test]
fn no_load_balancer_no_address_domain() {
    if !charts_or_skip("no_load_balancer_no_address_domain") {
        return;
    }
    let w = HelmWorld::start();
    seed_vcluster_secrets(&w);
    let f = existing_file(
        &w,
        "domainFromAddress: sslip.io, values: {controller: {service: {type: NodePort}}}",
    );
    let up = bootstrap(
        &w,
        &w.helm,
        &["-f", f.to_str().unwrap(), "up", "--no-verify"],
    );
    assert_eq!(up.code, 1, "{}", up.text());
    assert!(
        up.stderr
            .contains("the router has no LoadBalancer Service in namespace ingress-nginx"),
        "{}",
        up.text()
    );
    no_vcluster_installed_or_routed(&w);
}

/// A LoadBalancer Service that no controller serves (its `loadBalancerClass` names one this
/// cluster does not run, so the apiserver double, like a real cluster, leaves its status empty):
/// `up --wait 2s` waits that long for an address, then stops naming the Service and what to
/// check, before any vcluster is installed or routed.
#[test]
fn a_load_balancer_that_never_gets_an_address_is_explained_after_the_wait() {
    if !charts_or_skip("a_load_balancer_that_never_gets_an_address_is_explained_after_the_wait") {
        return;
    }
    let w = HelmWorld::start();
    seed_vcluster_secrets(&w);
    let f = existing_file(
        &w,
        "domainFromAddress: sslip.io, values: {controller: {service: {loadBalancerClass: example.com/absent}}}",
    );
    let started = std::time::Instant::now();
    let up = bootstrap(
        &w,
        &w.helm,
        &[
            "-f",
            f.to_str().unwrap(),
            "up",
            "--no-verify",
            "--wait",
            "2s",
        ],
    );
    assert_eq!(up.code, 1, "{}", up.text());
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "it did not wait for the address"
    );
    for want in [
        "load balancer: FAILED: no address",
        "the router's LoadBalancer Service in namespace ingress-nginx has no address yet",
        "kubectl -n ingress-nginx get service",
    ] {
        assert!(up.stderr.contains(want), "missing {want:?}: {}", up.text());
    }
    let svc = w.api.object(CONTROLLER_SVC).expect("the router's Service");
    assert_eq!(
        svc["spec"]["loadBalancerClass"], "example.com/absent",
        "{svc}"
    );
    no_vcluster_installed_or_routed(&w);
}

/// `router.service: NodePort` with a domain the user owns: the Service is a NodePort on the
/// file's https port, no load balancer address is asked for, and the context dials the
/// hostname on that port.
#[test]
fn a_node_port_router_with_the_users_domain() {
    if !charts_or_skip("a_node_port_router_with_the_users_domain") {
        return;
    }
    let w = HelmWorld::start();
    seed_vcluster_secrets(&w);
    let f = existing_file(
        &w,
        "service: NodePort, httpsPort: 30443, domain: dev.example.com",
    );
    let up = bootstrap(
        &w,
        &w.helm,
        &["-f", f.to_str().unwrap(), "up", "--no-verify"],
    );
    assert_eq!(up.code, 0, "{}", up.text());
    let svc = w.api.object(CONTROLLER_SVC).expect("the router's Service");
    assert_eq!(svc["spec"]["type"], "NodePort", "{svc}");
    assert!(
        svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "https" && p["nodePort"] == 30443),
        "{svc}"
    );
    assert_eq!(svc["status"]["loadBalancer"], json!({}), "{svc}");
    let ingress = w.api.object(DEV_INGRESS).expect("the vcluster's Ingress");
    assert_eq!(
        ingress["spec"]["rules"][0]["host"],
        "dev-vcluster.dev.example.com"
    );
    let kubeconfig = std::fs::read_to_string(&w.kubeconfig).unwrap();
    assert!(
        kubeconfig.contains("server: https://dev-vcluster.dev.example.com:30443"),
        "{kubeconfig}"
    );
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
