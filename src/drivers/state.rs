//! bootstrap's own state on this machine, under `$XDG_STATE_HOME/bootstrap` (else
//! `~/.local/state/bootstrap`, the XDG base directory default). One thing lives there: the
//! record that a `kind create` was started for a cluster. A cluster's ownership mark is written
//! into its node only once kind returns, so a create interrupted in between (Ctrl-C, SIGKILL,
//! a crash) would otherwise leave a cluster indistinguishable from one made by hand; this record
//! says bootstrap began it, and is removed once the node carries the mark.

use std::path::PathBuf;

/// The state folder, or None without HOME or XDG_STATE_HOME (then an interrupted create is
/// taken for the user's, the safe side: left in place and named). None too when the folder, or
/// the one holding the records, belongs to another user or others can write it: a record
/// planted there would make bootstrap take someone's cluster for its own (and `down` remove
/// it). That is said once on stderr, with what to do, and the run goes on without state.
pub fn dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let d = xdg
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .map(|d| d.join("bootstrap"))?;
    match private(&d) {
        Ok(()) => Some(d),
        Err(why) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!("warning: bootstrap's state folder {why}; going on without it (a cluster create that is interrupted is then left to you)")
            });
            None
        }
    }
}

/// The state folder and its `creating` folder, where they exist, are this user's alone.
fn private(d: &std::path::Path) -> Result<(), String> {
    super::fetch::check_private_chain(d, &d.join("creating").join("x")).map_err(|e| e.to_string())
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
        super::fetch::create_private_dir(parent)?;
    }
    let body = serde_json::json!({"cluster": cluster, "pid": std::process::id()});
    // Written whole, then renamed: a kill mid-write leaves no half record.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, body.to_string())?;
    std::fs::rename(&tmp, &path)
}

/// Whether a create of `cluster` by bootstrap was begun and not finished.
pub fn create_begun(cluster: &str) -> bool {
    creating(cluster).is_some_and(|p| p.is_file() && super::fetch::not_private(&p).is_none())
}

/// The node carries our mark now (or the cluster is gone): forget the create.
pub fn end_create(cluster: &str) {
    if let Some(p) = creating(cluster) {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_state_folder_another_user_could_change_is_not_used() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("bootstrap");
        // Not there yet, then made by us: used.
        assert_eq!(private(&d), Ok(()));
        super::super::fetch::create_private_dir(&d.join("creating")).unwrap();
        assert_eq!(private(&d), Ok(()));
        // Others may write `creating`: a record could be planted there.
        std::fs::set_permissions(d.join("creating"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        let e = private(&d).unwrap_err();
        assert!(
            e.contains("creating: not used: it can be written by other users"),
            "{e}"
        );
        assert!(e.contains("mode 0777"), "{e}");
        std::fs::set_permissions(d.join("creating"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        // Owned by another user (the tests run as root, who may give it away).
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: giving a folder away needs root");
            return;
        }
        std::os::unix::fs::chown(&d, Some(4242), None).unwrap();
        let e = private(&d).unwrap_err();
        assert!(
            e.contains("it belongs to another user (owner uid 4242"),
            "{e}"
        );
    }
}
