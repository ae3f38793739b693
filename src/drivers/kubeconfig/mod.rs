//! Kubeconfig files: where they are (`paths`, honouring KUBECONFIG as kubectl does) and safe
//! locked, atomic writes (`store`). The edits themselves are pure: `core::kubeconfig::doc`.

pub mod paths;
pub mod store;

use crate::core::kubeconfig::{doc, Entry};
pub use paths::Paths;
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
    session.edit(&paths.write_target(), |d| {
        let mut changes = doc::upsert(d, entries, owner)?;
        if let Some(c) = current {
            changes.extend(doc::set_current(d, c, owner)?);
        }
        Ok(changes)
    })
}

/// Remove everything marked as `owner`'s from the file bootstrap writes to (what `down` does).
pub fn remove_entries(
    session: &mut Session,
    paths: &Paths,
    owner: &str,
) -> Result<Edited, StoreError> {
    session.edit(&paths.write_target(), |d| doc::remove_owned(d, owner))
}
