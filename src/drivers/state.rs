//! bootstrap's own state on this machine, under `$XDG_STATE_HOME/bootstrap` (else
//! `~/.local/state/bootstrap`, the XDG base directory default). One thing lives there: the
//! record that a `kind create` was started for a cluster. A cluster's ownership mark is written
//! into its node only once kind returns, so a create interrupted in between (Ctrl-C, SIGKILL,
//! a crash) would otherwise leave a cluster indistinguishable from one made by hand; this record
//! says bootstrap began it, and is removed once the node carries the mark.

use std::path::PathBuf;

/// The state folder, or None without HOME or XDG_STATE_HOME (then an interrupted create is
/// taken for the user's, the safe side: left in place and named).
pub fn dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    xdg.or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .map(|d| d.join("bootstrap"))
}

fn creating(cluster: &str) -> Option<PathBuf> {
    dir().map(|d| d.join("creating").join(format!("{cluster}.json")))
}

/// Record, before kind runs, that bootstrap is creating `cluster`.
pub fn begin_create(cluster: &str) -> std::io::Result<()> {
    let Some(path) = creating(cluster) else {
        return Ok(());
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let body = serde_json::json!({"cluster": cluster, "pid": std::process::id()});
    // Written whole, then renamed: a kill mid-write leaves no half record.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, body.to_string())?;
    std::fs::rename(&tmp, &path)
}

/// Whether a create of `cluster` by bootstrap was begun and not finished.
pub fn create_begun(cluster: &str) -> bool {
    creating(cluster).is_some_and(|p| p.is_file())
}

/// The node carries our mark now (or the cluster is gone): forget the create.
pub fn end_create(cluster: &str) {
    if let Some(p) = creating(cluster) {
        let _ = std::fs::remove_file(p);
    }
}
