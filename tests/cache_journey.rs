//! `cache:` in envs.yaml, from where the user stands, with real parts: the real binary's `up`
//! (kind double) makes a pull-through cache (distribution's real registry in proxy mode, the
//! image tests/support/registry-image.sh builds from Debian's docker-registry) in front of an
//! "upstream" (the same registry, with an image pushed by the real docker CLI), and writes the
//! node's containerd host file for that upstream. The real containerd and `ctr` (Debian's
//! containerd) then pull with exactly that host file: through the cache while the upstream
//! runs, and again, into an empty containerd, after the upstream is stopped. `down` leaves the
//! cache and says so; `bootstrap cache status` shows its size and hits; `bootstrap cache prune`
//! removes only what carries the cache's mark.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::full::unshare_works;
use support::*;

fn required(test: &str, what: &str, path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {what} ({path}) is required under CI"
    );
    eprintln!("skipped {test}: {what} is not installed ({path})");
    false
}

/// A containerd of the test's own (its own root, state and socket), stopped on drop.
struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Containerd {
    fn start() -> Containerd {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        // Only what `ctr images pull` needs: content, metadata, the native snapshotter (no CRI).
        std::fs::write(
            &config,
            "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
        )
        .unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .arg("--root")
            .arg(dir.path().join("root"))
            .arg("--state")
            .arg(dir.path().join("state"))
            .arg("--address")
            .arg(dir.path().join("c.sock"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("containerd (scripts/test.sh installs Debian's containerd)");
        let sock = dir.path().join("c.sock");
        let t = Instant::now();
        while !sock.exists() && t.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(sock.exists(), "containerd did not start");
        Containerd { child, dir }
    }

    /// `ctr images pull` with the host files in `hosts_dir`, names resolved through `hosts`
    /// (a private /etc/hosts: the cache's name on kind's network, as the node resolves it).
    fn pull(&self, hosts_dir: &Path, hosts: &Path, image: &str) -> Run {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
        ])
        .arg(hosts)
        .arg("ctr")
        .arg("--address")
        .arg(self.dir.path().join("c.sock"))
        .args(["images", "pull", "--snapshotter", "native", "--hosts-dir"])
        .arg(hosts_dir)
        .arg(image);
        let out = run_bounded(cmd, Duration::from_secs(60));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_pull_through_cache_serves_the_nodes_and_outlives_the_upstream_and_the_cluster() {
    let test = "a_pull_through_cache_serves_the_nodes_and_outlives_the_upstream_and_the_cluster";
    if !docker_or_skip(test)
        || !support::registry::image_or_skip(test)
        || !required(test, "Debian's containerd", "/usr/bin/containerd")
        || !unshare_works()
    {
        return;
    }
    let spec = Spec::new(&unique("cj"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    // The upstream: a real registry on kind's network, logging every request, with one image
    // pushed through its published port by the real docker CLI.
    let upstream = format!("{}-upstream", spec.name);
    let upstream_port = free_port();
    let upstream_host = format!("{}.test:5000", spec.name);
    let cache = format!("bootstrap-cache-{}-test-5000", spec.name);
    let decoy = format!("bootstrap-cache-{}-decoy", spec.name);
    let _containers = Containers(vec![upstream.clone(), cache.clone(), decoy.clone()]);
    let _volume = Volumes(vec![cache.clone()]);
    let _ = docker_status(&["network", "create", "kind"]);
    let started = docker_status(&[
        "run",
        "-d",
        "--name",
        &upstream,
        "--network",
        "kind",
        "-p",
        &format!("127.0.0.1:{upstream_port}:5000"),
        "-e",
        "REGISTRY_LOG_LEVEL=info",
        "bootstrap-test/registry:latest",
    ]);
    assert!(started, "could not start the upstream registry");
    support::registry::push(
        "bootstrap-test/busybox:latest",
        &format!("127.0.0.1:{upstream_port}/team/app:1"),
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("envs.yaml");
    std::fs::write(
        &file,
        format!(
            "{}cache:\n  image: bootstrap-test/registry:latest\n  upstreams:\n    - {{host: '{upstream_host}', remote: 'http://{upstream}:5000'}}\n",
            spec.yaml()
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();

    let rendered = bootstrap(&["-f", f, "render", "kind-config"], &[]);
    assert!(
        rendered
            .stdout
            .contains("    config_path = \"/etc/containerd/certs.d\"\n"),
        "{}",
        rendered.text()
    );
    let up = bootstrap(&["-f", f, "up", "--no-verify"], &[]);
    assert_eq!(up.code, 0, "{}", up.text());
    let node = format!("{}-control-plane", spec.name);
    for want in [
        format!("create pull-through cache {cache} for {upstream_host}"),
        format!("write /etc/containerd/certs.d/{upstream_host}/hosts.toml on node {node}"),
    ] {
        assert!(
            up.stdout.contains(&want),
            "missing {want:?}:\n{}",
            up.text()
        );
    }
    // What the node's containerd reads, exactly as bootstrap wrote it into the node.
    let hosts_toml = {
        let out = Command::new("sh")
            .arg("-c")
            .arg("docker cp \"$0\" - | tar -xO")
            .arg(format!(
                "{node}:/etc/containerd/certs.d/{upstream_host}/hosts.toml"
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        hosts_toml.contains(&format!("server = \"http://{upstream}:5000\""))
            && hosts_toml.contains(&format!("[host.\"http://{cache}:5000\"]"))
            && hosts_toml.contains("capabilities = [\"pull\", \"resolve\"]"),
        "{hosts_toml}"
    );
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"dev.bootstrap.cache\"}}",
            &cache
        ])
        .trim(),
        upstream_host
    );

    // A second up changes nothing.
    let again = bootstrap(&["-f", f, "up", "--no-verify"], &[]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(!again.stdout.contains("cache"), "{}", again.text());

    // The real containerd pulls with that host file. Only the cache's name resolves (as the
    // node resolves it on kind's network): containerd's fallback to `server` cannot be what
    // served the image.
    let certs = dir.path().join("certs.d");
    std::fs::create_dir_all(certs.join(&upstream_host)).unwrap();
    std::fs::write(certs.join(&upstream_host).join("hosts.toml"), &hosts_toml).unwrap();
    let cache_ip = docker(&[
        "inspect",
        "-f",
        "{{(index .NetworkSettings.Networks \"kind\").IPAddress}}",
        &cache,
    ]);
    let etc_hosts = dir.path().join("hosts");
    std::fs::write(
        &etc_hosts,
        format!("127.0.0.1 localhost\n{} {cache}\n", cache_ip.trim()),
    )
    .unwrap();
    let image = format!("{upstream_host}/team/app:1");
    let before = support::registry::requests(&upstream).len();
    let first = Containerd::start();
    let pulled = first.pull(&certs, &etc_hosts, &image);
    assert_eq!(
        pulled.code,
        0,
        "ctr pull through the cache: {}",
        pulled.text()
    );
    let during = support::registry::requests(&upstream).len();
    assert!(
        during > before,
        "the cache fetched nothing from the upstream ({before} -> {during} requests)"
    );
    drop(first);

    // The upstream goes away (a plane, a rate limit): an empty containerd still pulls it all.
    assert!(docker_status(&["stop", &upstream]));
    let second = Containerd::start();
    let pulled = second.pull(&certs, &etc_hosts, &image);
    assert_eq!(
        pulled.code,
        0,
        "ctr pull with the upstream stopped: {}",
        pulled.text()
    );
    drop(second);
    eprintln!(
        "upstream requests: {before} before, {during} after the first pull (upstream stopped for the second)"
    );

    // Status: the cache's size and its hits, as distribution counts them.
    let status = bootstrap(&["cache", "status", "-o", "json"], &[]);
    assert_eq!(status.code, 0, "{}", status.text());
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let ours = v["caches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["container"] == cache.as_str())
        .unwrap_or_else(|| panic!("{}", status.stdout))
        .clone();
    assert_eq!(ours["upstream"], upstream_host.as_str());
    assert_eq!(ours["state"], "running");
    assert!(ours["bytes"].as_i64().unwrap_or(0) > 0, "{ours}");
    assert!(ours["blobs"]["hits"].as_u64().unwrap_or(0) >= 1, "{ours}");
    let table = bootstrap(&["cache", "status"], &[]);
    assert!(table.stdout.contains(&cache), "{}", table.text());

    // down removes the cluster and leaves the cache, saying so.
    let down = bootstrap(&["-f", f, "down"], &[]);
    assert_eq!(down.code, 0, "{}", down.text());
    assert!(nodes(&spec.name).is_empty());
    assert!(
        down.text().contains("kept for the next cluster") && down.text().contains(&cache),
        "{}",
        down.text()
    );
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &cache]).trim(),
        "true"
    );

    // prune removes what carries the mark, and not a look-alike without it.
    assert!(docker_status(&[
        "create",
        "--name",
        &decoy,
        "bootstrap-test/busybox:latest"
    ]));
    let pruned = bootstrap(&["cache", "prune", &upstream_host], &[]);
    assert_eq!(pruned.code, 0, "{}", pruned.text());
    assert!(
        pruned
            .stdout
            .contains(&format!("removed cache container {cache}"))
            && pruned
                .stdout
                .contains(&format!("removed cache volume {cache}")),
        "{}",
        pruned.text()
    );
    assert!(!docker_status(&["inspect", &cache]));
    assert!(!docker_status(&["volume", "inspect", &cache]));
    assert!(
        docker_status(&["inspect", &decoy]),
        "a container without the mark was removed"
    );
}

/// Volumes removed on drop (a failed run's leftovers).
struct Volumes(Vec<String>);

impl Drop for Volumes {
    fn drop(&mut self) {
        for v in &self.0 {
            let _ = docker_status(&["volume", "rm", "-f", v]);
        }
    }
}
