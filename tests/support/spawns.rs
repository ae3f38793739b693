//! Counting the processes a run of the binary starts: the run goes under `strace -f`, and every
//! `execve` after the binary's own is a process it spawned (helm, kind, a shell...). A converged
//! `up` must spawn none.

use std::path::Path;
use std::process::Command;

/// The programs a traced run executed, after the traced binary itself (whose path is skipped).
pub fn spawned(trace: &Path, binary: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    let me = binary.display().to_string();
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| l.contains("execve(") && !l.contains("ENOENT"))
        .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
        .collect();
    // The first execve is the binary being started by strace (through unshare/sh when the run
    // goes through a mount namespace: those are the harness, not the binary's children).
    if let Some(i) = out.iter().position(|p| p == &me) {
        out.drain(..=i);
    }
    out
}

/// `strace` must be there under CI; elsewhere the caller skips, loudly.
pub fn strace_or_skip(test: &str) -> bool {
    let ok = Command::new("strace")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: strace is required under CI (scripts/test.sh installs it)"
        );
        eprintln!("SKIPPED {test}: strace is not installed");
    }
    ok
}
