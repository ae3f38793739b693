//! Kubeconfig merge figures: a merge into 1,000 foreign contexts and a no-change run, in memory
//! and through the locked atomic store, against baselines measured in the same run (parse +
//! serialize of the same file, and `kubectl config view` of it when kubectl is installed).
//!
//! Run: cargo bench --bench kubeconfig

#[path = "../tests/support/mod.rs"]
mod support;

use bootstrap::kubeconfig::{doc, Entry, Session};
use std::time::{Duration, Instant};

const OWNER: &str = "localdev";
const ROUNDS: usize = 30;

fn ours() -> Vec<Entry> {
    vec![
        support::entry("kind-localdev", "https://127.0.0.1:6443"),
        support::entry(
            "dev-vcluster",
            "https://dev-vcluster.cnoe.localtest.me:8443",
        ),
        support::entry(
            "staging-vcluster",
            "https://staging-vcluster.cnoe.localtest.me:8443",
        ),
    ]
}

fn edit(d: &mut serde_json::Value) -> Result<doc::Changes, doc::DocError> {
    let mut ch = doc::upsert(d, &ours(), OWNER)?;
    ch.extend(doc::set_current(d, "dev-vcluster", OWNER)?);
    Ok(ch)
}

/// Median and max of `ROUNDS` timed runs (after one warm-up), `setup` untimed.
fn measure(mut setup: impl FnMut(), mut f: impl FnMut()) -> (Duration, Duration) {
    setup();
    f();
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            setup();
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[ROUNDS / 2], times[ROUNDS - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let original = support::foreign_kubeconfig(1000);
    let merged_text = {
        let mut d = doc::parse(&original).unwrap();
        edit(&mut d).unwrap();
        doc::to_yaml(&d).unwrap()
    };
    println!(
        "kubeconfig with 1,000 foreign contexts: {} KiB; {ROUNDS} rounds each, median (max)",
        original.len() / 1024
    );

    let (base, base_max) = measure(
        || {},
        || {
            let d = doc::parse(&original).unwrap();
            std::hint::black_box(doc::to_yaml(&d).unwrap());
        },
    );
    println!(
        "  baseline parse+serialize          {} ({})",
        ms(base),
        ms(base_max)
    );
    let parsed = doc::parse(&original).unwrap();
    let (p, _) = measure(
        || {},
        || {
            std::hint::black_box(doc::parse(&original).unwrap());
        },
    );
    let (w, _) = measure(
        || {},
        || {
            std::hint::black_box(doc::to_yaml(&parsed).unwrap());
        },
    );
    println!("    of which parse {}, serialize {}", ms(p), ms(w));

    let (merge, merge_max) = measure(
        || {},
        || {
            let mut d = doc::parse(&original).unwrap();
            let ch = edit(&mut d).unwrap();
            assert!(!ch.is_empty());
            std::hint::black_box(doc::to_yaml(&d).unwrap());
        },
    );
    println!(
        "  merge parse+upsert+serialize      {} ({})  = {:.2}x baseline",
        ms(merge),
        ms(merge_max),
        merge.as_secs_f64() / base.as_secs_f64()
    );

    let (same, same_max) = measure(
        || {},
        || {
            let mut d = doc::parse(&merged_text).unwrap();
            let ch = edit(&mut d).unwrap();
            assert!(ch.is_empty());
        },
    );
    println!(
        "  no-change parse+upsert            {} ({})  = {:.2}x baseline",
        ms(same),
        ms(same_max),
        same.as_secs_f64() / base.as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let (file_merge, file_merge_max) = measure(
        || std::fs::write(&path, &original).unwrap(),
        || {
            let e = Session::default().edit(&path, edit).unwrap();
            assert!(e.written);
        },
    );
    println!(
        "  store merge (lock, read, backup, write, fsync, rename)  {} ({})  = {:.2}x baseline",
        ms(file_merge),
        ms(file_merge_max),
        file_merge.as_secs_f64() / base.as_secs_f64()
    );
    std::fs::write(&path, &merged_text).unwrap();
    let (file_same, file_same_max) = measure(
        || {},
        || {
            let e = Session::default().edit(&path, edit).unwrap();
            assert!(!e.written);
        },
    );
    println!(
        "  store no-change run (lock, read, compare, no write)     {} ({})  = {:.2}x baseline",
        ms(file_same),
        ms(file_same_max),
        file_same.as_secs_f64() / base.as_secs_f64()
    );

    match which::which("kubectl") {
        Ok(kubectl) => {
            std::fs::write(&path, &original).unwrap();
            let (view, view_max) = measure(
                || {},
                || {
                    let out = std::process::Command::new(&kubectl)
                        .args(["config", "view", "--kubeconfig"])
                        .arg(&path)
                        .output()
                        .unwrap();
                    assert!(out.status.success());
                },
            );
            println!(
                "  kubectl config view (same file, process included)      {} ({}); store merge = {:.2}x of it",
                ms(view),
                ms(view_max),
                file_merge.as_secs_f64() / view.as_secs_f64()
            );
        }
        Err(_) => println!("  kubectl not installed: no kubectl baseline"),
    }
}
