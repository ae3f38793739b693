//! Switching routers on a running environment, through the real binary as the user does it:
//! the file goes from `router.kind: ingress-nginx` to `gateway-api` and back. `plan` shows exactly
//! the old router's release and routes removed (only ours) and the new ones installed, with no
//! context touched; `up` converges, the contexts verify through the new router, and a second `up`
//! changes nothing. A user's own ingress-nginx release in the same cluster (installed with helm,
//! not by bootstrap, so without our mark) is never removed.
//!
//! On a real Docker engine with the kind double (the node double plays whichever router was
//! applied, see crates/testkit/src/node/router.rs) and the helm double (the real Helm engine
//! installing the contract charts).

mod support;

use support::charts::charts_or_skip;
use support::full::*;
use support::*;

fn run(w: &World, args: &[&str]) -> Run {
    let mut all = vec!["-f", w.env_file.to_str().unwrap()];
    all.extend(args);
    in_ns(w, &bin(), &all, &[])
}

/// The plan's numbered lines as `<op> <target>`, without the checks every plan holds
/// (preflight before, verify after).
fn actions(plan: &str) -> Vec<String> {
    plan.lines()
        .filter_map(|l| {
            let (n, rest) = l.trim_start().split_once(". ")?;
            n.parse::<u32>().ok()?;
            Some(rest.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .filter(|l| !l.starts_with("preflight ") && !l.starts_with("verify "))
        .collect()
}

fn switch_to(w: &World, router: RouterUnderTest) {
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    let start = text.find("router:\n").unwrap();
    let end = text.find("vclusters:\n").unwrap();
    let port: u16 = text[start..end]
        .split("httpsPort: ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap();
    let new = format!(
        "{}{}{}",
        &text[..start],
        router.yaml(&w.charts.url, port),
        &text[end..]
    );
    std::fs::write(&w.env_file, new).unwrap();
}

/// Helm's releases in the cluster, as `namespace/name` (kubectl reads helm's own records).
fn releases(w: &World) -> Vec<String> {
    let r = kubectl(
        w,
        &[
            "--context",
            &format!("kind-{}", w.cluster),
            "get",
            "secrets",
            "-A",
            "-l",
            "owner=helm,status=deployed",
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.labels.name}{\"\\n\"}{end}",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.text());
    let mut out: Vec<String> = r.stdout.lines().map(str::to_owned).collect();
    out.sort();
    out
}

#[test]
fn switching_routers_removes_only_ours_and_keeps_the_contexts() {
    let test = "switching_routers_removes_only_ours_and_keeps_the_contexts";
    if !docker_or_skip(test) || !unshare_works() || !charts_or_skip(test) {
        return;
    }
    let w = world_with(RouterUnderTest::IngressNginx);
    pin_node_image(&w);
    // The Gateway API CRDs are where a previous download left them (no internet here).
    RouterUnderTest::GatewayApi.seed_cache(&w.dir.path().join(".cache/bootstrap"));
    let _clean = Cleanup(vec![w.cluster.clone()]);

    let first = run(&w, &["up"]);
    assert_eq!(first.code, 0, "{}", first.text());

    // The user's own ingress-nginx, installed with helm (no bootstrap mark), under its own class
    // and without host ports, beside ours.
    let values = w.dir.path().join("theirs.yaml");
    std::fs::write(
        &values,
        "controller:\n  ingressClass: theirs\n  ingressClassResource: {name: theirs, controllerValue: example.com/theirs}\n  service: {type: ClusterIP}\n  admissionWebhooks: {enabled: false}\n",
    )
    .unwrap();
    let kubeconfig = w.kubeconfig.to_str().unwrap().to_owned();
    let context = format!("kind-{}", w.cluster);
    let theirs = in_ns(
        &w,
        &w.helm,
        &[
            "upgrade",
            "--install",
            "theirs",
            "ingress-nginx",
            "--repo",
            &w.charts.url,
            "--version",
            "4.14.1",
            "--namespace",
            "their-ingress",
            "--create-namespace",
            "--values",
            values.to_str().unwrap(),
            "--kubeconfig",
            &kubeconfig,
            "--kube-context",
            &context,
            "--wait",
        ],
        &[],
    );
    assert_eq!(theirs.code, 0, "{}", theirs.text());
    let with_nginx = releases(&w);
    assert!(
        with_nginx.contains(&"ingress-nginx/ingress-nginx".to_owned())
            && with_nginx.contains(&"their-ingress/theirs".to_owned()),
        "{with_nginx:?}"
    );
    let converged = run(&w, &["up"]);
    assert!(
        converged.stdout.contains("Nothing to change"),
        "the user's release is none of ours: {}",
        converged.text()
    );
    let contexts = std::fs::read(&w.kubeconfig).unwrap();

    for (to, expected, gone, added) in [
        (
            RouterUnderTest::GatewayApi,
            // The old router's routes and release first (both routers bind the node's 443), then
            // the CRDs, the new release, our Gateway objects and each vcluster's TLSRoute.
            vec![
                "remove ingress/dev-vcluster/vcluster-dev-helm-api",
                "remove ingress/staging-vcluster/vcluster-staging-helm-api",
                "remove helm/ingress-nginx/ingress-nginx",
                "apply-crds crds/gateway.networking.k8s.io",
                "install-router helm/traefik/traefik",
                "apply-object gatewayclass/bootstrap",
                "apply-object gateway/traefik/bootstrap",
                "apply-route tlsroute/dev-vcluster/vcluster-dev-helm-api",
                "apply-route tlsroute/staging-vcluster/vcluster-staging-helm-api",
            ],
            "ingress-nginx/ingress-nginx",
            "traefik/traefik",
        ),
        (
            RouterUnderTest::IngressNginx,
            // Routes before the Gateway they hang from, before its class; the CRDs stay
            // (cluster-wide, perhaps serving the user's own controllers).
            vec![
                "remove tlsroute/dev-vcluster/vcluster-dev-helm-api",
                "remove tlsroute/staging-vcluster/vcluster-staging-helm-api",
                "remove gateway/traefik/bootstrap",
                "remove gatewayclass/bootstrap",
                "remove helm/traefik/traefik",
                "install-router helm/ingress-nginx/ingress-nginx",
                "apply-route ingress/dev-vcluster/vcluster-dev-helm-api",
                "apply-route ingress/staging-vcluster/vcluster-staging-helm-api",
            ],
            "traefik/traefik",
            "ingress-nginx/ingress-nginx",
        ),
    ] {
        switch_to(&w, to);
        let plan = run(&w, &["plan"]);
        assert_eq!(plan.code, 0, "{}", plan.text());
        eprintln!("$ bootstrap plan   # switched to {to:?}\n{}", plan.stdout);
        assert_eq!(
            actions(&plan.stdout),
            expected,
            "plan to {to:?}: exactly the old router out and the new one in, no context:\n{}",
            plan.text()
        );
        assert!(
            plan.stdout
                .contains(&format!("{} changes to make", expected.len())),
            "{}",
            plan.text()
        );
        assert!(
            !plan.stdout.contains("their-ingress"),
            "the user's release is not in the plan:\n{}",
            plan.text()
        );

        let up = run(&w, &["up"]);
        assert_eq!(up.code, 0, "{}", up.text());
        assert!(
            up.stdout.contains("3 of 3 contexts verified"),
            "{}",
            up.text()
        );
        let now = releases(&w);
        assert!(now.contains(&added.to_owned()), "{now:?}");
        assert!(!now.contains(&gone.to_owned()), "{now:?}");
        assert!(
            now.contains(&"their-ingress/theirs".to_owned()),
            "the user's own ingress-nginx was removed: {now:?}"
        );
        assert_eq!(
            std::fs::read(&w.kubeconfig).unwrap(),
            contexts,
            "the contexts changed though their routes stayed"
        );
        // What the switch removed is gone from the API (our marks select it), and the
        // Gateway API CRDs stay: cluster-wide, perhaps serving the user's own controllers.
        let ours = kubectl(
            &w,
            &[
                "--context",
                &context,
                "get",
                "ingresses,tlsroutes,gateways,gatewayclasses",
                "-A",
                "-l",
                &format!("bootstrap/env={}", w.cluster),
                "-o",
                "name",
            ],
        );
        assert_eq!(ours.code, 0, "{}", ours.text());
        let mut left: Vec<&str> = ours.stdout.lines().collect();
        left.sort();
        let mut want: Vec<&str> = match to {
            RouterUnderTest::GatewayApi => vec![
                "gateway.gateway.networking.k8s.io/bootstrap",
                "gatewayclass.gateway.networking.k8s.io/bootstrap",
                "tlsroute.gateway.networking.k8s.io/vcluster-dev-helm-api",
                "tlsroute.gateway.networking.k8s.io/vcluster-staging-helm-api",
            ],
            RouterUnderTest::IngressNginx => vec![
                "ingress.networking.k8s.io/vcluster-dev-helm-api",
                "ingress.networking.k8s.io/vcluster-staging-helm-api",
            ],
        };
        want.sort();
        assert_eq!(left, want, "our router objects after the switch to {to:?}");
        let crd = kubectl(
            &w,
            &[
                "--context",
                &context,
                "get",
                "crd",
                "tlsroutes.gateway.networking.k8s.io",
                "-o",
                "name",
            ],
        );
        assert_eq!(crd.code, 0, "the Gateway API CRDs stay: {}", crd.text());
        let again = run(&w, &["up"]);
        assert_eq!(again.code, 0, "{}", again.text());
        assert!(
            again.stdout.contains("Nothing to change"),
            "the second up after the switch to {to:?} changed something: {}",
            again.text()
        );
        let verify = run(&w, &["verify"]);
        assert_eq!(verify.code, 0, "{}", verify.text());
    }

    let down = run(&w, &["down"]);
    assert_eq!(down.code, 0, "{}", down.text());
}
