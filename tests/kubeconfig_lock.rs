//! The kubeconfig lock as a user meets it, through the binary: a lock left by a bootstrap that
//! was SIGKILLed mid-write is taken over by the next run; a live holder, or a lock written on
//! another host, is refused and named (pid, program, host, age).
//!
//! The holder is a real process: this test binary re-executes itself in the helper mode
//! `lock_holder_helper` (an ignored test that does nothing unless LOCK_HOLD_FILE is set), which
//! takes the lock through the store and then waits inside the transaction until killed.

#[path = "kubeconfig_support/mod.rs"]
mod support;

use bootstrap::core::kubeconfig::doc;
use bootstrap::drivers::kubeconfig::{store, Session};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::entry;

/// Helper process, not a test: take the lock on LOCK_HOLD_FILE, say so by creating
/// LOCK_HOLD_READY, then hold it until killed. With LOCK_HOLD_COUNT=N instead, write N entries
/// named LOCK_HOLD_OWNER-i, one transaction each, and exit.
#[test]
#[ignore = "helper process for the tests in this file"]
fn lock_holder_helper() {
    let Ok(file) = std::env::var("LOCK_HOLD_FILE") else {
        return;
    };
    let file = PathBuf::from(file);
    let mut session = Session::default();
    if let Ok(count) = std::env::var("LOCK_HOLD_COUNT") {
        let owner = std::env::var("LOCK_HOLD_OWNER").unwrap();
        for i in 0..count.parse::<usize>().unwrap() {
            let e = entry(&format!("{owner}-{i}"), "https://127.0.0.1:6443");
            session
                .edit(&file, |d| doc::upsert(d, std::slice::from_ref(&e), &owner))
                .unwrap_or_else(|err| panic!("{err}"));
        }
        return;
    }
    let ready = std::env::var("LOCK_HOLD_READY").unwrap();
    let _ = session.edit(&file, |_| {
        fs::write(&ready, std::process::id().to_string()).unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}

fn helper(file: &Path) -> Command {
    let mut c = Command::new(support::self_exe());
    c.args([
        "lock_holder_helper",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("LOCK_HOLD_FILE", file)
    .stdout(Stdio::null());
    c
}

/// Start a holder and return once it holds the lock.
fn hold(file: &Path, dir: &Path) -> Child {
    let ready = dir.join("ready");
    let child = helper(file).env("LOCK_HOLD_READY", &ready).spawn().unwrap();
    let start = Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the holder never took the lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// An environment whose `down` touches nothing but the kubeconfig: an existing cluster whose
/// context is absent, so nothing inside a cluster is looked at and no Docker is needed.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("config");
    fs::write(&kc, support::foreign_kubeconfig(2)).unwrap();
    let envs = dir.path().join("envs.yaml");
    fs::write(
        &envs,
        "cluster:\n  provider: existing\n  context: not-in-the-kubeconfig\n",
    )
    .unwrap();
    (dir, kc, envs)
}

fn down(envs: &Path, kc: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .arg("-f")
        .arg(envs)
        .arg("--kubeconfig")
        .arg(kc)
        .arg("down")
        .env_remove("BOOTSTRAP_KUBECONFIG")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_lock_left_by_a_sigkilled_bootstrap_is_taken_over_by_the_next_run() {
    let (dir, kc, envs) = setup();
    let lock = store::lock_path(&kc);
    let mut holder = hold(&kc, dir.path());
    let pid = holder.id();
    assert!(
        fs::read_to_string(&lock)
            .unwrap()
            .starts_with(&format!("{pid}\n")),
        "the lock names its holder"
    );
    holder.kill().unwrap(); // SIGKILL: no destructor runs, the lock stays
    holder.wait().unwrap();
    assert!(lock.exists(), "a SIGKILLed holder leaves its lock behind");

    let t = Instant::now();
    let out = down(&envs, &kc);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "no wait for a dead holder: {all}"
    );
    assert!(
        all.contains(&format!("took over {}", lock.display()))
            && all.contains(&format!("process {pid} "))
            && all.contains("no longer running"),
        "{all}"
    );
    assert!(!lock.exists(), "released after the run: {all}");
}

#[test]
fn a_live_holder_is_refused_and_named() {
    let (dir, kc, envs) = setup();
    let lock = store::lock_path(&kc);
    let mut holder = hold(&kc, dir.path());
    let pid = holder.id();
    let program = fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let out = down(&envs, &kc);
    holder.kill().unwrap();
    holder.wait().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let host = bootstrap::drivers::process::hostname();
    assert!(
        all.contains(&format!(
            "by process {pid} (`{program}`) on this host ({host}), lock "
        )) && all.contains("s old"),
        "pid, program, host and age: {all}"
    );
    assert!(all.contains("Nothing was changed"), "{all}");
    assert!(lock.exists(), "the live holder's lock is left alone");
}

#[test]
fn a_lock_written_on_another_host_is_refused_and_named() {
    let (_dir, kc, envs) = setup();
    let lock = store::lock_path(&kc);
    // A pid that runs nowhere here, on a host that is not this one.
    fs::write(&lock, "4242\nsome-other-host\nbootstrap\n\n\n").unwrap();
    let out = down(&envs, &kc);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("by bootstrap process 4242 (`bootstrap`) on host some-other-host, lock "),
        "{all}"
    );
    assert_eq!(
        fs::read_to_string(&lock).unwrap(),
        "4242\nsome-other-host\nbootstrap\n\n\n",
        "never removed"
    );
}

/// Several writers meet the same dead lock at once: each takes it over or waits for the one that
/// did, and none removes a lock another has just taken (that would let two write at once and
/// lose entries).
#[test]
fn racing_takers_of_a_dead_lock_lose_no_entry() {
    let (dir, kc, _envs) = setup();
    let lock = store::lock_path(&kc);
    const WRITERS: usize = 4;
    const EACH: usize = 15;
    for round in 0..3 {
        let mut holder = hold(&kc, dir.path());
        holder.kill().unwrap();
        holder.wait().unwrap();
        fs::remove_file(dir.path().join("ready")).unwrap();
        assert!(lock.exists());
        let children: Vec<Child> = (0..WRITERS)
            .map(|w| {
                helper(&kc)
                    .env("LOCK_HOLD_COUNT", EACH.to_string())
                    .env("LOCK_HOLD_OWNER", format!("r{round}w{w}"))
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let d = doc::parse(&fs::read_to_string(&kc).unwrap()).unwrap();
        let names = doc::context_names(&d);
        for w in 0..WRITERS {
            for i in 0..EACH {
                let n = format!("r{round}w{w}-{i}");
                assert!(names.contains(&n), "round {round}: {n} was lost");
            }
        }
        assert!(!lock.exists());
    }
}

/// Large enough that a debug build holds the lock for a good part of a second.
const LARGE: usize = 1_000;

/// Our three entries in a large file of foreign ones, for `down` to remove (owner `env/sig`).
fn large_with_ours(dir: &Path) -> (PathBuf, PathBuf) {
    let kc = dir.join("config");
    fs::write(&kc, support::foreign_kubeconfig(LARGE)).unwrap();
    let ours: Vec<_> = ["kind-sig", "dev-vcluster", "staging-vcluster"]
        .iter()
        .map(|c| entry(c, "https://127.0.0.1:6443"))
        .collect();
    Session::default()
        .edit(&kc, |d| doc::upsert(d, &ours, "env/sig"))
        .unwrap();
    fs::remove_file(store::backup_path(&kc)).unwrap();
    let envs = dir.join("envs.yaml");
    fs::write(
        &envs,
        "cluster:\n  name: sig\n  provider: existing\n  context: not-in-the-kubeconfig\n",
    )
    .unwrap();
    (kc, envs)
}

/// What a writer of ours may leave beside the file: its lock and its temporary files.
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lock") || n.starts_with(".bootstrap-tmp-"))
        .collect()
}

/// Ctrl-C, SIGTERM (docker stop, CI cancelling) or SIGHUP (the terminal closed) while `down`
/// holds the lock of a large kubeconfig: the lock and any temporary file are gone when it exits
/// (before, the default action of each signal ended the process holding them, and every
/// kubectl write then failed with "open ....lock: file exists"), and the file is whole: the old
/// one or the new one. Once with one signal (the step ends cleanly), once with two (at once).
#[test]
fn an_interrupted_down_leaves_no_lock_or_temporary_file() {
    for (sig, times) in [
        (libc::SIGINT, 1),
        (libc::SIGTERM, 1),
        (libc::SIGHUP, 1),
        (libc::SIGINT, 2),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (kc, envs) = large_with_ours(dir.path());
        let lock = store::lock_path(&kc);
        let child = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .arg("-f")
            .arg(&envs)
            .arg("--kubeconfig")
            .arg(&kc)
            .arg("down")
            .env_remove("BOOTSTRAP_KUBECONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !lock.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "down never took the lock"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..times {
            // SAFETY: kill(2) on the child we started and have not reaped.
            unsafe { libc::kill(child.id() as i32, sig) };
        }
        let out = child.wait_with_output().unwrap();
        let all = text(&out);
        assert!(
            out.status.code().is_some(),
            "signal {sig}: ended by the signal itself, not by its own code: {all}"
        );
        assert_eq!(
            leftovers(dir.path()),
            Vec::<String>::new(),
            "signal {sig} x{times}: {all}"
        );
        let after = store::read(&kc).unwrap().unwrap();
        let names = doc::context_names(&after);
        assert!(
            names.len() == LARGE || names.len() == LARGE + 3,
            "signal {sig}: a torn file ({} contexts): {all}",
            names.len()
        );
        // And kubectl takes the file and its lock as they are left.
        if let Some(kubectl) = support::kubectl() {
            let o = support::kubectl_cmd(&kubectl, &kc)
                .args(["config", "set-context", "ctx-1", "--namespace", "after"])
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "signal {sig}: kubectl after: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}
