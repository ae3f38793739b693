//! A devcontainer on a Linux engine joins kind's network to reach the API by the node's name:
//! the join, on a real engine, for a container standing in for the devcontainer. The join
//! carries our mark (a network alias), so a join the user made is told apart from ours.

mod support;

use bootstrap::drivers::docker::network::{join, joined, leave};
use support::*;

#[tokio::test]
async fn a_join_carries_our_mark_and_a_foreign_join_does_not() {
    if !docker_or_skip("a_join_carries_our_mark_and_a_foreign_join_does_not") {
        return;
    }
    if !docker_status(&["network", "inspect", "kind"]) {
        docker(&["network", "create", "kind"]);
    }
    let ours = unique("dcnet");
    let theirs = unique("dcnetu");
    let _gone = Containers(vec![ours.clone(), theirs.clone()]);
    for (name, net) in [(&ours, "bridge"), (&theirs, "kind")] {
        docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "bootstrap-test/busybox:latest",
            "/bin/busybox",
            "sleep",
            "600",
        ]);
    }
    let conn = bootstrap::drivers::docker::connect().await.unwrap();
    assert_eq!(joined(&conn, &ours, "kind").await.unwrap(), None);
    join(&conn, &ours, "kind", "bootstrap.envx").await.unwrap();
    let nets = docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &ours,
    ]);
    assert!(nets.split_whitespace().any(|n| n == "kind"), "{nets}");
    let j = joined(&conn, &ours, "kind").await.unwrap().expect("joined");
    assert!(j.ours("envx"), "{j:?}");
    assert!(
        !j.ours("other-env"),
        "another environment's mark is not ours"
    );
    // A container the user put on the network (runArgs --network kind) carries no mark.
    let t = joined(&conn, &theirs, "kind")
        .await
        .unwrap()
        .expect("on kind");
    assert!(!t.ours("envx"), "{t:?}");
    leave(&conn, &ours, "kind").await.unwrap();
    assert_eq!(joined(&conn, &ours, "kind").await.unwrap(), None);
    let err = join(&conn, "no-such-container-here", "kind", "bootstrap.envx")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("joining this container to the `kind` network"),
        "{err}"
    );
}
