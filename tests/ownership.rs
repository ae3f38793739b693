//! Ownership is recorded, not inferred from a name, on a real Docker engine with the kind double:
//! a kind cluster made by hand (as the seeds' users made `localdev` from their kind.yaml) is
//! adopted by `up` when it matches the file, never recreated, and left by `down`, which says how
//! to remove it; `down --force` is the deliberate way. One that differs stops `up` before any
//! change, `--recreate` or not.

mod support;

use support::*;

/// Create the cluster the file describes with kind itself, as a user would by hand.
fn by_hand(spec: &Spec, dir: &std::path::Path, file: &str) {
    let rendered = bootstrap(&["-f", file, "render", "kind-config"], &[]);
    assert_eq!(rendered.code, 0, "{}", rendered.text());
    let config = dir.join("kind.yaml");
    std::fs::write(&config, &rendered.stdout).unwrap();
    let out = std::process::Command::new(kind_double())
        .args(["create", "cluster", "--name", &spec.name, "--config"])
        .arg(&config)
        .arg("--kubeconfig")
        .arg(dir.join("by-hand.kubeconfig"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_cluster_made_by_hand_is_adopted_and_never_deleted_without_force() {
    if !docker_or_skip("a_cluster_made_by_hand_is_adopted_and_never_deleted_without_force") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("own"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let file = spec.write(dir.path());
    let f = file.to_str().unwrap();
    by_hand(&spec, dir.path(), f);
    let node = format!("{}-control-plane", spec.name);
    let id = docker(&["inspect", "-f", "{{.Id}}", &node]);

    let plan = bootstrap(&["-f", f, "plan"], &[]);
    assert_eq!(plan.code, 0, "{}", plan.text());
    assert!(
        plan.stdout
            .lines()
            .any(|l| l.contains("adopt") && l.trim_end().ends_with(&format!("kind/{}", spec.name))),
        "{}",
        plan.text()
    );
    let up = bootstrap(&["-f", f, "up"], &[]);
    assert_eq!(up.code, 0, "{}", up.text());
    assert!(
        up.stderr.contains(&format!(
            "cluster `{}`: not created by bootstrap, and it matches the file: adopted",
            spec.name
        )),
        "{}",
        up.text()
    );
    assert_eq!(
        docker(&["inspect", "-f", "{{.Id}}", &node]),
        id,
        "an adopted cluster is used as it is, never recreated"
    );
    // Adopting leaves no mark of ours in it: it stays the user's.
    assert!(
        !docker_status(&["cp", &format!("{node}:/kind/bootstrap.json"), "-"]),
        "up marked a cluster it did not make"
    );

    let down = bootstrap(&["-f", f, "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(
        down.stderr.contains(&format!(
            "cluster `{}`: not created by bootstrap (no record in its node): left in place",
            spec.name
        )) && down
            .stderr
            .contains(&format!("`kind delete cluster --name {}`", spec.name))
            && down.stderr.contains("bootstrap down --force"),
        "{}",
        down.text()
    );
    assert_eq!(nodes(&spec.name), vec![node.clone()], "down deleted it");

    let forced = bootstrap(&["-f", f, "down", "--force"], &[]);
    assert_eq!(forced.code, 0, "{}", forced.text());
    assert!(nodes(&spec.name).is_empty(), "{}", forced.text());
}

#[test]
fn a_cluster_made_by_hand_that_differs_stops_up_before_any_change() {
    if !docker_or_skip("a_cluster_made_by_hand_that_differs_stops_up_before_any_change") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("ownd"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    // Made by hand with another API port than the file now says.
    let other = Spec {
        api_port: free_port(),
        ..Spec::new(&spec.name)
    };
    let made_dir = dir.path().join("made");
    std::fs::create_dir_all(&made_dir).unwrap();
    let made = other.write(&made_dir);
    by_hand(&other, dir.path(), made.to_str().unwrap());
    let node = format!("{}-control-plane", spec.name);
    let id = docker(&["inspect", "-f", "{{.Id}}", &node]);
    let file = spec.write(dir.path());
    let f = file.to_str().unwrap();
    for args in [vec!["-f", f, "up"], vec!["-f", f, "up", "--recreate"]] {
        let up = bootstrap(&args, &[]);
        assert_eq!(up.code, 1, "{}", up.text());
        assert!(
            up.stderr.contains(&format!(
                "cluster `{}` exists but bootstrap did not create it",
                spec.name
            )) && up.stderr.contains("nothing was changed"),
            "{}",
            up.text()
        );
        assert_eq!(docker(&["inspect", "-f", "{{.Id}}", &node]), id);
    }
}

/// The seeds' users' cluster exactly as they made it: their kind.yaml (seed 004: the API pinned
/// to a fixed port; seed 001: host 8443 to the node's 443, `protocol: TCP`) with the node
/// labelled `ingress-ready=true` the way kind's ingress guide does it, through a kubeadm patch's
/// kubelet `node-labels`, not kind's `labels:`. Against a file asking for that cluster (the
/// label as `cluster.nodeLabels`, as envs/localdev.yaml does), `up` adopts it: kind's defaults
/// (API on 127.0.0.1, mappings on 0.0.0.0) and a label set another way are the same cluster.
#[test]
fn the_seeds_own_kind_yaml_makes_a_cluster_up_adopts() {
    if !docker_or_skip("the_seeds_own_kind_yaml_makes_a_cluster_up_adopts") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("seed"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let file = dir.path().join("envs.yaml");
    std::fs::write(
        &file,
        format!(
            "{}  nodeLabels:\n    ingress-ready: \"true\"\n",
            spec.yaml()
        ),
    )
    .unwrap();
    let kind_yaml = dir.path().join("kind.yaml");
    std::fs::write(
        &kind_yaml,
        format!(
            "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  apiServerPort: {api}\nnodes:\n- role: control-plane\n  kubeadmConfigPatches:\n  - |\n    kind: InitConfiguration\n    nodeRegistration:\n      kubeletExtraArgs:\n        node-labels: \"ingress-ready=true\"\n  extraPortMappings:\n  - containerPort: 443\n    hostPort: {https}\n    protocol: TCP\n",
            api = spec.api_port,
            https = spec.https_port
        ),
    )
    .unwrap();
    let out = std::process::Command::new(kind_double())
        .args([
            "create", "cluster", "--name", &spec.name, "--image", NODE_IMAGE, "--config",
        ])
        .arg(&kind_yaml)
        .arg("--kubeconfig")
        .arg(dir.path().join("by-hand.kubeconfig"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = file.to_str().unwrap();
    let up = bootstrap(&["-f", f, "up"], &[]);
    assert_eq!(up.code, 0, "{}", up.text());
    assert!(
        up.stderr.contains(&format!(
            "cluster `{}`: not created by bootstrap, and it matches the file: adopted",
            spec.name
        )),
        "{}",
        up.text()
    );

    // A file asking for a label the cluster lacks is not this cluster: `up` says which label
    // differs and stops before any change (the user's cluster stays as it is).
    let unlabelled = dir.path().join("envs-other-label.yaml");
    std::fs::write(
        &unlabelled,
        format!(
            "{}  nodeLabels:\n    ingress-ready: \"true\"\n    tier: edge\n",
            spec.yaml()
        ),
    )
    .unwrap();
    let differs = bootstrap(&["-f", unlabelled.to_str().unwrap(), "up"], &[]);
    assert_eq!(differs.code, 1, "{}", differs.text());
    assert!(differs.stderr.contains("tier"), "{}", differs.text());
    assert!(
        differs.stderr.contains("nothing was changed"),
        "{}",
        differs.text()
    );
}

/// A cluster of ours deleted and made again by hand under the same name: the admin credentials
/// bootstrap wrote into the kubeconfig are for the old one, and a converged run reads the node's
/// labels with them (instead of kind's admin.conf through Docker, which is slow); the new API
/// refuses them, so `up` reads admin.conf after all, adopts the new cluster (no record of ours
/// in it) and writes its credentials.
#[test]
fn a_cluster_remade_by_hand_is_seen_with_its_own_credentials_not_the_old_ones() {
    if !docker_or_skip("a_cluster_remade_by_hand_is_seen_with_its_own_credentials_not_the_old_ones")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("remade"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let file = spec.write(dir.path());
    let f = file.to_str().unwrap();
    let kc = dir.path().join("kubeconfig");
    let env = [("KUBECONFIG", kc.to_str().unwrap())];
    let ca = |kc: &std::path::Path, ctx: &str| {
        let d =
            bootstrap::core::kubeconfig::doc::parse(&std::fs::read_to_string(kc).unwrap()).unwrap();
        bootstrap::core::kubeconfig::doc::credentials(&d, ctx)
            .unwrap()
            .ca_pem
    };
    let ctx = format!("kind-{}", spec.name);
    let up = bootstrap(&["-f", f, "up"], &env);
    assert_eq!(up.code, 0, "{}", up.text());
    let old_ca = ca(&kc, &ctx);
    let again = bootstrap(&["-f", f, "up"], &env);
    assert!(
        again.stdout.contains("Nothing to change"),
        "{}",
        again.text()
    );

    remove_cluster(&spec.name);
    by_hand(&spec, dir.path(), f);
    let up = bootstrap(&["-f", f, "up"], &env);
    assert_eq!(up.code, 0, "{}", up.text());
    assert!(
        up.stderr
            .contains("not created by bootstrap, and it matches the file: adopted"),
        "{}",
        up.text()
    );
    let new_ca = ca(&kc, &ctx);
    assert_ne!(
        new_ca, old_ca,
        "the kubeconfig still holds the old cluster's CA"
    );
    let by_hand_ca = ca(&dir.path().join("by-hand.kubeconfig"), &ctx);
    assert_eq!(
        new_ca, by_hand_ca,
        "the new cluster's own CA, as kind gave it"
    );
}
