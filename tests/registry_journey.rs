//! `registry:` in envs.yaml, from where the user stands: the real binary's `up` (kind double, node
//! double, real Docker, the real registry image) gives kind's config the containerd patch,
//! starts the registry, writes the node's host file and the ConfigMap; `up` again changes
//! nothing; `docker push localhost:<port>/...` is listed by the registry; `down` removes it all.

mod support;

use support::*;

#[test]
fn up_runs_a_registry_push_lands_down_removes_it() {
    let test = "up_runs_a_registry_push_lands_down_removes_it";
    if !docker_or_skip(test) {
        return;
    }
    if !std::path::Path::new("/usr/bin/docker-registry").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: docker-registry is required under CI"
        );
        eprintln!("skipped {test}: Debian's docker-registry is not installed");
        return;
    }
    let out = std::process::Command::new(repo().join("tests/support/registry-image.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("rj"));
    let port = free_port();
    let reg = format!("{}-registry", spec.name);
    let _clean = Cleanup(vec![spec.name.clone()]);
    let _reg = Containers(vec![reg.clone()]);
    let file = dir.path().join("envs.yaml");
    std::fs::write(
        &file,
        format!(
            "{}registry:\n  port: {port}\n  image: bootstrap-test/registry:latest\n",
            spec.yaml()
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();

    // kind is handed the containerd patch with the rest of its config.
    let rendered = bootstrap(&["-f", f, "render", "kind-config"], &[]);
    assert!(
        rendered.stdout.contains("containerdConfigPatches:")
            && rendered
                .stdout
                .contains("    config_path = \"/etc/containerd/certs.d\"\n"),
        "{}",
        rendered.text()
    );

    let up = bootstrap(&["-f", f, "up", "--no-verify"], &[]);
    assert_eq!(up.code, 0, "{}", up.text());
    for want in [
        format!("create registry container {reg}"),
        format!(
            "write /etc/containerd/certs.d/localhost:{port}/hosts.toml on node {}-control-plane",
            spec.name
        ),
        "applied ConfigMap kube-public/local-registry-hosting".to_owned(),
    ] {
        assert!(
            up.stdout.contains(&want),
            "missing {want:?}:\n{}",
            up.text()
        );
    }
    let node = format!("{}-control-plane", spec.name);
    let hosts = docker(&[
        "cp",
        &format!("{node}:/etc/containerd/certs.d/localhost:{port}/hosts.toml"),
        "-",
    ]);
    assert!(
        hosts.contains(&format!("[host.\"http://{reg}:5000\"]")),
        "{hosts}"
    );

    let id_before = docker(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", &reg]);
    let again = bootstrap(&["-f", f, "up", "--no-verify"], &[]);
    assert_eq!(again.code, 0, "{}", again.text());
    // (Each run here gets a fresh kubeconfig, so only the registry's part is compared: no
    // registry change listed, no registry step run, the same container, not restarted.)
    assert!(!again.stdout.contains("registry"), "{}", again.text());
    assert!(!again.stderr.contains("registry:"), "{}", again.text());
    assert_eq!(
        docker(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", &reg]),
        id_before
    );

    // A `local-registry-hosting` ConfigMap someone else made (kind's guide, ctlptl) in its place:
    // `up` stops before any change, naming it, rather than after touching the registry.
    let kubeconfig = dir.path().join("kubeconfig");
    let kc = kubeconfig.to_str().unwrap();
    let written = bootstrap(&["-f", f, "up", "--no-verify"], &[("KUBECONFIG", kc)]);
    assert_eq!(written.code, 0, "{}", written.text());
    let context = format!("kind-{}", spec.name);
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .args(["--kubeconfig", kc, "--context", &context])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    kubectl(&[
        "-n",
        "kube-public",
        "delete",
        "configmap",
        "local-registry-hosting",
    ]);
    kubectl(&[
        "-n",
        "kube-public",
        "create",
        "configmap",
        "local-registry-hosting",
        "--from-literal=localRegistryHosting.v1=host: \"localhost:5999\"",
    ]);
    let refused = bootstrap(&["-f", f, "up", "--no-verify"], &[("KUBECONFIG", kc)]);
    assert_eq!(refused.code, 1, "{}", refused.text());
    for want in [
        "up stopped before any change",
        "ConfigMap kube-public/local-registry-hosting exists and was not made by bootstrap",
        "nothing was changed",
    ] {
        assert!(
            refused.stderr.contains(want),
            "missing {want:?}: {}",
            refused.text()
        );
    }
    kubectl(&[
        "-n",
        "kube-public",
        "delete",
        "configmap",
        "local-registry-hosting",
    ]);

    let image = format!("localhost:{port}/bt/journey:1");
    docker(&["tag", "bootstrap-test/busybox:latest", &image]);
    let pushed = docker_status(&["push", &image]);
    let _ = docker_status(&["rmi", &image]);
    assert!(pushed, "docker push {image} failed");
    let mut resp = ureq::get(&format!("http://127.0.0.1:{port}/v2/_catalog"))
        .call()
        .unwrap();
    let catalog = resp.body_mut().read_to_string().unwrap();
    assert!(catalog.contains("\"bt/journey\""), "{catalog}");

    let down = bootstrap(&["-f", f, "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(
        down.stdout
            .contains(&format!("registry container {reg} removed")),
        "{}",
        down.text()
    );
    assert!(!docker_status(&["inspect", &reg]));
}
