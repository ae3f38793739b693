//! Parse + validate + render of envs/localdev.yaml and of a generated 50-vcluster file.
//! Baseline, measured in the same run: serde-saphyr parsing the same text into an untyped
//! value (the floor any YAML-based tool pays). Then every pass over the file, the plan, the
//! kubeconfig and the observed world, each at n and at 10n, as a ratio: linear is about 10x,
//! n log n a little more, quadratic 100x. Run with `cargo bench --bench core`; `cargo test`
//! runs it once at tiny sizes, as a smoke check.

#[path = "../tests/kubeconfig_support/mod.rs"]
mod kubeconfig_support;

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
    let router = bootstrap::core::router::router_for(&env);
    bytes += render::to_yaml(&router.release(&env).values).len();
    for v in &env.vclusters {
        bytes += render::to_yaml(&render::vcluster_values(&env, v)).len();
    }
    bytes += router
        .all_objects(&env)
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

/// Time `pass` on inputs of size n and 10n (built outside the timing), as a ratio.
fn scaling<I>(name: &str, n: usize, build: impl Fn(usize) -> I, pass: impl Fn(&I) -> usize) {
    let bench = std::env::args().any(|a| a == "--bench");
    let (small, large) = (build(n), build(10 * n));
    let time = |input: &I| {
        let rounds = if bench { 7 } else { 1 };
        let mut samples: Vec<Duration> = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                black_box(pass(input));
                t.elapsed()
            })
            .collect();
        samples.sort();
        samples[samples.len() / 2]
    };
    let (s, l) = (time(&small), time(&large));
    println!(
        "{name:<52} {:>10.2} ms {:>10.2} ms {:>7.1}x",
        s.as_secs_f64() * 1e3,
        l.as_secs_f64() * 1e3,
        l.as_secs_f64() / s.as_secs_f64()
    );
}

fn env_of(text: &str) -> bootstrap::core::config::Env {
    load_str(text, "bench.yaml", &[]).env.expect("valid")
}

/// `n` of our releases and routes as a cluster shows them to `up`, none of them wanted: the
/// router step's pass over what it observed.
fn observed(n: usize) -> (bootstrap::core::config::Env, Vec<serde_json::Value>) {
    let env = env_of(&generated(n));
    let live = (0..n)
        .map(|i| {
            serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": format!("old-{i}-api"), "namespace": format!("old-{i}"),
                "labels": {"app.kubernetes.io/managed-by": "bootstrap", "bootstrap/env": "big"}}})
        })
        .chain(bootstrap::core::router::router_for(&env).route_objects(&env))
        .collect();
    (env, live)
}

fn passes() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (vclusters, contexts) = if bench { (200, 2_000) } else { (2, 20) };
    println!(
        "\n{:<52} {:>13} {:>13} {:>8}",
        "pass (n, then 10n)", "n", "10n", "growth"
    );
    scaling(
        &format!("the file: parse, decode, validate ({vclusters} vclusters)"),
        vclusters,
        generated,
        |t| load_str(t, "bench.yaml", &[]).diags.items.len(),
    );
    scaling(
        &format!("render every document ({vclusters} vclusters)"),
        vclusters,
        generated,
        |t| full(t),
    );
    scaling(
        &format!("plan --offline ({vclusters} vclusters)"),
        vclusters,
        |n| env_of(&generated(n)),
        |env| {
            bootstrap::steps::runner::plan_offline(
                env,
                &bootstrap::steps::Options::default(),
                &bootstrap::progress::Progress::new(false),
            )
            .unwrap()
            .plan
            .actions
            .len()
        },
    );
    scaling(
        &format!("observed: router removals over live objects ({vclusters})"),
        vclusters,
        observed,
        |(env, live)| bootstrap::core::router::removals(env, &[], live).len(),
    );
    use bootstrap::core::kubeconfig::doc;
    scaling(
        &format!("kubeconfig: parse ({contexts} contexts)"),
        contexts,
        kubeconfig_support::foreign_kubeconfig,
        |t| doc::context_names(&doc::parse(t).unwrap()).len(),
    );
    let ours: Vec<_> = ["kind-big", "dev-vcluster", "staging-vcluster"]
        .iter()
        .map(|c| kubeconfig_support::entry(c, "https://127.0.0.1:6443"))
        .collect();
    scaling(
        &format!("kubeconfig: upsert ours, serialize ({contexts} contexts)"),
        contexts,
        |n| doc::parse(&kubeconfig_support::foreign_kubeconfig(n)).unwrap(),
        |d| {
            let mut d = d.clone();
            doc::upsert(&mut d, &ours, "env/big").unwrap();
            doc::to_yaml(&d).unwrap().len()
        },
    );
    scaling(
        &format!("kubeconfig: remove ours ({contexts} contexts)"),
        contexts,
        |n| {
            let mut d = doc::parse(&kubeconfig_support::foreign_kubeconfig(n)).unwrap();
            doc::upsert(&mut d, &ours, "env/big").unwrap();
            d
        },
        |d| {
            usize::from(
                !doc::remove_owned(&mut d.clone(), "env/big")
                    .unwrap()
                    .is_empty(),
            )
        },
    );
    scaling(
        &format!("kubeconfig: merge three files ({contexts} contexts)"),
        contexts,
        |n| {
            let d = doc::parse(&kubeconfig_support::foreign_kubeconfig(n)).unwrap();
            vec![
                (std::path::PathBuf::from("/a/config"), d.clone()),
                (std::path::PathBuf::from("/b/config"), d.clone()),
                (std::path::PathBuf::from("/c/config"), d),
            ]
        },
        |files| doc::context_names(&doc::merge(files.clone())).len(),
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        passes();
        return;
    }
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
    passes();
}
