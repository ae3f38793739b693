//! The whole `up`, a second `up` that changes nothing, and `down`, on a real Docker engine with
//! the kind double (running the kind node double: a kube-apiserver and passthrough router double
//! with real TLS) and the helm double (the real Helm engine installing the contract charts from
//! a local chart repository). Names under cnoe.localtest.me resolve through a private
//! /etc/hosts in a mount namespace (no DNS here), as they resolve to 127.0.0.1 on a laptop.

mod support;

use std::time::Instant;
use support::charts::charts_or_skip;
use support::full::*;
use support::proxy::Proxy;
use support::*;

#[test]
fn up_then_converged_up_then_down() {
    full_journey(
        "up_then_converged_up_then_down",
        RouterUnderTest::IngressNginx,
    );
}

/// The same with `router.kind: gateway-api` (Traefik, our Gateway, one TLSRoute per vcluster).
#[test]
fn up_then_converged_up_then_down_with_the_gateway_api_router() {
    full_journey(
        "up_then_converged_up_then_down_with_the_gateway_api_router",
        RouterUnderTest::GatewayApi,
    );
}

fn full_journey(test: &str, router: RouterUnderTest) {
    if !docker_or_skip(test) || !unshare_works() || !charts_or_skip(test) {
        return;
    }
    let w = world_with(router);
    pin_node_image(&w);
    let _clean = Cleanup(vec![w.cluster.clone()]);

    let plan = in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "plan"],
        &[],
    );
    assert_eq!(plan.code, 0, "{}", plan.text());
    assert!(
        plan.stdout.lines().any(|l| l.contains("create-cluster")
            && l.trim_end().ends_with(&format!(" kind/{}", w.cluster))),
        "{}",
        plan.text()
    );
    assert!(nodes(&w.cluster).is_empty(), "plan must create nothing");

    // The first up runs kind and helm: traced, which also shows the spawn counter used below
    // on the converged up sees processes when there are some.
    let strace = support::spawns::strace_or_skip("the first up's processes");
    let first_trace = w.dir.path().join("first.strace");
    let first = if strace {
        in_ns(
            &w,
            std::path::Path::new("strace"),
            &[
                "-f",
                "-qq",
                "-e",
                "trace=execve",
                "-o",
                first_trace.to_str().unwrap(),
                bin().to_str().unwrap(),
                "-f",
                w.env_file.to_str().unwrap(),
                "up",
            ],
            &[],
        )
    } else {
        up(&w, &[])
    };
    assert_eq!(first.code, 0, "{}", first.text());
    show("bootstrap -f envs.yaml up", &first);
    if strace {
        let spawned = support::spawns::spawned(&first_trace, &bin());
        for tool in ["kind", "helm"] {
            assert!(
                spawned.iter().any(|p| p.ends_with(&format!("/{tool}"))),
                "the first up ran no {tool}: {spawned:?}"
            );
        }
    }
    let route_kind = match router {
        RouterUnderTest::IngressNginx => "Ingress",
        RouterUnderTest::GatewayApi => "TLSRoute",
    };
    for want in [
        format!("cluster `{}` created", w.cluster),
        format!("helm install {}", router.release()),
        "helm install dev-vcluster/vcluster-dev-helm".into(),
        format!("applied {route_kind} staging-vcluster/vcluster-staging-helm-api"),
        "applied Secret argocd/cluster-dev-vcluster".into(),
    ] {
        assert!(
            first.stdout.contains(&want),
            "missing {want:?}:\n{}",
            first.text()
        );
    }
    let config = std::fs::read_to_string(&w.kubeconfig).unwrap();
    let d = bootstrap::core::kubeconfig::doc::parse(&config).unwrap();
    let names = bootstrap::core::kubeconfig::doc::context_names(&d);
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
    let dev = bootstrap::core::kubeconfig::doc::context_view(&d, "dev-vcluster").unwrap();
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
    // kubectl finds helm's own release records by label across namespaces, and lists the
    // namespaces inside a vcluster through the router.
    let kind_context = format!("kind-{}", w.cluster);
    let records = kubectl(
        &w,
        &[
            "--context",
            &kind_context,
            "get",
            "secrets",
            "-A",
            "-l",
            "owner=helm",
            "-o",
            "name",
        ],
    );
    assert_eq!(records.code, 0, "{}", records.text());
    let router_release = router.release().split('/').nth(1).unwrap();
    for release in [router_release, "vcluster-dev-helm", "vcluster-staging-helm"] {
        assert!(
            records
                .stdout
                .contains(&format!("secret/sh.helm.release.v1.{release}.v1")),
            "{}",
            records.text()
        );
    }
    let inside = kubectl(&w, &["--context", "dev-vcluster", "get", "ns"]);
    assert_eq!(inside.code, 0, "{}", inside.text());
    assert!(inside.stdout.contains("kube-system"), "{}", inside.text());
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
    show("bootstrap -f envs.yaml up        # again", &second);
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
    assert_eq!(
        new,
        Vec::<&str>::new(),
        "a converged up runs no helm at all (releases are read from helm's records)"
    );
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

    // And it spawns no process at all (no helm, no kind, no shell): counted with strace.
    if support::spawns::strace_or_skip("converged up spawns no process") {
        let trace = w.dir.path().join("converged.strace");
        let traced = in_ns(
            &w,
            std::path::Path::new("strace"),
            &[
                "-f",
                "-qq",
                "-e",
                "trace=execve",
                "-o",
                trace.to_str().unwrap(),
                bin().to_str().unwrap(),
                "-f",
                w.env_file.to_str().unwrap(),
                "up",
            ],
            &[],
        );
        assert_eq!(traced.code, 0, "{}", traced.text());
        assert!(
            traced.stdout.contains("Nothing to change"),
            "{}",
            traced.text()
        );
        assert_eq!(
            support::spawns::spawned(&trace, &bin()),
            Vec::<String>::new(),
            "processes spawned by a converged up"
        );
    }

    if router == RouterUnderTest::GatewayApi {
        route_through_another_listener_is_diagnosed_and_repaired(&w);
    }

    let down = in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "down"],
        &[],
    );
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(nodes(&w.cluster).is_empty(), "the cluster must be gone");
    let config = std::fs::read_to_string(&w.kubeconfig).unwrap();
    let d = bootstrap::core::kubeconfig::doc::parse(&config).unwrap();
    assert_eq!(
        bootstrap::core::kubeconfig::doc::context_names(&d),
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

/// With BOOTSTRAP_SHOW_OUTPUT set, what the user saw, as the README quotes it (run with
/// `--nocapture`).
fn show(command: &str, out: &Run) {
    if std::env::var_os("BOOTSTRAP_SHOW_OUTPUT").is_some() {
        eprintln!("$ {command}\n{}{}", out.stderr, out.stdout);
    }
}

/// The node double routes a TLSRoute only through the listener its parentRef names: pointed at a
/// section our Gateway does not have (valid for the CRD, so the API accepts it), dev's hostname
/// falls through to Traefik's default certificate, which `verify` names; `up` puts the route back.
fn route_through_another_listener_is_diagnosed_and_repaired(w: &World) {
    let kind_context = format!("kind-{}", w.cluster);
    let patched = kubectl(
        w,
        &[
            "--context",
            &kind_context,
            "-n",
            "dev-vcluster",
            "patch",
            "tlsroute",
            "vcluster-dev-helm-api",
            "--type=json",
            "-p",
            r#"[{"op": "replace", "path": "/spec/parentRefs/0/sectionName", "value": "web"}]"#,
        ],
    );
    assert_eq!(patched.code, 0, "{}", patched.text());
    let verify = in_ns(
        w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "verify"],
        &[],
    );
    assert_eq!(verify.code, 1, "{}", verify.text());
    let seen = verify.text();
    assert!(
        seen.contains("TRAEFIK DEFAULT CERT") && seen.contains("passthrough is not working"),
        "verify must name the router's default certificate:\n{seen}"
    );
    assert!(
        seen.contains("dev-vcluster.cnoe.localtest.me"),
        "for dev's hostname:\n{seen}"
    );
    let repaired = up(w, &[]);
    assert_eq!(repaired.code, 0, "{}", repaired.text());
    assert!(
        repaired
            .stdout
            .contains("applied TLSRoute dev-vcluster/vcluster-dev-helm-api"),
        "{}",
        repaired.text()
    );
    assert!(
        repaired.stdout.contains("3 of 3 contexts verified"),
        "{}",
        repaired.text()
    );
}

fn config_port(w: &World) -> u16 {
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    text.split("httpsPort: ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap()
}

#[test]
fn a_failed_up_writes_only_the_host_context_and_the_next_up_resumes() {
    if !docker_or_skip("a_failed_up_writes_only_the_host_context_and_the_next_up_resumes")
        || !unshare_works()
        || !charts_or_skip("a_failed_up_writes_only_the_host_context_and_the_next_up_resumes")
    {
        return;
    }
    let w = world();
    let _clean = Cleanup(vec![w.cluster.clone()]);
    // staging's chart fails to install: the rest converges, the failure is named, and of the
    // user's kubeconfig only the host cluster's context is written (the cluster runs: the user
    // can look), nothing of theirs changed.
    let failed = up(&w, &[("HELM_DOUBLE_FAIL", "vcluster-staging-helm")]);
    assert_eq!(failed.code, 1, "{}", failed.text());
    assert!(
        failed
            .stderr
            .contains("vcluster staging: helm install of staging-vcluster/vcluster-staging-helm"),
        "{}",
        failed.text()
    );
    // A first install through `upgrade --install` reports helm's error unwrapped (helm v4.2.3
    // pkg/cmd/upgrade.go); the double was told to fail it.
    assert!(
        failed
            .stderr
            .contains("told to fail vcluster-staging-helm (HELM_DOUBLE_FAIL)"),
        "{}",
        failed.text()
    );
    let errors = &failed.stderr[failed.stderr.find("error:").unwrap()..];
    assert!(
        !errors.contains("vcluster dev:"),
        "dev must not fail with it:\n{}",
        failed.text()
    );
    let written = std::fs::read_to_string(&w.kubeconfig).unwrap();
    let d = bootstrap::core::kubeconfig::doc::parse(&written).unwrap();
    assert_eq!(
        bootstrap::core::kubeconfig::doc::context_names(&d),
        vec!["work".to_owned(), format!("kind-{}", w.cluster)],
        "only the host cluster's context is added:\n{written}"
    );
    assert_eq!(
        d["current-context"], "work",
        "the user's current context stays"
    );
    assert!(
        written.contains("keep-me") && written.contains("team-a") && written.contains("colors"),
        "the user's entries stay:\n{written}"
    );
    let host = kubectl(
        &w,
        &[
            "--context",
            &format!("kind-{}", w.cluster),
            "get",
            "ns",
            "-o",
            "name",
        ],
    );
    assert_eq!(host.code, 0, "the user can look: {}", host.text());

    // The next up resumes: it installs only what is missing and finishes the job.
    let calls_before = std::fs::read_to_string(w.helm_state.join("calls.log")).unwrap();
    let resumed = up(&w, &[]);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    let calls = std::fs::read_to_string(w.helm_state.join("calls.log")).unwrap();
    let upgrades: Vec<&str> = calls[calls_before.len()..]
        .lines()
        .filter(|c| c.starts_with("upgrade"))
        .collect();
    assert_eq!(
        upgrades.len(),
        1,
        "only staging is installed again: {upgrades:?}"
    );
    assert!(
        upgrades[0].contains("vcluster-staging-helm"),
        "{upgrades:?}"
    );
    assert!(
        resumed.stdout.contains("3 of 3 contexts verified"),
        "{}",
        resumed.text()
    );
    let down = in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "down"],
        &[],
    );
    assert_eq!(down.code, 0, "{}", down.text());
}

/// `down --keep-cluster`: what `up` installed into the cluster goes (the three releases through
/// helm uninstall, the routes, the ArgoCD registrations, the contexts) and the cluster stays
/// running; the next `up` finds it converged and installs only what was removed.
#[test]
fn down_keep_cluster_removes_what_was_installed_and_keeps_the_cluster() {
    if !docker_or_skip("down_keep_cluster_removes_what_was_installed_and_keeps_the_cluster")
        || !unshare_works()
        || !charts_or_skip("down_keep_cluster_removes_what_was_installed_and_keeps_the_cluster")
    {
        return;
    }
    let w = world();
    let _clean = Cleanup(vec![w.cluster.clone()]);
    let first = up(&w, &[]);
    assert_eq!(first.code, 0, "{}", first.text());
    let node_before = nodes(&w.cluster);
    assert!(!node_before.is_empty());
    let calls = || std::fs::read_to_string(w.helm_state.join("calls.log")).unwrap();
    let before = calls().lines().count();

    let down = in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "down", "--keep-cluster"],
        &[],
    );
    assert_eq!(down.code, 0, "{}", down.text());
    let log = calls();
    let uninstalled: Vec<&str> = log
        .lines()
        .skip(before)
        .filter(|l| l.starts_with("uninstall"))
        .collect();
    for release in [
        "ingress-nginx",
        "vcluster-dev-helm",
        "vcluster-staging-helm",
    ] {
        assert!(
            uninstalled
                .iter()
                .any(|l| l.split_whitespace().nth(1) == Some(release)),
            "{release} not uninstalled: {uninstalled:?}\n{}",
            down.text()
        );
    }
    assert_eq!(nodes(&w.cluster), node_before, "the cluster must stay");
    let config = std::fs::read_to_string(&w.kubeconfig).unwrap();
    let d = bootstrap::core::kubeconfig::doc::parse(&config).unwrap();
    assert_eq!(
        bootstrap::core::kubeconfig::doc::context_names(&d),
        vec!["work".to_owned()],
        "{config}"
    );

    let again = up(&w, &[]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(
        !again.stderr.contains("kind create") && !again.stdout.contains("created"),
        "the kept cluster was made again: {}",
        again.text()
    );
    assert!(
        again
            .stdout
            .contains("helm install ingress-nginx/ingress-nginx"),
        "{}",
        again.text()
    );
}
