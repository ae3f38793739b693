//! Figures for issue #3, on the real Docker engine: `up` on a converged cluster (wall time, and
//! Docker calls counted by a proxy in front of the socket) and `status`, each against `docker ps`
//! run the same way as a named baseline. Run with `cargo bench --bench docker_up`.
//! Needs Docker, the kind node double's image (tests/support/node-image.sh) and bash; skips with a
//! message without Docker. `up` here is the whole reconcile (cluster, route, kubeconfig, verify)
//! on a file with no vclusters.

#[path = "../tests/support/proxy.rs"]
#[allow(dead_code)]
mod proxy;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this as a quick smoke check.
    let runs = if std::env::args().any(|a| a == "--bench") {
        30
    } else {
        3
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_bootstrap"));
    if !Command::new("docker")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("docker_up bench skipped: no Docker engine answers");
        return;
    }
    let ok = Command::new(repo.join("tests/support/make-images.sh"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "make-images.sh failed");
    let ok = Command::new(repo.join("tests/support/node-image.sh"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "node-image.sh failed");

    let dir = tempfile::tempdir().unwrap();
    let name = format!("btbench{}", std::process::id());
    let (api, https) = (free_port(), free_port());
    let file = dir.path().join("envs.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: bootstrap/v1alpha1\nrouter:\n  httpsPort: {https}\ncluster:\n  name: {name}\n  nodeImage: bootstrap-test/kind-node:latest\n  apiServer: {{address: 127.0.0.1, port: {api}}}\n  portMappings:\n    - {{containerPort: 443, hostPort: {https}}}\n"
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap().to_owned();
    let kind = repo.join("tests/doubles/kind");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let bootstrap = |args: &[&str], docker_host: Option<&str>| {
        let mut c = Command::new(&bin);
        c.args(["-f", &f])
            .args(args)
            .env("BOOTSTRAP_KIND", &kind)
            .env("HOME", &home)
            .env("KUBECONFIG", home.join("kc"));
        match docker_host {
            Some(h) => c.env("DOCKER_HOST", h),
            None => c.env_remove("DOCKER_HOST"),
        };
        c
    };

    let created = bootstrap(&["up"], None).output().unwrap();
    let text = String::from_utf8_lossy(&created.stderr).into_owned();
    assert!(
        text.contains("created"),
        "could not create the bench cluster:\n{text}"
    );

    let converged = |c: &mut Command| {
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("converged, nothing to do"),
            "not converged:\n{err}"
        );
    };

    // Calls per converged `up`, counted outside the program.
    let sock = dir.path().join("docker.sock");
    let proxy = proxy::Proxy::start(&sock);
    let host = proxy.docker_host();
    converged(&mut bootstrap(&["up"], Some(&host)));
    let calls = proxy.requests();
    let writes = proxy.writes();
    proxy.reset();
    let via_proxy = time(runs, || converged(&mut bootstrap(&["up"], Some(&host))));
    drop(proxy);

    let up = time(runs, || converged(&mut bootstrap(&["up"], None)));
    let status = time(runs, || {
        let out = bootstrap(&["status"], None).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let status_json = time(runs, || {
        let out = bootstrap(&["status", "-o", "json"], None).output().unwrap();
        assert!(out.status.success());
    });
    let docker_ps = time(runs, || {
        let out = Command::new("docker").arg("ps").output().unwrap();
        assert!(out.status.success());
    });
    let docker_inspect = time(runs, || {
        let out = Command::new("docker")
            .args(["inspect", &format!("{name}-control-plane")])
            .output()
            .unwrap();
        assert!(out.status.success());
    });

    let down = bootstrap(&["down"], None).output().unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );

    println!(
        "docker_up bench: {runs} runs each, {} build, same machine, same engine",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "converged `up`: {} Docker calls, {} writes: {}",
        calls.len(),
        writes.len(),
        calls.join(", ")
    );
    report("bootstrap up (converged)", &up, &docker_ps);
    report(
        "bootstrap up (converged, via counting proxy)",
        &via_proxy,
        &docker_ps,
    );
    report("bootstrap status", &status, &docker_ps);
    report("bootstrap status -o json", &status_json, &docker_ps);
    report("docker inspect <node>", &docker_inspect, &docker_ps);
    report("docker ps (baseline)", &docker_ps, &docker_ps);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn time(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm the page cache and the engine
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v
}

fn report(what: &str, v: &[Duration], baseline: &[Duration]) {
    let med = |v: &[Duration]| v[v.len() / 2];
    let p90 = v[((v.len() * 9) / 10).saturating_sub(1)];
    println!(
        "{what:<48} median {:>7.1} ms  min {:>7.1} ms  p90 {:>7.1} ms  = {:.2}x docker ps",
        ms(med(v)),
        ms(v[0]),
        ms(p90),
        med(v).as_secs_f64() / med(baseline).as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
