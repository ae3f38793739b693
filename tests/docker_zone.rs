//! The zone detector for real: bootstrap run inside a container that has the host's Docker socket
//! mounted (an imported image holding only the binary and its libraries) must say devcontainer,
//! show its evidence, and still observe the cluster through the mounted socket.

mod support;

use support::*;

struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker_status(&["rmi", "-f", &self.0]);
    }
}

#[test]
fn inside_a_container_with_the_host_socket_is_devcontainer() {
    if !docker_or_skip("inside_a_container_with_the_host_socket_is_devcontainer") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("zone"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let f = spec.write(dir.path());
    assert!(bootstrap(&["-f", f.to_str().unwrap(), "up"], &[])
        .stderr
        .contains("created"));
    // The same file under a fixed name inside the image.
    let envs = dir.path().join("envs.yaml");
    std::fs::copy(&f, &envs).unwrap();

    let tag = format!("bootstrap-test/zone:{}", unique("img"));
    let out = std::process::Command::new(repo().join("tests/support/make-bootstrap-image.sh"))
        .arg(bin())
        .arg(&tag)
        .arg(&envs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _image = Image(tag.clone());

    let mut cmd = std::process::Command::new("docker");
    cmd.args([
        "run",
        "--rm",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-e",
        "REMOTE_CONTAINERS=true",
    ])
    .args([&tag, "-f", "/envs.yaml", "status", "-o", "json"]);
    let out = run_bounded(cmd, std::time::Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let zone = &doc["zone"];
    assert_eq!(zone["zone"], "devcontainer", "{stdout}");
    assert_eq!(zone["access"], "devcontainer", "{stdout}");
    assert_eq!(
        zone["evidence"]["containerMarker"], "/.dockerenv",
        "{stdout}"
    );
    assert_eq!(
        zone["evidence"]["containerVars"][0], "REMOTE_CONTAINERS=true",
        "{stdout}"
    );
    assert_ne!(
        zone["evidence"]["hostname"], zone["evidence"]["dockerName"],
        "{stdout}"
    );
    let reasons = zone["reasons"].to_string();
    assert!(reasons.contains("/.dockerenv exists"), "{stdout}");
    assert!(
        reasons.contains("unix:///var/run/docker.sock, the host's engine"),
        "{stdout}"
    );
    assert_eq!(doc["docker"]["reachable"], true, "{stdout}");
    assert_eq!(doc["cluster"]["state"], "converged", "{stdout}");
    assert_eq!(
        doc["cluster"]["nodes"][0]["name"],
        format!("{}-control-plane", spec.name),
        "{stdout}"
    );

    // The same binary outside the container, on this machine, is not a devcontainer: either no
    // marker at all, or a marker but dockerd running right here.
    let here = bootstrap(&["-f", f.to_str().unwrap(), "status", "-o", "json"], &[]);
    let doc: serde_json::Value = serde_json::from_str(&here.stdout).unwrap();
    let e = &doc["zone"]["evidence"];
    if e["containerMarker"].is_null() || e["hostname"] == e["dockerName"] {
        assert_ne!(doc["zone"]["zone"], "devcontainer", "{}", here.text());
    }
}
