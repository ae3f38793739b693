//! A devcontainer on a Linux engine joins kind's network to reach the API by the node's name:
//! the join, on a real engine, for a container standing in for the devcontainer.

mod support;

use support::*;

#[tokio::test]
async fn join_connects_once_and_then_changes_nothing() {
    if !docker_or_skip("join_connects_once_and_then_changes_nothing") {
        return;
    }
    if !docker_status(&["network", "inspect", "kind"]) {
        docker(&["network", "create", "kind"]);
    }
    let name = unique("dcnet");
    let _gone = Containers(vec![name.clone()]);
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "bootstrap-test/busybox:latest",
        "/bin/busybox",
        "sleep",
        "600",
    ]);
    let conn = bootstrap::drivers::docker::connect().await.unwrap();
    let joined = bootstrap::drivers::docker::network::join(&conn, &name, "kind", "env/test")
        .await
        .unwrap();
    assert!(joined, "the first join connects");
    let nets = docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &name,
    ]);
    assert!(nets.split_whitespace().any(|n| n == "kind"), "{nets}");
    let again = bootstrap::drivers::docker::network::join(&conn, &name, "kind", "env/test")
        .await
        .unwrap();
    assert!(!again, "already on the network: no second write");
    let err = bootstrap::drivers::docker::network::join(
        &conn,
        "no-such-container-here",
        "kind",
        "env/test",
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("looking up this container"),
        "{err}"
    );
}
