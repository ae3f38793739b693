//! `down` on a real Docker engine: deletes the cluster the file names and nothing else; a second
//! `down` is fine; without kind, nodes are removed by label through Docker.

mod support;

use support::*;

#[test]
fn down_leaves_foreign_clusters_and_containers_alone() {
    if !docker_or_skip("down_leaves_foreign_clusters_and_containers_alone") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ours = Spec::new(&unique("dn"));
    let theirs = Spec::new(&unique("dno"));
    let _clean = Cleanup(vec![ours.name.clone(), theirs.name.clone()]);
    // A container named like our node but without kind's label, and one labelled for a cluster
    // whose name merely starts with ours.
    let lookalike = format!("{}-control-plane-lookalike", ours.name);
    let prefixed = format!("{}x", ours.name);
    let _c = Containers(vec![lookalike.clone()]);
    let _p = Cleanup(vec![prefixed.clone()]);
    docker(&[
        "run",
        "-d",
        "--name",
        &lookalike,
        "bootstrap-test/busybox:latest",
        "/bin/busybox",
        "sleep",
        "600",
    ]);
    docker(&[
        "run",
        "-d",
        "--name",
        &format!("{prefixed}-control-plane"),
        "--label",
        &format!("{CLUSTER_LABEL}={prefixed}"),
        "bootstrap-test/busybox:latest",
        "/bin/busybox",
        "sleep",
        "600",
    ]);
    let f_ours = ours.write(dir.path());
    let f_theirs = theirs.write(dir.path());
    for f in [&f_ours, &f_theirs] {
        let up = bootstrap(&["-f", f.to_str().unwrap(), "up"], &[]);
        assert!(up.stderr.contains("created"), "{}", up.text());
    }

    let down = bootstrap(&["-f", f_ours.to_str().unwrap(), "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(down.stderr.contains("through kind"), "{}", down.text());
    assert!(nodes(&ours.name).is_empty());
    assert_eq!(
        nodes(&theirs.name),
        vec![format!("{}-control-plane", theirs.name)]
    );
    assert_eq!(nodes(&prefixed), vec![format!("{prefixed}-control-plane")]);
    assert!(
        docker_status(&["inspect", &lookalike]),
        "the unlabelled lookalike must survive"
    );
    assert!(
        docker_status(&["network", "inspect", "kind"]),
        "the kind network is shared and stays"
    );

    let again = bootstrap(&["-f", f_ours.to_str().unwrap(), "down"], &[]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(again.stderr.contains("already absent"), "{}", again.text());
}

#[test]
fn down_without_kind_removes_by_label_through_docker() {
    if !docker_or_skip("down_without_kind_removes_by_label_through_docker") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("dk"));
    let other = unique("dko");
    let _clean = Cleanup(vec![spec.name.clone(), other.clone()]);
    let f = spec.write(dir.path());
    assert!(bootstrap(&["-f", f.to_str().unwrap(), "up"], &[])
        .stderr
        .contains("created"));
    docker(&[
        "run",
        "-d",
        "--name",
        &format!("{other}-control-plane"),
        "--label",
        &format!("{CLUSTER_LABEL}={other}"),
        "bootstrap-test/busybox:latest",
        "/bin/busybox",
        "sleep",
        "600",
    ]);
    let down = bootstrap(
        &["-f", f.to_str().unwrap(), "down"],
        &[
            ("BOOTSTRAP_KIND", "/nonexistent/kind"),
            ("PATH", "/usr/bin:/bin"),
        ],
    );
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(down.stderr.contains("through docker"), "{}", down.text());
    assert!(nodes(&spec.name).is_empty());
    assert_eq!(
        nodes(&other).len(),
        1,
        "another cluster's node must survive"
    );
}
