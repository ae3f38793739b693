//! Reading and safely rewriting kubeconfig files: the imperative shell around `doc`.
//!
//! A write is: take `<file>.lock` (created exclusively, the convention kubectl/client-go and
//! kind share, so all three exclude each other), read and parse under the lock, apply the edit,
//! and only if the tree changed: back up the original once per run, write a temporary file in
//! the same folder, fsync it, rename it over the original, fsync the folder. A reader (or a
//! crash at any instant) sees the old file or the new one, never a mix.

use super::paths::Paths;
use crate::core::kubeconfig::doc::{self, Changes, DocError};
use serde_json::Value;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", .path.display())]
    Doc { path: PathBuf, source: DocError },
    #[error("{} is still held after {:.1}s ({holder}); another kubectl, kind or bootstrap is writing this kubeconfig. Nothing was changed; try again, or if none is running remove the lock: rm {}", .lock.display(), .waited.as_secs_f64(), .lock.display())]
    Locked {
        lock: PathBuf,
        waited: Duration,
        holder: String,
    },
    #[error("{} is a stale lock: {why}. Nothing was changed. If no kubectl, kind or bootstrap is running, remove it: rm {}", .lock.display(), .lock.display())]
    StaleLock { lock: PathBuf, why: String },
    #[error("{}: {what} is read-only ({how}); nothing was changed. Make it writable or point --kubeconfig elsewhere", .path.display())]
    ReadOnly {
        path: PathBuf,
        what: &'static str,
        how: String,
    },
    #[error("{}: cannot {action}: {source}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// What one `edit` did.
#[derive(Debug, Clone)]
pub struct Edited {
    /// The file as named (a symlink is written through, not replaced).
    pub path: PathBuf,
    pub changes: Changes,
    pub written: bool,
    /// Where the original was saved, when this edit made the run's backup.
    pub backup: Option<PathBuf>,
}

/// One run of bootstrap: remembers which files it already backed up, so the backup holds the
/// file as it was before the run, not before the run's last edit.
#[derive(Debug, Default)]
pub struct Session {
    pub opts: StoreOptions,
    backed_up: HashSet<PathBuf>,
}

pub fn lock_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

pub fn backup_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".bootstrap.bak");
    PathBuf::from(s)
}

impl Session {
    pub fn new(opts: StoreOptions) -> Session {
        Session {
            opts,
            backed_up: HashSet::new(),
        }
    }

    /// Load `path` under its lock, apply `edit`, and write the result back only when the edit
    /// reports changes (it must report every change it makes). A missing file starts as an
    /// empty document.
    pub fn edit(
        &mut self,
        path: &Path,
        mut edit: impl FnMut(&mut Value) -> Result<Changes, DocError>,
    ) -> Result<Edited, StoreError> {
        let doc_err = |source| StoreError::Doc {
            path: path.to_owned(),
            source,
        };
        let unchanged = || Edited {
            path: path.to_owned(),
            changes: Changes::default(),
            written: false,
            backup: None,
        };
        let real = resolve(path)?;
        let dir = parent_dir(&real);
        if !dir.exists() {
            // No folder, so no file: create the folder only if the edit has something to write.
            let mut empty = Value::Object(serde_json::Map::new());
            if edit(&mut empty).map_err(doc_err)?.is_empty() {
                return Ok(unchanged());
            }
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| classify_write_error(dir, "the folder", "create the folder", e))?;
        }
        // A read-only target is still read (unlocked: we cannot make a lock there) so that a
        // run with nothing to change succeeds; only a needed write reports it.
        let mut read_only = read_only(path, &real);
        let _lock = match read_only {
            Some(_) => None,
            None => match acquire(&lock_path(path), &self.opts) {
                Ok(guard) => Some(guard),
                Err(e @ StoreError::ReadOnly { .. }) => {
                    read_only = Some(e);
                    None
                }
                Err(e) => return Err(e),
            },
        };
        let original = match fs::read(&real) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&real, "read")(e)),
        };
        let mut tree = parse_bytes(original.as_deref().unwrap_or_default()).map_err(doc_err)?;
        // The edit must report exactly what it changed (the doc functions' tests hold them to
        // it): trusting that spares a copy and a comparison of the whole tree on every run.
        // Debug builds, and so every test, still check it.
        #[cfg(debug_assertions)]
        let before = tree.clone();
        let changes = edit(&mut tree).map_err(doc_err)?;
        #[cfg(debug_assertions)]
        assert_eq!(
            changes.is_empty(),
            tree == before,
            "the edit misreported its changes: {changes}"
        );
        if changes.is_empty() {
            return Ok(unchanged());
        }
        if let Some(e) = read_only {
            return Err(e);
        }
        let yaml = doc::to_yaml(&tree).map_err(doc_err)?;
        remove_orphan_temps(dir, &real);
        let owner = fs::metadata(&real).ok().map(|m| (m.uid(), m.gid()));
        let mut backup = None;
        if let Some(bytes) = &original {
            if !self.backed_up.contains(&real) {
                let b = backup_path(&real);
                atomic_write(&b, bytes, owner)?;
                self.backed_up.insert(real.clone());
                backup = Some(b);
            }
        }
        atomic_write(&real, yaml.as_bytes(), owner)?;
        Ok(Edited {
            path: path.to_owned(),
            changes,
            written: true,
            backup,
        })
    }
}

/// Invalid UTF-8 is refused rather than replaced: rewriting replacement characters would
/// corrupt whatever those bytes were.
fn parse_bytes(bytes: &[u8]) -> Result<Value, DocError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DocError::Syntax(format!("not UTF-8 text ({e})")))?;
    doc::parse(text)
}

/// Read one kubeconfig file for lookups (no lock: writers replace the file atomically, and
/// kubectl's in-place writes happen under a lock we cannot make it wait on anyway). None when
/// the file does not exist.
pub fn read(path: &Path) -> Result<Option<Value>, StoreError> {
    match fs::read(path) {
        Ok(b) => parse_bytes(&b).map(Some).map_err(|source| StoreError::Doc {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, "read")(e)),
    }
}

/// The merged view kubectl has of `paths`: an explicitly named file must exist, missing files of
/// the KUBECONFIG list are skipped.
pub fn read_merged(paths: &Paths) -> Result<Value, StoreError> {
    let mut sources = Vec::new();
    for p in &paths.files {
        match read(p)? {
            Some(v) => sources.push((p.clone(), v)),
            None if paths.explicit => {
                return Err(io_err(p, "read")(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no such file",
                )));
            }
            None => {}
        }
    }
    Ok(doc::merge(&sources))
}

fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Resolve a symlinked kubeconfig to the file it points at, so a dotfiles link stays a link.
fn resolve(path: &Path) -> Result<PathBuf, StoreError> {
    match fs::canonicalize(path) {
        Ok(r) => Ok(r),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path.to_owned()),
        Err(e) => Err(io_err(path, "resolve")(e)),
    }
}

/// Why the target cannot be written, judged by mode bits: root would otherwise write through
/// them, and a file or folder without its owner-write bit was made read-only on purpose. (What
/// the kernel refuses is caught where it happens.)
fn read_only(path: &Path, real: &Path) -> Option<StoreError> {
    let mode = |p: &Path| fs::metadata(p).ok().map(|m| m.permissions().mode() & 0o777);
    if let Some(m) = mode(real).filter(|m| m & 0o200 == 0) {
        return Some(StoreError::ReadOnly {
            path: path.to_owned(),
            what: "the file",
            how: format!("mode {m:o}"),
        });
    }
    let dir = parent_dir(real);
    mode(dir)
        .filter(|m| m & 0o200 == 0)
        .map(|m| StoreError::ReadOnly {
            path: dir.to_owned(),
            what: "the folder",
            how: format!("mode {m:o}"),
        })
}

fn classify_write_error(
    path: &Path,
    what: &'static str,
    action: &'static str,
    e: io::Error,
) -> StoreError {
    const EROFS: i32 = 30;
    if e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(EROFS) {
        return StoreError::ReadOnly {
            path: path.to_owned(),
            what,
            how: e.to_string(),
        };
    }
    io_err(path, action)(e)
}

const TEMP_PREFIX: &str = ".bootstrap-tmp-";

/// Temporary files of ours left by a writer that was killed: safe to remove because every writer
/// makes them only while holding the lock we now hold.
fn remove_orphan_temps(dir: &Path, target: &Path) {
    let Some(name) = target.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let prefix = format!("{TEMP_PREFIX}{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Replace `target` with `bytes`: temporary file in the same folder (so rename is atomic), mode
/// 0600, the original owner kept when we run as root (sudo must not hand a user's kubeconfig to
/// root), fsync, rename, fsync the folder so the rename itself survives a crash.
fn atomic_write(target: &Path, bytes: &[u8], owner: Option<(u32, u32)>) -> Result<(), StoreError> {
    let dir = parent_dir(target);
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("kubeconfig");
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{name}."))
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| classify_write_error(dir, "the folder", "create a temporary file", e))?;
    if let Some((uid, gid)) = owner {
        let me = effective_uid();
        if me == 0 && (uid, gid) != (0, 0) {
            let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(uid), Some(gid));
        }
    }
    tmp.write_all(bytes)
        .map_err(io_err(dir, "write a temporary file"))?;
    tmp.as_file()
        .sync_all()
        .map_err(io_err(dir, "sync a temporary file"))?;
    tmp.persist(target)
        .map_err(|e| io_err(target, "replace the file")(e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync the folder"))?;
    Ok(())
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Held for the whole read-edit-write; removes the lock file when dropped.
struct LockGuard {
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

/// What an existing lock file tells about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    pub age: Duration,
    /// Tells one holder from the next (inode and modification time of the lock file).
    pub identity: (u64, i64, i64),
    /// Ours write "pid\nhostname\n"; kubectl and kind leave the file empty.
    pub pid: Option<u32>,
    pub host: Option<String>,
}

/// Decide whether a lock is stale; pure. `alive` answers for a pid on this host.
pub fn staleness(
    info: &LockInfo,
    this_host: &str,
    stale_after: Duration,
    alive: impl Fn(u32) -> bool,
) -> Option<String> {
    let same_host = info.host.as_deref().is_none_or(|h| h == this_host);
    if let (Some(pid), true) = (info.pid, same_host) {
        if !alive(pid) {
            return Some(format!(
                "it was left by bootstrap process {pid}, which is no longer running ({}s old)",
                info.age.as_secs()
            ));
        }
    }
    if info.age > stale_after {
        return Some(format!(
            "it is {}s old, and kubectl, kind and bootstrap hold their locks for milliseconds ({})",
            info.age.as_secs(),
            describe_holder(info)
        ));
    }
    None
}

fn describe_holder(info: &LockInfo) -> String {
    match (&info.pid, &info.host) {
        (Some(pid), Some(h)) if !h.is_empty() => format!("made by bootstrap process {pid} on {h}"),
        (Some(pid), _) => format!("made by bootstrap process {pid}"),
        _ => "empty, the kind kubectl and kind make".into(),
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
    let mut lines = content.lines();
    let pid = lines.next().and_then(|l| l.trim().parse::<u32>().ok());
    let host = lines.next().map(|l| l.trim().to_owned());
    Ok(LockInfo {
        age,
        identity,
        pid,
        host,
    })
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Create `lock` exclusively with our pid already in it: the content goes into a private file
/// first, which is then hard-linked to the lock name (atomic, and failing when the name exists,
/// as kubectl's O_EXCL create does), so no other writer ever sees our lock empty. Where hard
/// links are not supported, fall back to O_EXCL and then write.
fn create_lock(lock: &Path, host: &str) -> io::Result<()> {
    let content = format!("{}\n{host}\n", std::process::id());
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

/// Take the lock, waiting while others hold it. The wait is bounded per holder (a holder that
/// keeps it `lock_timeout` is reported) and overall (a file that keeps changing hands for six
/// times that long is reported as busy), so a run never waits forever and never gives up on a
/// file that is merely popular.
fn acquire(lock: &Path, opts: &StoreOptions) -> Result<LockGuard, StoreError> {
    // A pid in the lock lets the next writer tell a crashed holder from a slow one.
    let start = Instant::now();
    let overall = opts.lock_timeout * 6;
    let mut holder: Option<((u64, i64, i64), Instant)> = None;
    let mut handovers = 0u32;
    let mut delay = Duration::from_millis(1);
    let host = hostname();
    loop {
        match create_lock(lock, &host) {
            Ok(()) => {
                return Ok(LockGuard {
                    path: lock.to_owned(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let info = match inspect(lock) {
                    Ok(i) => i,
                    // Released between our attempt and our look: try again at once.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(lock, "inspect the lock")(e)),
                };
                if let Some(why) = staleness(&info, &host, opts.stale_after, pid_alive) {
                    return Err(StoreError::StaleLock {
                        lock: lock.to_owned(),
                        why,
                    });
                }
                let now = Instant::now();
                let since = match holder {
                    Some((id, since)) if id == info.identity => since,
                    _ => {
                        if holder.is_some() {
                            handovers += 1;
                        }
                        holder = Some((info.identity, now));
                        now
                    }
                };
                if now - since >= opts.lock_timeout {
                    return Err(StoreError::Locked {
                        lock: lock.to_owned(),
                        waited: now - start,
                        holder: describe_holder(&info),
                    });
                }
                if now - start >= overall {
                    return Err(StoreError::Locked {
                        lock: lock.to_owned(),
                        waited: now - start,
                        holder: format!("taken by {handovers} other writers in turn"),
                    });
                }
                // Short, jittered naps: holders keep it for milliseconds, and two waiters
                // polling in step would keep missing the same gaps.
                let jitter = Duration::from_micros(
                    u64::from(now.elapsed().subsec_nanos() ^ std::process::id()) % 1000,
                );
                std::thread::sleep(delay + jitter);
                delay = (delay * 2).min(Duration::from_millis(8));
            }
            Err(e) => {
                return Err(classify_write_error(
                    parent_dir(lock),
                    "the folder",
                    "create the lock",
                    e,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(age: u64, pid: Option<u32>, host: Option<&str>) -> LockInfo {
        LockInfo {
            age: Duration::from_secs(age),
            identity: (1, 0, 0),
            pid,
            host: host.map(str::to_owned),
        }
    }

    #[test]
    fn dead_holder_on_this_host_is_stale_at_once() {
        let why = staleness(
            &info(0, Some(42), Some("me")),
            "me",
            Duration::from_secs(10),
            |_| false,
        )
        .unwrap();
        assert!(
            why.contains("process 42") && why.contains("no longer running"),
            "{why}"
        );
    }

    #[test]
    fn live_holder_is_not_stale_until_old() {
        assert_eq!(
            staleness(
                &info(3, Some(42), Some("me")),
                "me",
                Duration::from_secs(10),
                |_| true
            ),
            None
        );
        assert!(staleness(
            &info(11, Some(42), Some("me")),
            "me",
            Duration::from_secs(10),
            |_| true
        )
        .is_some());
    }

    #[test]
    fn pid_from_another_host_is_judged_by_age_only() {
        assert_eq!(
            staleness(
                &info(3, Some(42), Some("other")),
                "me",
                Duration::from_secs(10),
                |_| false
            ),
            None
        );
    }

    #[test]
    fn empty_kubectl_lock_is_stale_only_when_old() {
        assert_eq!(
            staleness(&info(1, None, None), "me", Duration::from_secs(10), |_| {
                false
            }),
            None
        );
        let why = staleness(&info(60, None, None), "me", Duration::from_secs(10), |_| {
            false
        })
        .unwrap();
        assert!(why.contains("60s old") && why.contains("empty"), "{why}");
    }

    #[test]
    fn lock_and_backup_names_follow_the_file() {
        assert_eq!(
            lock_path(Path::new("/h/.kube/config")),
            PathBuf::from("/h/.kube/config.lock")
        );
        assert_eq!(
            backup_path(Path::new("/h/.kube/config")),
            PathBuf::from("/h/.kube/config.bootstrap.bak")
        );
    }
}
