//! The kubeconfig lock's files: `<file>.lock` created exclusively (the convention kubectl/client-go
//! and kind share, so all three exclude each other) with our pid in it, read back to judge
//! another holder (`core::kubeconfig::lock` decides), and a dead bootstrap's lock taken over
//! under the folder's flock.

use super::paths::parent_dir;
use crate::core::kubeconfig::lock::{judge, Here, Holder, LockInfo, Next, Waiting};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long to wait for a lock another writer holds.
    pub lock_timeout: Duration,
    /// A lock older than this is stale whoever made it: kubectl, kind and bootstrap hold theirs
    /// for milliseconds.
    pub stale_after: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            lock_timeout: Duration::from_secs(5),
            stale_after: Duration::from_secs(10),
        }
    }
}

/// Prefix of our temporary files in a kubeconfig's folder (the staged lock, the new file): what
/// a lock holder sweeps as orphans.
pub(super) const TEMP_PREFIX: &str = ".bootstrap-tmp-";

/// Why the lock could not be taken.
#[derive(Debug)]
pub(super) enum LockError {
    /// Still held by a live holder after the wait.
    Locked { waited: Duration, holder: String },
    /// Too old to be anyone's transaction, and not provably ours.
    Stale { why: String },
    /// Creating the lock failed (not because it exists).
    Create(io::Error),
    /// Reading or taking over someone else's lock failed.
    Io {
        action: &'static str,
        source: io::Error,
    },
}

/// Held for the whole read-edit-write; removes the lock file when dropped.
pub(super) struct LockGuard {
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn here() -> Here {
    Here {
        host: crate::drivers::process::hostname(),
        boot: crate::drivers::process::boot_id(),
    }
}

fn inspect(lock: &Path) -> io::Result<LockInfo> {
    let meta = fs::metadata(lock)?;
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    // kubectl creates its lock with mode 0: unreadable to non-root, but its age still tells.
    let identity = (meta.ino(), meta.mtime(), meta.mtime_nsec());
    let content = fs::read(lock).unwrap_or_default();
    let content = String::from_utf8_lossy(&content[..content.len().min(256)]).into_owned();
    Ok(LockInfo::parse(&content, age, identity))
}

/// Create `lock` exclusively with our pid already in it: the content goes into a private file
/// first, which is then hard-linked to the lock name (atomic, and failing when the name exists,
/// as kubectl's O_EXCL create does), so no other writer ever sees our lock empty. Where hard
/// links are not supported, fall back to O_EXCL and then write.
fn create_lock(lock: &Path, content: &str) -> io::Result<()> {
    let dir = parent_dir(lock);
    let name = lock
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("kubeconfig.lock");
    let staged = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{name}."))
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir);
    if let Ok(mut staged) = staged {
        staged.write_all(content.as_bytes())?;
        match fs::hard_link(staged.path(), lock) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
            // Swept by a lock holder's clean-up of orphans: count it as busy and try again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, e))
            }
            Err(_) => {}
        }
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(lock)?;
    f.write_all(content.as_bytes())
}

/// Remove a lock left by a bootstrap process of this host that is gone, safely against others
/// doing the same: under an flock of the folder (released by the kernel if we die), the lock is
/// read and judged again, and removed only if it is still a dead process's. Only bootstrap ever
/// removes a lock it did not take, and always so, so no fresh lock can be removed by mistake:
/// a new holder can only have taken the name after the dead one's lock was removed, which every
/// taker does under the same flock. Returns why, when this call removed it.
fn take_over(lock: &Path, here: &Here, opts: &StoreOptions) -> io::Result<Option<String>> {
    let dir = File::open(parent_dir(lock))?;
    // SAFETY: flock on a descriptor we own; the lock goes with the descriptor.
    if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let result = match inspect(lock) {
        Ok(info) => match judge(
            &info,
            here,
            opts.stale_after,
            crate::drivers::process::running,
        ) {
            Holder::Gone(why) => match fs::remove_file(lock) {
                Ok(()) => Ok(Some(why)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            Holder::Live(_) | Holder::Stale(_) => Ok(None),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    // Closing `dir` releases the flock.
    drop(dir);
    result
}

/// Take the lock, waiting while others hold it (for how long: `Waiting`). A lock left by our
/// own dead process is taken over; why, when one was, comes back with the guard.
pub(super) fn acquire(
    lock: &Path,
    opts: &StoreOptions,
) -> Result<(LockGuard, Option<String>), LockError> {
    let mut waiting = Waiting::new(Instant::now(), opts.lock_timeout);
    let here = here();
    // A pid (with its start time and boot) in the lock lets the next writer tell a crashed
    // holder from a slow one.
    let me = std::process::id();
    let content = LockInfo::content(
        me,
        &here,
        &crate::drivers::process::this_program(),
        crate::drivers::process::started(me),
    );
    let mut took_over = None;
    loop {
        match create_lock(lock, &content) {
            Ok(()) => {
                return Ok((
                    LockGuard {
                        path: lock.to_owned(),
                    },
                    took_over,
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(LockError::Create(e)),
        }
        let info = match inspect(lock) {
            Ok(i) => i,
            // Released between our attempt and our look: try again at once.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(LockError::Io {
                    action: "inspect the lock",
                    source,
                })
            }
        };
        let who = match judge(
            &info,
            &here,
            opts.stale_after,
            crate::drivers::process::running,
        ) {
            Holder::Gone(_) => {
                let why = take_over(lock, &here, opts).map_err(|source| LockError::Io {
                    action: "take over the lock",
                    source,
                })?;
                if why.is_some() {
                    took_over = why;
                }
                continue;
            }
            Holder::Stale(why) => return Err(LockError::Stale { why }),
            Holder::Live(who) => who,
        };
        let now = Instant::now();
        match waiting.held(info.identity, who, now) {
            Next::GiveUp { waited, holder } => return Err(LockError::Locked { waited, holder }),
            Next::Wait(delay) => {
                // Jittered: two waiters polling in step would keep missing the same gaps.
                let jitter = Duration::from_micros(
                    u64::from(now.elapsed().subsec_nanos() ^ std::process::id()) % 1000,
                );
                std::thread::sleep(delay + jitter);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Taking over judges the lock again under the folder's flock: a lock another writer took
    /// in the meantime is never removed, nor one that is gone already.
    #[test]
    fn take_over_removes_only_a_dead_processs_lock() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("config.lock");
        let opts = StoreOptions::default();
        let here = super::here();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        fs::write(&lock, LockInfo::content(dead, &here, "bootstrap", None)).unwrap();
        let why = take_over(&lock, &here, &opts).unwrap().unwrap();
        assert!(why.contains(&format!("process {dead} ")), "{why}");
        assert!(!lock.exists());
        assert_eq!(take_over(&lock, &here, &opts).unwrap(), None);
        let me = std::process::id();
        let live = LockInfo::content(me, &here, "bootstrap", crate::drivers::process::started(me));
        fs::write(&lock, &live).unwrap();
        assert_eq!(take_over(&lock, &here, &opts).unwrap(), None);
        assert_eq!(fs::read_to_string(&lock).unwrap(), live);
    }
}
