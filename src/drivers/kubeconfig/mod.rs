//! Kubeconfig files: where they are (`paths`, honouring KUBECONFIG as kubectl does) and safe
//! locked, atomic writes (`store`, under the lock `lock` takes). The edits themselves are pure:
//! `core::kubeconfig::doc`.

mod lock;
pub mod paths;
pub mod store;

use crate::core::kubeconfig::{doc, Entry};
pub use paths::Paths;
use std::path::PathBuf;
pub use store::{Edited, Session, StoreError, StoreOptions};

/// Write `entries` as `owner`'s into the file bootstrap writes to, and make `current` the
/// current context when given. One locked transaction; no write when nothing changes.
pub fn write_entries(
    session: &mut Session,
    paths: &Paths,
    entries: &[Entry],
    owner: &str,
    current: Option<&str>,
) -> Result<Edited, StoreError> {
    session.edit(&ours_target(paths, owner), |d| {
        let mut changes = doc::upsert(d, entries, owner)?;
        if let Some(c) = current {
            changes.extend(doc::set_current(d, c, owner)?);
        }
        Ok(changes)
    })
}

/// The merged document kubectl would read from `paths`, for lookups (verify, `kubeconfig`):
/// our reader, linear in the files' size, with no budget on size or depth. With no file at all
/// (none named, none of KUBECONFIG there, no ~/.kube/config), says where it looked.
pub fn read_for_lookup(paths: &Paths) -> Result<serde_json::Value, String> {
    if !paths.explicit && !paths.files.iter().any(|f| f.exists()) {
        let looked: Vec<String> = paths
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        return Err(format!(
            "no kubeconfig found (looked for {})\n  hint: pass --kubeconfig FILE or set KUBECONFIG; `bootstrap up` writes one",
            looked.join(", ")
        ));
    }
    store::read_merged(paths).map_err(|e| e.to_string())
}

/// The file `owner`'s entries live in: with a KUBECONFIG list, the first file that holds an
/// item carrying their mark (client-go changes an existing entry in the file that defines it,
/// its `LocationOfOrigin`), else where kubectl puts a new entry (`Paths::write_target`). A file
/// that cannot be read is passed over here; the edit itself then reports it.
pub fn ours_target(paths: &Paths, owner: &str) -> PathBuf {
    ours_target_with(paths, owner, |f| store::read(f).ok().flatten())
}

/// `ours_target` with the files read by `read` (a run's cache of what it already read).
pub fn ours_target_with(
    paths: &Paths,
    owner: &str,
    read: impl Fn(&std::path::Path) -> Option<serde_json::Value>,
) -> PathBuf {
    if paths.files.len() > 1 {
        for f in &paths.files {
            if read(f).is_some_and(|d| doc::owns_any(&d, owner)) {
                return f.clone();
            }
        }
    }
    paths.write_target()
}

/// Remove everything marked as `owner`'s from every file kubectl reads (what `down` does): with
/// a KUBECONFIG list, our entries may sit in any of them (an earlier `up` with another list).
/// Each file is its own locked transaction; the changes of all are returned together, and the
/// path is the last file written (or the first file, when none was).
pub fn remove_entries(
    session: &mut Session,
    paths: &Paths,
    owner: &str,
) -> Result<Edited, StoreError> {
    let mut all: Option<Edited> = None;
    for f in &paths.files {
        if paths.files.len() > 1 && !f.exists() {
            continue;
        }
        let e = session.edit(f, |d| doc::remove_owned(d, owner))?;
        all = Some(match all {
            None => e,
            Some(mut a) => {
                if e.written {
                    a.path = e.path;
                    a.written = true;
                }
                a.backup = a.backup.or(e.backup);
                a.took_over = a.took_over.or(e.took_over);
                a.changes.extend(e.changes);
                a
            }
        });
    }
    Ok(all.unwrap_or_else(|| Edited {
        path: paths.write_target(),
        changes: Default::default(),
        written: false,
        backup: None,
        took_over: None,
    }))
}
