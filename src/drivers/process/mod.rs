//! The child processes we run (kind, helm), registered so that an interrupt lets them end
//! cleanly instead of killing them mid-write. helm cancels an install or upgrade on SIGINT and
//! records the release `failed`, which the next `up` simply upgrades (helm/helm
//! cmd/helm/upgrade.go: "Release %s has been cancelled."); killed outright it would leave the
//! release `pending-install`, which helm refuses to touch again.

mod facts;
pub use facts::*;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Keeps a child registered while it runs.
pub struct Registered(u32);

pub fn register(pid: Option<u32>) -> Option<Registered> {
    let pid = pid?;
    if let Ok(mut r) = RUNNING.lock() {
        r.push(pid);
    }
    Some(Registered(pid))
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut r) = RUNNING.lock() {
            r.retain(|p| *p != self.0);
        }
    }
}

/// Ask every running child to stop the way Ctrl-C in a terminal would (SIGINT), and mark the
/// run interrupted so no further step starts. A child in our process group got the terminal's
/// SIGINT already; a second one is harmless, and one started by a script needs ours.
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let pids = RUNNING.lock().map(|r| r.clone()).unwrap_or_default();
    for pid in pids {
        // SAFETY: kill(2) with a pid we spawned and still hold; at worst it is already gone.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGINT);
        }
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// In the child, before exec: when bootstrap dies (SIGKILL, OOM kill), the kernel kills the
/// child (helm, kind) too. Otherwise helm runs on as an orphan holding its release `pending-*`, and the next `up`
/// would recover (uninstall or roll back) a release a live helm is still changing. SIGKILL, not
/// SIGINT: helm's Ctrl-C handler first prints "Release NAME has been cancelled." to stdout
/// (helm/helm v4.2.3 pkg/cmd/upgrade.go), our pipe, now closed, and Go exits on SIGPIPE for a
/// write to a broken stdout (os/signal docs), before it cancels; it would die anyway, later.
/// What a killed helm leaves, `up` recovers. The runtime is single-threaded
/// (commands::runtime), so the parent the kernel watches is the thread every command runs on
/// (`main` starts it with a large stack and joins it), which lives as long as bootstrap.
#[cfg(target_os = "linux")]
fn stop_with_parent(parent: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: prctl/getppid/raise are async-signal-safe and touch no memory of ours.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // bootstrap died between fork and prctl: the signal would never come.
        if libc::getppid() != parent {
            libc::raise(libc::SIGKILL);
        }
    }
    Ok(())
}

/// Make `cmd`'s child die with bootstrap (Linux; elsewhere a no-op: macOS has no PDEATHSIG, and
/// what a killed child leaves, `up` recovers).
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid, raise).
        unsafe {
            cmd.pre_exec(move || stop_with_parent(parent));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}
