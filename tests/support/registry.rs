//! The real registry in tests: distribution's `registry` from Debian's docker-registry package,
//! in the FROM-scratch image `registry-image.sh` builds; pushing to it with the real docker CLI,
//! and reading back which requests it served from its access log.

use super::{docker_status, repo};
use std::process::Command;
use std::time::Duration;

/// `bootstrap-test/registry:latest` built; false (said) where Debian's docker-registry is not
/// installed, which CI never allows.
pub fn image_or_skip(test: &str) -> bool {
    if !std::path::Path::new("/usr/bin/docker-registry").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: /usr/bin/docker-registry is required under CI (scripts/test.sh installs docker-registry)"
        );
        eprintln!("skipped {test}: Debian's docker-registry is not installed (scripts/test.sh installs it)");
        return false;
    }
    let out = Command::new(repo().join("tests/support/registry-image.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "registry-image.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// `from` pushed as `to` (`127.0.0.1:<port>/<name>:<tag>`) by the docker CLI, retried while the
/// registry just started; the local tag is removed again.
pub fn push(from: &str, to: &str) {
    assert!(docker_status(&["tag", from, to]), "docker tag {from} {to}");
    let mut pushed = false;
    for _ in 0..50 {
        if docker_status(&["push", to]) {
            pushed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(pushed, "docker push {to}");
    let _ = docker_status(&["rmi", to]);
}

/// The API requests (`GET`/`HEAD /v2/...`) a registry container served, from its access log.
pub fn requests(container: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["logs", container])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    all.lines()
        .filter(|l| l.contains("\"GET /v2/") || l.contains("\"HEAD /v2/"))
        .map(str::to_owned)
        .collect()
}
