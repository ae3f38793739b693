//! Parse + validate + render of envs/localdev.yaml and of a generated 50-vcluster file.
//! Baseline, measured in the same run: serde-saphyr parsing the same text into an untyped
//! value (the floor any YAML-based tool pays). Run with `cargo bench --bench core`.

use bootstrap::core::config::load_str;
use bootstrap::core::render;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn generated(n: usize) -> String {
    let mut s =
        String::from("cluster:\n  name: big\nrouter:\n  domain: cnoe.localtest.me\nvclusters:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  - name: v{i}\n    values:\n      sync:\n        fromHost:\n          nodes: {{ enabled: true }}\n        toHost:\n          ingresses: {{ enabled: true }}\n"
        ));
    }
    s
}

fn full(text: &str) -> usize {
    let loaded = load_str(text, "bench.yaml", &[]);
    let env = loaded.env.expect("valid");
    let mut bytes = render::kind_config(&env).len();
    bytes += render::to_yaml(&render::router_values(&env)).len();
    for v in &env.vclusters {
        bytes += render::to_yaml(&render::vcluster_values(&env, v)).len();
    }
    bytes += render::routes(&env)
        .iter()
        .map(|r| render::to_yaml(r).len())
        .sum::<usize>();
    bytes += render::to_yaml(&render::contexts(&env, env.access.mode)).len();
    bytes
}

fn baseline(text: &str) -> usize {
    let v: serde_json::Value = serde_saphyr::from_str(text).unwrap();
    v.as_object().map(|o| o.len()).unwrap_or(0)
}

/// Median of per-iteration times over `rounds` rounds of `iters` iterations.
fn measure(f: &dyn Fn() -> usize, iters: u32, rounds: u32) -> Duration {
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            t.elapsed() / iters
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let localdev =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/envs/localdev.yaml"))
            .unwrap();
    let big = generated(50);
    println!(
        "{:<34} {:>12} {:>14} {:>8}",
        "input", "full (µs)", "baseline (µs)", "ratio"
    );
    for (name, text, iters) in [
        ("envs/localdev.yaml", &localdev, 200),
        ("generated, 50 vclusters", &big, 20),
    ] {
        let f = measure(&|| full(text), iters, 15);
        let b = measure(&|| baseline(text), iters, 15);
        println!(
            "{:<34} {:>12.1} {:>14.1} {:>7.1}x",
            name,
            f.as_secs_f64() * 1e6,
            b.as_secs_f64() * 1e6,
            f.as_secs_f64() / b.as_secs_f64()
        );
    }
    println!("full = parse with positions + decode + validate + render every document; baseline = untyped YAML parse of the same text");
}
