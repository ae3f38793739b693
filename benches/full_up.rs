//! Figure for issue #6: `up` on a converged environment with the doubles (kind node double,
//! helm double; envs with 2 vclusters behind the passthrough router and ArgoCD registration),
//! against `docker ps` run the same way in the same run as the named baseline. The converged
//! `up` is the whole thing: Docker observation, `kind get kubeconfig`, route probes, helm list and
//! get values for 3 releases, API reads, the kubeconfig compare, and the final verify.
//! Run with `cargo bench --bench full_up` (as root: it needs `unshare -m` for /etc/hosts).

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::full::*;
use support::*;

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(v[v.len() / 2]),
        ms(v[0]),
        ms(v[(v.len() * 9 / 10).min(v.len() - 1)]),
    )
}

fn main() {
    let runs = if std::env::args().any(|a| a == "--bench") {
        15
    } else {
        2
    };
    if !docker_or_skip("full_up bench")
        || !unshare_works()
        || !support::charts::charts_or_skip("full_up bench")
    {
        return;
    }
    let w = world();
    let _clean = Cleanup(vec![w.cluster.clone()]);
    let first = up(&w, &[]);
    assert_eq!(first.code, 0, "{}", first.text());
    let mut ups = Vec::new();
    let mut baseline = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let r = up(&w, &[]);
        ups.push(t.elapsed());
        assert!(r.stdout.contains("Nothing to change"), "{}", r.text());
        let t = Instant::now();
        let ok = Command::new("docker")
            .arg("ps")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        baseline.push(t.elapsed());
        assert!(ok.success());
    }
    let (u, umin, up90) = stats(ups);
    let (b, bmin, bp90) = stats(baseline);
    println!("full_up bench: {runs} runs, same machine, same engine; 2 vclusters, router, ArgoCD");
    println!("bootstrap up (converged, whole)   median {u:8.1} ms  min {umin:8.1} ms  p90 {up90:8.1} ms  = {:.1}x docker ps", u / b);
    println!(
        "docker ps (baseline)              median {b:8.1} ms  min {bmin:8.1} ms  p90 {bp90:8.1} ms"
    );
    if std::env::var_os("FULL_UP_VERBOSE").is_some() {
        // Where a converged `up` spends its time: its own `-v` log.
        let r = in_ns(
            &w,
            &bin(),
            &["-vv", "-f", w.env_file.to_str().unwrap(), "up"],
            &[],
        );
        println!(
            "--- bootstrap -vv up (converged) ---\n{}{}",
            r.stderr, r.stdout
        );
    }
    let down = in_ns(
        &w,
        &bin(),
        &["-f", w.env_file.to_str().unwrap(), "down"],
        &[],
    );
    assert_eq!(down.code, 0, "{}", down.text());
}
