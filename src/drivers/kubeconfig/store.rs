//! Reading and safely rewriting kubeconfig files: the imperative shell around `doc`.
//!
//! A write is: take `<file>.lock` (created exclusively, the convention kubectl/client-go and
//! kind share, so all three exclude each other), read and parse under the lock, apply the edit,
//! and only if the tree changed: back up the original once per run, write a temporary file in
//! the same folder, fsync it, rename it over the original, fsync the folder. A reader (or a
//! crash at any instant) sees the old file or the new one, never a mix.
//!
//! Our lock records pid, host, program, start time and boot, so a lock left by a bootstrap of
//! this host that is gone (killed, crashed, the machine restarted) is taken over at once. A
//! live holder, a lock written on another host and kubectl's empty locks are never removed:
//! they are waited for, then refused, naming pid, program, host and age.

use super::paths::Paths;
use crate::core::kubeconfig::doc::{self, Changes, DocError};
use serde_json::Value;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", .path.display())]
    Doc { path: PathBuf, source: DocError },
    #[error("{} is still held after {:.1}s, by {holder}: another kubectl, kind or bootstrap is writing this kubeconfig. Nothing was changed; try again when it is done, or if it is not running remove the lock: rm {}", .lock.display(), .waited.as_secs_f64(), .lock.display())]
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
    /// Why a lock left by our own dead process was taken over, when one was.
    pub took_over: Option<String>,
}

/// One run of bootstrap: remembers which files it already backed up, so the backup holds the
/// file as it was before the run, not before the run's last edit.
#[derive(Debug, Default)]
pub struct Session {
    pub opts: StoreOptions,
    backed_up: HashSet<PathBuf>,
    /// Files this run already read and parsed (by the path named): an edit that finds the same
    /// bytes under its lock starts from that tree instead of parsing them again.
    known: std::collections::HashMap<PathBuf, std::sync::Arc<Read>>,
}

/// A file's bytes and the tree they parse to.
#[derive(Debug, Clone)]
pub struct Read {
    pub bytes: Vec<u8>,
    pub tree: Value,
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
            known: Default::default(),
        }
    }

    /// `path` was read as `read` earlier in this run.
    pub fn know(&mut self, path: &Path, read: std::sync::Arc<Read>) {
        self.known.insert(path.to_owned(), read);
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
        let mut took_over = None;
        let unchanged = |took_over: &mut Option<String>| Edited {
            path: path.to_owned(),
            changes: Changes::default(),
            written: false,
            backup: None,
            took_over: took_over.take(),
        };
        let real = resolve(path)?;
        let dir = parent_dir(&real);
        if !dir.exists() {
            // No folder, so no file: create the folder only if the edit has something to write.
            let mut empty = Value::Object(serde_json::Map::new());
            if edit(&mut empty).map_err(doc_err)?.is_empty() {
                return Ok(unchanged(&mut took_over));
            }
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|e| classify_write_error(dir, "the folder", "create the folder", e))?;
        }
        // A read-only target is still read (unlocked: we cannot make a lock there) so that a
        // run with nothing to change succeeds; only a needed write reports it.
        let mut read_only = read_only(path, &real);
        let waited = Instant::now();
        let _lock = match read_only {
            Some(_) => None,
            None => match acquire(&lock_path(path), &self.opts) {
                Ok((guard, why)) => {
                    tracing::trace!(
                        target: crate::logging::TARGET,
                        "kubeconfig {}: lock taken after {}",
                        path.display(),
                        crate::logging::took(waited.elapsed())
                    );
                    if let Some(why) = &why {
                        eprintln!("kubeconfig: took over {}: {why}", lock_path(path).display());
                    }
                    took_over = why;
                    Some(guard)
                }
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
            Err(e) => return Err(io_err(&real, "read this kubeconfig")(e)),
        };
        // The same bytes as read earlier in this run parse to the same tree: take it.
        let mut tree = match (self.known.get(path), original.as_deref()) {
            (Some(k), Some(bytes)) if k.bytes == bytes => k.tree.clone(),
            _ => parse_bytes(original.as_deref().unwrap_or_default()).map_err(doc_err)?,
        };
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
            return Ok(unchanged(&mut took_over));
        }
        if let Some(e) = read_only {
            return Err(e);
        }
        let yaml = doc::to_yaml(&tree).map_err(doc_err)?;
        remove_orphan_temps(dir, &real);
        let meta = fs::metadata(&real).ok();
        let owner = meta.as_ref().map(|m| (m.uid(), m.gid()));
        let mut backup = None;
        if let Some(bytes) = &original {
            if !self.backed_up.contains(&real) {
                // Beside the path the user named, not beside the file a symlink leads to (a
                // dotfiles repository): it holds every credential, so it is 0600 whatever the
                // original's mode.
                let b = backup_path(path);
                atomic_write(&b, bytes, owner, 0o600)?;
                self.backed_up.insert(real.clone());
                backup = Some(b);
            }
        }
        replace(&real, yaml.as_bytes(), meta.as_ref())?;
        Ok(Edited {
            path: path.to_owned(),
            changes,
            written: true,
            backup,
            took_over,
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

/// `read`, keeping the bytes too (for `Session::know`).
pub fn read_keeping_bytes(path: &Path) -> Result<Option<Read>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => parse_bytes(&bytes)
            .map(|tree| Some(Read { bytes, tree }))
            .map_err(|source| StoreError::Doc {
                path: path.to_owned(),
                source,
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, "read this kubeconfig")(e)),
    }
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
        Err(e) => Err(io_err(path, "read this kubeconfig")(e)),
    }
}

/// The merged view kubectl has of `paths`: an explicitly named file must exist, missing files of
/// the KUBECONFIG list are skipped.
pub fn read_merged(paths: &Paths) -> Result<Value, StoreError> {
    read_merged_with(paths, read)
}

/// `read_merged` with the files read by `read` (a run's cache of what it already read).
pub fn read_merged_with(
    paths: &Paths,
    mut read: impl FnMut(&Path) -> Result<Option<Value>, StoreError>,
) -> Result<Value, StoreError> {
    let mut sources = Vec::new();
    for p in &paths.files {
        match read(p)? {
            Some(v) => sources.push((p.clone(), v)),
            None if paths.explicit => {
                // The system's own words for it: "No such file or directory".
                return Err(io_err(p, "read this kubeconfig")(
                    io::Error::from_raw_os_error(libc::ENOENT),
                ));
            }
            None => {}
        }
    }
    Ok(doc::merge(sources))
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

/// Write `bytes` to the kubeconfig `target`, keeping what kubectl keeps: client-go's
/// `WriteToFile` is `os.WriteFile(name, data, 0600)`, which truncates and writes the file in
/// place, so an existing file keeps its mode, owner and inode (a bind mount, a hard link) and
/// only a new file gets 0600. We replace by rename where we can (a crash then leaves the old
/// file or the new one, never a mix), with the original's mode and owner; where the rename
/// cannot replace the file (a bind-mounted file: EBUSY; another filesystem: EXDEV) or would
/// hand a file owned by someone else to us, we write in place as kubectl does, only once the
/// whole new text is in memory, and fsync it.
fn replace(target: &Path, bytes: &[u8], meta: Option<&fs::Metadata>) -> Result<(), StoreError> {
    let Some(meta) = meta else {
        return atomic_write(target, bytes, None, 0o600);
    };
    let mode = meta.permissions().mode() & 0o7777;
    let me = effective_uid();
    if me != 0 && meta.uid() != me {
        return write_in_place(target, bytes);
    }
    match atomic_write(target, bytes, Some((meta.uid(), meta.gid())), mode) {
        Err(StoreError::Io { source, action, .. })
            if action == "replace the file"
                && matches!(source.raw_os_error(), Some(libc::EBUSY) | Some(libc::EXDEV)) =>
        {
            write_in_place(target, bytes)
        }
        other => other,
    }
}

/// Overwrite `target` from its start, cut it to the new length and fsync: the file keeps its
/// inode, mode and owner.
fn write_in_place(target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = OpenOptions::new()
        .write(true)
        .open(target)
        .map_err(|e| classify_write_error(target, "the file", "open the file", e))?;
    f.write_all(bytes)
        .map_err(io_err(target, "write the file in place"))?;
    f.set_len(bytes.len() as u64)
        .map_err(io_err(target, "truncate the file"))?;
    f.sync_all().map_err(io_err(target, "sync the file"))
}

/// Replace `target` with `bytes`: temporary file in the same folder (so rename is atomic) with
/// `mode`, the original owner kept when we run as root (sudo must not hand a user's kubeconfig
/// to root), fsync, rename, fsync the folder so the rename itself survives a crash.
fn atomic_write(
    target: &Path,
    bytes: &[u8],
    owner: Option<(u32, u32)>,
    mode: u32,
) -> Result<(), StoreError> {
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
    // After the chown, which clears set-id bits.
    let _ = tmp
        .as_file()
        .set_permissions(fs::Permissions::from_mode(mode));
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

/// What an existing lock file tells about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockInfo {
    pub age: Duration,
    /// Tells one holder from the next (inode and modification time of the lock file).
    pub identity: (u64, i64, i64),
    /// Ours write "pid\nhost\nprogram\nstart\nboot\n" (older ones the first two lines);
    /// kubectl and kind leave the file empty.
    pub pid: Option<u32>,
    pub host: Option<String>,
    pub program: Option<String>,
    /// The writer's start time in clock ticks since boot: a pid reused since is told apart.
    pub started: Option<u64>,
    /// The boot the writer ran in: a lock from an earlier boot was left by a process now gone.
    pub boot: Option<String>,
}

impl LockInfo {
    /// Pure: read a lock file's content (the first 256 bytes are plenty).
    pub fn parse(content: &str, age: Duration, identity: (u64, i64, i64)) -> LockInfo {
        let mut lines = content.lines().map(str::trim);
        let mut field = || lines.next().filter(|l| !l.is_empty()).map(str::to_owned);
        let pid = field().and_then(|l| l.parse::<u32>().ok());
        LockInfo {
            age,
            identity,
            pid,
            host: field(),
            program: field(),
            started: field().and_then(|l| l.parse().ok()),
            boot: field(),
        }
    }

    /// What our own lock holds: enough for the next writer to tell whether we still run.
    pub fn content(pid: u32, here: &Here, program: &str, started: Option<u64>) -> String {
        format!(
            "{pid}\n{}\n{program}\n{}\n{}\n",
            here.host,
            started.map(|s| s.to_string()).unwrap_or_default(),
            here.boot.as_deref().unwrap_or_default()
        )
    }
}

/// Where we stand when judging a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Here {
    pub host: String,
    pub boot: Option<String>,
}

/// Who holds a lock, as far as this host can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Left by a bootstrap process of this host that is gone: taken over.
    Gone(String),
    /// Someone may be writing right now: wait for them, then refuse, naming them.
    Live(String),
    /// Too old to be anyone's transaction, and not provably ours: refused, with how to remove it.
    Stale(String),
}

/// Decide who holds a lock; pure. `running` answers for a pid on this host.
pub fn judge(
    info: &LockInfo,
    here: &Here,
    stale_after: Duration,
    running: impl Fn(u32) -> Option<crate::drivers::process::Running>,
) -> Holder {
    let age = format!("{}s old", info.age.as_secs());
    let program = |p: Option<&String>| {
        p.or(info.program.as_ref())
            .map(|p| format!(" (`{p}`)"))
            .unwrap_or_default()
    };
    let same_host = info.host.as_deref().is_none_or(|h| h == here.host);
    let old = info.age > stale_after;
    match info.pid {
        Some(pid) if same_host => {
            let written = format!("bootstrap process {pid}{}", program(None));
            if let (Some(then), Some(now)) = (&info.boot, &here.boot) {
                if then != now {
                    return Holder::Gone(format!(
                        "it was left by {written} before this machine restarted ({age})"
                    ));
                }
            }
            match running(pid) {
                None => Holder::Gone(format!(
                    "it was left by {written}, which is no longer running ({age})"
                )),
                Some(now)
                    if info.started.is_some()
                        && now.started.is_some()
                        && info.started != now.started =>
                {
                    Holder::Gone(format!(
                        "it was left by {written}, which is no longer running; pid {pid} is now another process{} ({age})",
                        program(now.program.as_ref())
                    ))
                }
                Some(now) => {
                    let who = format!(
                        "process {pid}{} on this host ({}), lock {age}",
                        program(now.program.as_ref()),
                        here.host
                    );
                    if old {
                        Holder::Stale(format!(
                            "it is held by {who}, and kubectl, kind and bootstrap hold their locks for milliseconds: that process may be stuck"
                        ))
                    } else {
                        Holder::Live(who)
                    }
                }
            }
        }
        Some(pid) => {
            let who = format!(
                "bootstrap process {pid}{} on host {}, lock {age}; that host's processes cannot be seen from here",
                program(None),
                info.host.as_deref().unwrap_or_default()
            );
            if old {
                Holder::Stale(format!("it was written by {who}"))
            } else {
                Holder::Live(who)
            }
        }
        None => {
            let who = format!(
                "an empty lock, the kind kubectl and kind make (no process to check), {age}"
            );
            if old {
                Holder::Stale(format!(
                    "it is {who}, and kubectl, kind and bootstrap hold their locks for milliseconds"
                ))
            } else {
                Holder::Live(who)
            }
        }
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

/// Take the lock, waiting while others hold it. The wait is bounded per holder (a holder that
/// keeps it `lock_timeout` is reported) and overall (a file that keeps changing hands for six
/// times that long is reported as busy), so a run never waits forever and never gives up on a
/// file that is merely popular. A lock left by our own dead process is taken over.
fn acquire(lock: &Path, opts: &StoreOptions) -> Result<(LockGuard, Option<String>), StoreError> {
    let start = Instant::now();
    let overall = opts.lock_timeout * 6;
    let mut holder: Option<((u64, i64, i64), Instant)> = None;
    let mut handovers = 0u32;
    let mut delay = Duration::from_millis(1);
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
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let info = match inspect(lock) {
                    Ok(i) => i,
                    // Released between our attempt and our look: try again at once.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(lock, "inspect the lock")(e)),
                };
                let who = match judge(
                    &info,
                    &here,
                    opts.stale_after,
                    crate::drivers::process::running,
                ) {
                    Holder::Gone(_) => {
                        if let Some(why) = take_over(lock, &here, opts)
                            .map_err(io_err(lock, "take over the lock"))?
                        {
                            took_over = Some(why);
                        }
                        continue;
                    }
                    Holder::Stale(why) => {
                        return Err(StoreError::StaleLock {
                            lock: lock.to_owned(),
                            why,
                        })
                    }
                    Holder::Live(who) => who,
                };
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
                        holder: who,
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
    use crate::drivers::process::Running;

    fn info(age: u64, pid: Option<u32>, host: Option<&str>) -> LockInfo {
        LockInfo {
            age: Duration::from_secs(age),
            identity: (1, 0, 0),
            pid,
            host: host.map(str::to_owned),
            program: Some("bootstrap".into()),
            started: Some(100),
            boot: Some("b1".into()),
        }
    }

    fn here() -> Here {
        Here {
            host: "me".into(),
            boot: Some("b1".into()),
        }
    }

    const TEN: Duration = Duration::from_secs(10);

    fn runs(started: u64, program: &str) -> impl Fn(u32) -> Option<Running> + '_ {
        move |_| {
            Some(Running {
                program: Some(program.into()),
                started: Some(started),
            })
        }
    }

    #[test]
    fn a_dead_holder_on_this_host_is_gone_at_once() {
        let Holder::Gone(why) = judge(&info(0, Some(42), Some("me")), &here(), TEN, |_| None)
        else {
            panic!()
        };
        assert!(
            why.contains("process 42 (`bootstrap`)") && why.contains("no longer running"),
            "{why}"
        );
    }

    #[test]
    fn a_reused_pid_or_an_earlier_boot_is_gone_too() {
        let Holder::Gone(why) = judge(
            &info(0, Some(42), Some("me")),
            &here(),
            TEN,
            runs(999, "sshd"),
        ) else {
            panic!()
        };
        assert!(
            why.contains("pid 42 is now another process (`sshd`)"),
            "{why}"
        );
        let mut before = info(0, Some(42), Some("me"));
        before.boot = Some("b0".into());
        assert!(matches!(
            judge(&before, &here(), TEN, runs(100, "bootstrap")),
            Holder::Gone(w) if w.contains("before this machine restarted")
        ));
    }

    #[test]
    fn a_live_holder_is_named_with_pid_program_host_and_age() {
        let Holder::Live(who) = judge(
            &info(3, Some(42), Some("me")),
            &here(),
            TEN,
            runs(100, "bootstrap"),
        ) else {
            panic!()
        };
        assert_eq!(
            who,
            "process 42 (`bootstrap`) on this host (me), lock 3s old"
        );
        assert!(matches!(
            judge(&info(11, Some(42), Some("me")), &here(), TEN, runs(100, "bootstrap")),
            Holder::Stale(w) if w.contains("may be stuck")
        ));
    }

    #[test]
    fn a_lock_from_another_host_is_never_taken_over() {
        let Holder::Live(who) = judge(&info(3, Some(42), Some("other")), &here(), TEN, |_| None)
        else {
            panic!()
        };
        assert!(
            who.contains("process 42 (`bootstrap`) on host other, lock 3s old"),
            "{who}"
        );
        assert!(matches!(
            judge(&info(60, Some(42), Some("other")), &here(), TEN, |_| None),
            Holder::Stale(w) if w.contains("on host other")
        ));
    }

    #[test]
    fn an_empty_kubectl_lock_is_waited_for_then_stale_when_old() {
        let empty = |age| LockInfo {
            age: Duration::from_secs(age),
            ..LockInfo::default()
        };
        assert!(matches!(
            judge(&empty(1), &here(), TEN, |_| None),
            Holder::Live(_)
        ));
        let Holder::Stale(why) = judge(&empty(60), &here(), TEN, |_| None) else {
            panic!()
        };
        assert!(why.contains("60s old") && why.contains("empty"), "{why}");
    }

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

    #[test]
    fn lock_content_round_trips_and_old_locks_still_read() {
        let text = LockInfo::content(42, &here(), "bootstrap", Some(100));
        let back = LockInfo::parse(&text, Duration::from_secs(3), (1, 0, 0));
        assert_eq!(back, info(3, Some(42), Some("me")));
        let old = LockInfo::parse("42\nme\n", Duration::ZERO, (1, 0, 0));
        assert_eq!(
            (old.pid, old.host.as_deref(), old.started),
            (Some(42), Some("me"), None)
        );
        let kubectl = LockInfo::parse("", Duration::ZERO, (1, 0, 0));
        assert_eq!(kubectl.pid, None);
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
