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
