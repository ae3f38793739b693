//! Kubeconfig merge figures: a merge into 1,000 foreign contexts and a no-change run, in memory
//! and through the locked atomic store, against baselines measured in the same run (parse +
//! serialize of the same file, and `kubectl config view` of it when kubectl is installed).
//!
//! The cases run interleaved, round by round, so that load from other processes on a shared
//! machine falls on all of them alike; wall time and this thread's CPU time are both reported.
//!
//! Run: cargo bench --bench kubeconfig

#[path = "../tests/kubeconfig_support/mod.rs"]
mod support;

use bootstrap::core::kubeconfig::{doc, Entry};
use bootstrap::drivers::kubeconfig::Session;
use std::time::{Duration, Instant};

const OWNER: &str = "localdev";
const ROUNDS: usize = 40;

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

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

struct Case<'a> {
    name: &'a str,
    setup: Box<dyn FnMut() + 'a>,
    run: Box<dyn FnMut() + 'a>,
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

fn case<'a>(name: &'a str, setup: impl FnMut() + 'a, run: impl FnMut() + 'a) -> Case<'a> {
    Case {
        name,
        setup: Box::new(setup),
        run: Box::new(run),
        wall: Vec::new(),
        cpu: Vec::new(),
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:7.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this too and must stay quick
    // (it ran all 40 rounds in a debug build, minutes of CI).
    if std::env::args().all(|a| a != "--bench") {
        eprintln!("kubeconfig bench: run with `cargo bench --bench kubeconfig`");
        return;
    }
    let original = support::foreign_kubeconfig(1000);
    let merged_text = {
        let mut d = doc::parse(&original).unwrap();
        edit(&mut d).unwrap();
        doc::to_yaml(&d).unwrap()
    };
    let parsed = doc::parse(&original).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let merge_path = dir.path().join("merge");
    let same_path = dir.path().join("same");
    std::fs::write(&same_path, &merged_text).unwrap();
    let view_path = dir.path().join("view");
    std::fs::write(&view_path, &original).unwrap();
    let kubectl = which::which("kubectl").ok();

    let mut cases = vec![
        case(
            "baseline: parse + serialize",
            || {},
            || {
                let d = doc::parse(&original).unwrap();
                std::hint::black_box(doc::to_yaml(&d).unwrap());
            },
        ),
        case(
            "  parse alone",
            || {},
            || {
                std::hint::black_box(doc::parse(&original).unwrap());
            },
        ),
        case(
            "  parse alone, serde-saphyr only (no fast path)",
            || {},
            || {
                std::hint::black_box(doc::parse_reference(&original).unwrap());
            },
        ),
        case(
            "  serialize alone",
            || {},
            || {
                std::hint::black_box(doc::to_yaml(&parsed).unwrap());
            },
        ),
        case(
            "merge: parse + upsert + serialize",
            || {},
            || {
                let mut d = doc::parse(&original).unwrap();
                assert!(!edit(&mut d).unwrap().is_empty());
                std::hint::black_box(doc::to_yaml(&d).unwrap());
            },
        ),
        case(
            "no-change: parse + upsert",
            || {},
            || {
                let mut d = doc::parse(&merged_text).unwrap();
                assert!(edit(&mut d).unwrap().is_empty());
            },
        ),
        case(
            "store merge: lock, read, edit, backup, write, fsync, rename",
            || std::fs::write(&merge_path, &original).unwrap(),
            || assert!(Session::default().edit(&merge_path, edit).unwrap().written),
        ),
        case(
            "store no-change run: lock, read, edit, no write",
            || {},
            || assert!(!Session::default().edit(&same_path, edit).unwrap().written),
        ),
    ];
    if let Some(k) = &kubectl {
        cases.push(case(
            "kubectl config view of the same file (process incl.)",
            || {},
            move || {
                let out = std::process::Command::new(k)
                    .args(["config", "view", "--kubeconfig"])
                    .arg(&view_path)
                    .output()
                    .unwrap();
                assert!(out.status.success());
            },
        ));
    }

    for round in 0..=ROUNDS {
        for c in cases.iter_mut() {
            (c.setup)();
            let (w, u) = (Instant::now(), thread_cpu());
            (c.run)();
            let (w, u) = (w.elapsed(), thread_cpu() - u);
            if round > 0 {
                c.wall.push(w);
                c.cpu.push(u);
            }
        }
    }

    println!(
        "kubeconfig with 1,000 foreign contexts ({} KiB); {ROUNDS} interleaved rounds; medians",
        original.len() / 1024
    );
    println!("{:<62} {:>10} {:>10}  {:>8}", "", "wall", "cpu", "vs base");
    let base = median(&mut cases[0].wall.clone());
    for c in cases.iter_mut() {
        let (w, u) = (median(&mut c.wall), median(&mut c.cpu));
        println!(
            "{:<62} {} {}  {:>7.2}x",
            c.name,
            ms(w),
            ms(u),
            w.as_secs_f64() / base.as_secs_f64()
        );
    }
    if kubectl.is_none() {
        println!("(kubectl not installed: no kubectl baseline)");
    }
    rewrite_against_kubectl(&original, kubectl.as_deref());
}

/// The whole command, as a user runs it: `bootstrap down` removing our three entries from a
/// 1,000-context file (read, lock, backup, rewrite) against one `kubectl config set-context` on
/// the same file (read, rewrite), both as processes, interleaved, the file restored each time.
fn rewrite_against_kubectl(foreign: &str, kubectl: Option<&std::path::Path>) {
    let dir = tempfile::tempdir().unwrap();
    let with_ours = {
        let mut d = doc::parse(foreign).unwrap();
        doc::upsert(&mut d, &ours(), "env/bench").unwrap();
        doc::to_yaml(&d).unwrap()
    };
    let kc = dir.path().join("config");
    let envs = dir.path().join("envs.yaml");
    std::fs::write(
        &envs,
        "cluster: {name: bench, provider: existing, context: not-in-the-kubeconfig}\n",
    )
    .unwrap();
    let time = |cmd: &mut std::process::Command| {
        std::fs::write(&kc, &with_ours).unwrap();
        let t = Instant::now();
        let out = cmd.output().unwrap();
        let took = t.elapsed();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        took
    };
    let (mut down, mut set) = (Vec::new(), Vec::new());
    for round in 0..=11 {
        let d = time(
            std::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
                .arg("-f")
                .arg(&envs)
                .arg("--kubeconfig")
                .arg(&kc)
                .arg("down")
                .env_remove("KUBECONFIG"),
        );
        assert!(
            doc::context_names(&doc::parse(&std::fs::read_to_string(&kc).unwrap()).unwrap()).len()
                == 1000,
            "down removed our three entries"
        );
        let k = kubectl.map(|k| {
            time(
                std::process::Command::new(k)
                    .arg("--kubeconfig")
                    .arg(&kc)
                    .args(["config", "set-context", "ctx-1", "--namespace", "bench"]),
            )
        });
        if round > 0 {
            down.push(d);
            set.extend(k);
        }
    }
    let d = median(&mut down);
    print!(
        "\nrewrite of the 1,000-context file, whole process: bootstrap down (removes our 3 entries) {}",
        ms(d)
    );
    if set.is_empty() {
        println!("; kubectl not installed, no baseline");
    } else {
        let k = median(&mut set);
        println!(
            "; kubectl config set-context {}; {:.1}x faster",
            ms(k),
            k.as_secs_f64() / d.as_secs_f64()
        );
    }
}
