//! `cluster.workers`: a three-node cluster (one control plane, two workers) from where the user
//! stands, on the real Docker engine with the kind double (which creates one container per node
//! of the config kind is handed, named as kind names them) and the kind node double (whose API
//! registers the workers' Nodes and keeps the control plane's NoSchedule taint, as kind does when
//! a cluster has workers; its 443 answers only for a router whose pod the scheduler would put on
//! that node: nodeSelector and tolerations). Checked: the nodes, the router's port on the
//! control-plane node alone, containerd's hosts.toml for the local registry on every node, the
//! contexts verified through the router, a converged `up`, a changed worker count refused with the
//! reason (and `--recreate` named), and `down` removing every node.

mod support;

use support::charts::charts_or_skip;
use support::full::*;
use support::*;

#[test]
fn three_nodes_up_converged_up_worker_drift_and_down() {
    journey(
        "three_nodes_up_converged_up_worker_drift_and_down",
        RouterUnderTest::IngressNginx,
        true,
        1,
    );
}

/// Traefik selects the control-plane node by its role label and tolerates its taint.
#[test]
fn three_nodes_with_the_gateway_api_router() {
    journey(
        "three_nodes_with_the_gateway_api_router",
        RouterUnderTest::GatewayApi,
        false,
        1,
    );
}

/// Three control planes behind kind's load balancer, and two workers: the API is published by
/// the load balancer, the router's port by the first control plane, and Traefik is pinned to that
/// node by its name (the role label would match all three).
#[test]
fn three_control_planes_behind_the_load_balancer() {
    journey(
        "three_control_planes_behind_the_load_balancer",
        RouterUnderTest::GatewayApi,
        false,
        3,
    );
}

fn set_control_planes(w: &World, n: u32) {
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    std::fs::write(
        &w.env_file,
        text.replacen(
            "cluster:\n",
            &format!("cluster:\n  controlPlanes: {n}\n"),
            1,
        ),
    )
    .unwrap();
}

fn set_workers(w: &World, n: u32) {
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    let text = match text.find("  workers: ") {
        Some(at) => {
            let end = at + text[at..].find('\n').unwrap();
            format!("{}  workers: {n}{}", &text[..at], &text[end..])
        }
        None => text.replacen("cluster:\n", &format!("cluster:\n  workers: {n}\n"), 1),
    };
    std::fs::write(&w.env_file, text).unwrap();
}

fn journey(test: &str, router: RouterUnderTest, with_registry: bool, control_planes: u32) {
    if !docker_or_skip(test) || !unshare_works() || !charts_or_skip(test) {
        return;
    }
    let w = world_with(router);
    pin_node_image(&w);
    set_workers(&w, 2);
    if control_planes > 1 {
        set_control_planes(&w, control_planes);
    }
    let registry_port = free_port();
    let registry = format!("{}-registry", w.cluster);
    if with_registry {
        let built = std::process::Command::new(repo().join("tests/support/registry-image.sh"))
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let mut text = std::fs::read_to_string(&w.env_file).unwrap();
        text.push_str(&format!(
            "registry:\n  port: {registry_port}\n  image: bootstrap-test/registry:latest\n"
        ));
        std::fs::write(&w.env_file, text).unwrap();
    }
    let _clean = Cleanup(vec![w.cluster.clone()]);
    let _reg = Containers(vec![registry.clone()]);
    let file = w.env_file.to_str().unwrap().to_owned();

    let first = up(&w, &[]);
    assert_eq!(first.code, 0, "{}", first.text());
    let mut names = nodes(&w.cluster);
    names.sort();
    let cp = format!("{}-control-plane", w.cluster);
    let lb = format!("{}-external-load-balancer", w.cluster);
    let mut want = vec![cp.clone()];
    want.extend((2..=control_planes).map(|i| format!("{cp}{i}")));
    if control_planes > 1 {
        want.push(lb.clone());
    }
    want.extend([
        format!("{}-worker", w.cluster),
        format!("{}-worker2", w.cluster),
    ]);
    want.sort();
    assert_eq!(names, want, "kind's node names");
    // The router's port is published by the first control plane and no other node; the API by
    // that node, or by the load balancer in front of several.
    let https = config_port(&w);
    let api_port = api_port(&w);
    for n in &names {
        let ports = docker(&["port", n]);
        assert_eq!(
            ports.contains(&format!(":{https}")),
            *n == cp,
            "{n} publishes {ports}"
        );
        let api_holder = if control_planes > 1 { &lb } else { &cp };
        assert_eq!(
            ports.contains(&format!("127.0.0.1:{api_port}")),
            n == api_holder,
            "{n} publishes {ports}"
        );
    }
    // The API registers every node; the control planes keep their NoSchedule taint.
    let ctx = format!("kind-{}", w.cluster);
    let listed = kubectl(&w, &["--context", &ctx, "get", "nodes", "-o", "name"]);
    assert_eq!(listed.code, 0, "{}", listed.text());
    assert_eq!(
        listed.stdout.lines().count(),
        control_planes as usize + 2,
        "{}",
        listed.text()
    );
    let taints = kubectl(
        &w,
        &[
            "--context",
            &ctx,
            "get",
            "node",
            &cp,
            "-o",
            "jsonpath={.spec.taints[*].key}",
        ],
    );
    assert_eq!(
        taints.stdout.trim(),
        "node-role.kubernetes.io/control-plane",
        "{}",
        taints.text()
    );
    // Every vcluster is reached through the router on the control-plane node, certificates
    // verified (up verified them; a real client agrees).
    for c in ["dev-vcluster", "staging-vcluster"] {
        let v = kubectl(&w, &["--context", c, "get", "--raw", "/version"]);
        assert_eq!(v.code, 0, "kubectl --context {c}: {}", v.text());
    }
    let verify = in_ns(&w, &bin(), &["-f", &file, "verify"], &[]);
    assert_eq!(verify.code, 0, "{}", verify.text());
    if with_registry {
        // containerd on every node reads the local registry's host file.
        for n in &names {
            let path = format!("{n}:/etc/containerd/certs.d/localhost:{registry_port}/hosts.toml");
            let got = std::process::Command::new("docker")
                .args(["cp", &path, "-"])
                .output()
                .unwrap();
            assert!(
                got.status.success(),
                "no hosts.toml on {n}: {}",
                String::from_utf8_lossy(&got.stderr)
            );
            assert!(
                String::from_utf8_lossy(&got.stdout).contains(&format!("http://{registry}:5000")),
                "hosts.toml on {n} does not point at {registry}"
            );
        }
    }

    // Converged: nothing to change, with three nodes.
    let second = up(&w, &[]);
    assert_eq!(second.code, 0, "{}", second.text());
    assert!(
        second.stdout.contains("Nothing to change"),
        "{}",
        second.text()
    );

    // One worker fewer: plan says why, up refuses before any change and names --recreate.
    set_workers(&w, 1);
    let plan = in_ns(&w, &bin(), &["-f", &file, "plan"], &[]);
    let said = plan.text();
    assert!(
        said.contains("the file wants 1 worker (cluster.workers), the cluster has 2 workers"),
        "{said}"
    );
    let refused = up(&w, &[]);
    assert_ne!(refused.code, 0, "{}", refused.text());
    assert!(refused.text().contains("--recreate"), "{}", refused.text());
    assert_eq!(
        nodes(&w.cluster).len(),
        names.len(),
        "a refused up changed the nodes"
    );

    let down = in_ns(&w, &bin(), &["-f", &file, "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(nodes(&w.cluster).is_empty(), "every node must be gone");
    if with_registry {
        assert!(
            !docker(&["ps", "-a", "--format", "{{.Names}}"])
                .lines()
                .any(|l| l == registry),
            "the registry must be gone"
        );
    }
}

/// The router's host port, as the world's envs.yaml names it.
fn config_port(w: &World) -> u16 {
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    text.split("httpsPort: ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap()
}

/// The API server's host port, as the world's envs.yaml names it.
fn api_port(w: &World) -> u16 {
    let text = std::fs::read_to_string(&w.env_file).unwrap();
    text.split("apiServer: {address: 127.0.0.1, port: ")
        .nth(1)
        .and_then(|r| r.split('}').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap()
}
