//! The doubles refuse what the real charts and controllers would: each strictness is shown
//! biting through the real binary, as tests/full_up.rs runs it (real Docker, the kind node
//! double, the helm double's real Helm engine installing the contract charts).
//!
//! 1. A vcluster's certificate holds only the names its config gives it: upgrade the release
//!    without the hostname in `controlPlane.proxy.extraSANs` and `verify` fails at tls, naming
//!    the certificate's names.
//! 2. ingress-nginx passes TLS through only with `--enable-ssl-passthrough`: with it turned
//!    off in the router's values the router answers with its default certificate and `verify`
//!    says so.
//! 3. The chart's values schema is enforced: a misspelt vcluster value stops `up` at that
//!    release with the schema's error naming the key; the rest converges; the user's kubeconfig
//!    is untouched.

mod support;

use support::charts::charts_or_skip;
use support::full::*;
use support::*;

fn ready(test: &str) -> bool {
    docker_or_skip(test) && unshare_works() && charts_or_skip(test)
}

fn verify(w: &World) -> Run {
    in_ns(
        w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "verify"],
        &[],
    )
}

fn render(w: &World, what: &[&str]) -> String {
    let mut args = vec!["-f", w.env_file.to_str().unwrap(), "render"];
    args.extend(what);
    let r = in_ns(w, &bin(), &args, &[]);
    assert_eq!(r.code, 0, "{}", r.text());
    r.stdout
}

/// `helm upgrade` of one release with `values`, as a user would run it by hand.
fn helm_upgrade(
    w: &World,
    release: &str,
    namespace: &str,
    chart: &str,
    version: &str,
    values: &str,
) -> Run {
    let file = w.dir.path().join(format!("{release}-values.yaml"));
    std::fs::write(&file, values).unwrap();
    let context = format!("kind-{}", w.cluster);
    in_ns(
        w,
        &w.helm,
        &[
            "upgrade",
            release,
            chart,
            "--repo",
            &w.charts.url,
            "--version",
            version,
            "--namespace",
            namespace,
            "--values",
            file.to_str().unwrap(),
            "--wait",
            "--timeout",
            "120s",
            "--kube-context",
            &context,
            "--kubeconfig",
            w.kubeconfig.to_str().unwrap(),
        ],
        &[],
    )
}

#[test]
fn a_hostname_dropped_from_extra_sans_fails_verify_at_tls_naming_the_certificate_names() {
    let test =
        "a_hostname_dropped_from_extra_sans_fails_verify_at_tls_naming_the_certificate_names";
    if !ready(test) {
        return;
    }
    let w = world();
    let _clean = Cleanup(vec![w.cluster.clone()]);
    let first = up(&w, &[]);
    assert_eq!(first.code, 0, "{}", first.text());
    assert_eq!(verify(&w).code, 0);

    // The values bootstrap renders for dev, minus the hostname, applied by hand.
    let values = render(&w, &["vcluster", "dev"]);
    let without: String = values
        .lines()
        .filter(|l| !l.contains("- dev-vcluster.cnoe.localtest.me"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        values, without,
        "the rendered values name the hostname in extraSANs:\n{values}"
    );
    let upgraded = helm_upgrade(
        &w,
        "vcluster-dev-helm",
        "dev-vcluster",
        "vcluster",
        "0.26.0",
        &without,
    );
    assert_eq!(upgraded.code, 0, "{}", upgraded.text());

    let v = verify(&w);
    assert_eq!(v.code, 1, "{}", v.text());
    let text = v.text();
    let line = text
        .lines()
        .find(|l| l.starts_with("dev-vcluster (") && l.contains("tls: certificate name mismatch"))
        .unwrap_or_else(|| panic!("no tls name mismatch for dev-vcluster:\n{text}"));
    // The certificate's own names are named: what vcluster's cert.go derives from the config
    // now applied, without the hostname.
    let held: Vec<&str> = line
        .split_once("it holds [")
        .and_then(|(_, r)| r.split_once(']'))
        .map(|(names, _)| names.split(", ").collect())
        .unwrap_or_else(|| panic!("the certificate's names are not listed: {line}"));
    for name in [
        "vcluster-dev-helm.dev-vcluster.svc",
        "my-host.com",
        "kubernetes.default.svc",
        "127.0.0.1",
    ] {
        assert!(held.contains(&name), "{name} not among {held:?}");
    }
    assert!(
        !held.contains(&"dev-vcluster.cnoe.localtest.me"),
        "{held:?}"
    );
    // staging was not touched and still verifies.
    assert!(
        text.lines()
            .any(|l| l.starts_with("staging-vcluster") && l.trim_end().ends_with("ok")),
        "{text}"
    );
}

#[test]
fn without_ssl_passthrough_the_router_answers_with_its_default_certificate() {
    let test = "without_ssl_passthrough_the_router_answers_with_its_default_certificate";
    if !ready(test) {
        return;
    }
    let w = world();
    let _clean = Cleanup(vec![w.cluster.clone()]);
    let first = up(&w, &[]);
    assert_eq!(first.code, 0, "{}", first.text());

    // The router redeployed by hand from bootstrap's own values with the one flag dropped, as a
    // user editing the release would: the controller runs without `--enable-ssl-passthrough`
    // (the chart passes only the extraArgs it is given).
    let rendered = render(&w, &["router"]);
    assert!(
        rendered.contains("enable-ssl-passthrough: \"true\""),
        "{rendered}"
    );
    let values: String = rendered
        .lines()
        .filter(|l| !l.contains("enable-ssl-passthrough"))
        .map(|l| format!("{l}\n"))
        .collect();
    let upgraded = helm_upgrade(
        &w,
        "ingress-nginx",
        "ingress-nginx",
        "ingress-nginx",
        "4.14.1",
        &values,
    );
    assert_eq!(upgraded.code, 0, "{}", upgraded.text());

    let v = verify(&w);
    assert_eq!(v.code, 1, "{}", v.text());
    let text = v.text();
    let line = text
        .lines()
        .find(|l| l.starts_with("dev-vcluster ("))
        .unwrap_or_else(|| panic!("no failure for dev-vcluster:\n{text}"));
    assert!(
        line.contains("tls: passthrough is not working")
            && line.contains("Kubernetes Ingress Controller Fake Certificate"),
        "the router's default certificate is named at tls: {line}"
    );
    // The kind API is not behind the router and still verifies.
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("kind-{}", w.cluster)) && l.trim_end().ends_with("ok")),
        "{text}"
    );
}

#[test]
fn a_misspelt_vcluster_value_stops_up_at_that_release_with_the_chart_schema_error() {
    let test = "a_misspelt_vcluster_value_stops_up_at_that_release_with_the_chart_schema_error";
    if !ready(test) {
        return;
    }
    let w = world();
    let _clean = Cleanup(vec![w.cluster.clone()]);
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    let staging = "context: staging-vcluster, ";
    assert!(text.contains(staging));
    std::fs::write(
        &w.env_file,
        text.replace(
            staging,
            "context: staging-vcluster, values: {controlPlane: {proxy: {extraSans: [typo.example]}}}, ",
        ),
    )
    .unwrap();

    let failed = up(&w, &[]);
    assert_eq!(failed.code, 1, "{}", failed.text());
    let err = failed.stderr.clone();
    assert!(
        err.contains("vcluster staging: helm install of staging-vcluster/vcluster-staging-helm"),
        "{}",
        failed.text()
    );
    // The chart's schema (vcluster 0.36.1 values.schema.json, additionalProperties false) names
    // the key.
    assert!(
        err.contains("values don't meet the specifications of the schema(s) in the following chart(s):\nvcluster:\n- at '/controlPlane/proxy': additional properties 'extraSans' not allowed"),
        "{}",
        failed.text()
    );
    let errors = &err[err.find("error:").unwrap()..];
    assert!(
        !errors.contains("vcluster dev:"),
        "dev must not fail with it:\n{}",
        failed.text()
    );
    // Of the user's kubeconfig, only the host cluster's context is added (so they can look);
    // nothing of theirs changes, no vcluster context is written.
    let written = std::fs::read_to_string(&w.kubeconfig).unwrap();
    let d = bootstrap::core::kubeconfig::doc::parse(&written).unwrap();
    assert_eq!(
        bootstrap::core::kubeconfig::doc::context_names(&d),
        vec!["work".to_owned(), format!("kind-{}", w.cluster)],
        "{written}"
    );
    assert!(
        written.contains("keep-me") && written.contains("team-a"),
        "{written}"
    );
    // The rest converged: the router and dev are deployed, staging was never installed.
    let listed = |release: &str, namespace: &str| {
        let context = format!("kind-{}", w.cluster);
        let kc = w.dir.path().join("kind-kubeconfig");
        let out = std::process::Command::new(kind_double())
            .args(["get", "kubeconfig", "--name", &w.cluster])
            .output()
            .unwrap();
        std::fs::write(&kc, &out.stdout).unwrap();
        let r = in_ns(
            &w,
            &w.helm,
            &[
                "list",
                "-o",
                "json",
                "--filter",
                &format!("^{release}$"),
                "--namespace",
                namespace,
                "--kube-context",
                &context,
                "--kubeconfig",
                kc.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(r.code, 0, "{}", r.text());
        let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        rows[0]["status"].as_str().map(str::to_owned)
    };
    assert_eq!(
        listed("ingress-nginx", "ingress-nginx").as_deref(),
        Some("deployed")
    );
    assert_eq!(
        listed("vcluster-dev-helm", "dev-vcluster").as_deref(),
        Some("deployed")
    );
    assert_eq!(listed("vcluster-staging-helm", "staging-vcluster"), None);
}
