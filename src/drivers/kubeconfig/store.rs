//! Reading and safely rewriting kubeconfig files: the imperative shell around `doc`.
//!
//! A write is: take `<file>.lock` (created exclusively, the convention kubectl/client-go and
//! kind share, so all three exclude each other), read and parse under the lock, apply the edit,
//! and only if the tree changed: back up the original once per run, write a temporary file in
//! the same folder, fsync it, rename it over the original, fsync the folder. A reader (or a
//! crash at any instant) sees the old file or the new one, never a mix.
//!
//! The lock's files are `lock`'s; who holds a lock and how long to wait for it is judged in
//! `core::kubeconfig::lock`.

use super::lock::{acquire, LockError, TEMP_PREFIX};
use super::paths::{parent_dir, Paths};
use crate::core::kubeconfig::doc::{self, Changes, DocError};
use serde_json::Value;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use super::lock::StoreOptions;

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
            None => match acquire(&lock_path(path), &self.opts).map_err(|e| lock_error(path, e)) {
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

/// The lock's failure, said of `<file>.lock`.
fn lock_error(file: &Path, e: LockError) -> StoreError {
    let lock = lock_path(file);
    match e {
        LockError::Locked { waited, holder } => StoreError::Locked {
            lock,
            waited,
            holder,
        },
        LockError::Stale { why } => StoreError::StaleLock { lock, why },
        LockError::Create(e) => {
            classify_write_error(parent_dir(&lock), "the folder", "create the lock", e)
        }
        LockError::Io { action, source } => io_err(&lock, action)(source),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
