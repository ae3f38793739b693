//! Merging into a real file: nothing foreign is lost, a no-change run writes nothing, the
//! backup holds the file as it was before the run.

#[path = "kubeconfig_support/mod.rs"]
mod support;

use bootstrap::core::kubeconfig::doc;
use bootstrap::drivers::kubeconfig::{store, Session, StoreError, StoreOptions};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use support::{entry, foreign_kubeconfig};

const OWNER: &str = "localdev";

fn ours() -> Vec<bootstrap::core::kubeconfig::Entry> {
    vec![
        entry("kind-localdev", "https://127.0.0.1:6443"),
        entry(
            "dev-vcluster",
            "https://dev-vcluster.cnoe.localtest.me:8443",
        ),
        entry(
            "staging-vcluster",
            "https://staging-vcluster.cnoe.localtest.me:8443",
        ),
    ]
}

fn apply(session: &mut Session, path: &std::path::Path) -> Result<store::Edited, StoreError> {
    session.edit(path, |d| {
        let mut ch = doc::upsert(d, &ours(), OWNER)?;
        ch.extend(doc::set_current(d, "dev-vcluster", OWNER)?);
        Ok(ch)
    })
}

#[test]
fn merge_into_a_thousand_foreign_contexts_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let original = foreign_kubeconfig(1000);
    fs::write(&path, &original).unwrap();
    let mode_before = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    let before = doc::parse(&original).unwrap();
    assert_eq!(doc::context_names(&before).len(), 1000);
    assert_eq!(
        before,
        doc::parse_reference(&original).unwrap(),
        "fast path and serde-saphyr disagree"
    );

    let mut session = Session::default();
    let edited = apply(&mut session, &path).unwrap();
    assert!(edited.written);
    assert_eq!(edited.changes.0.len(), 10, "{}", edited.changes);

    let written = fs::read_to_string(&path).unwrap();
    let after = doc::parse(&written).unwrap();
    assert_eq!(after, doc::parse_reference(&written).unwrap());
    assert_eq!(doc::context_names(&after).len(), 1003);
    for e in ours() {
        let v = doc::context_view(&after, &e.context).unwrap();
        assert_eq!(v.owner.as_deref(), Some(OWNER));
        assert_eq!(v.server.as_deref(), Some(e.creds.server.as_str()));
    }
    assert_eq!(after["current-context"], "dev-vcluster");

    // Everything but our additions is exactly as it was: take ours out again and compare trees.
    let mut stripped = after.clone();
    doc::remove_owned(&mut stripped, OWNER).unwrap();
    assert_eq!(stripped, before, "foreign content changed");

    // The mode it had (fs::write under the umask), as kubectl's in-place write keeps it.
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        mode_before
    );
    let backup = edited
        .backup
        .expect("first change of the run makes a backup");
    assert_eq!(fs::read_to_string(&backup).unwrap(), original);
    assert_eq!(
        fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!store::lock_path(&path).exists(), "lock released");
}

#[test]
fn a_run_that_changes_nothing_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    fs::write(&path, foreign_kubeconfig(50)).unwrap();
    apply(&mut Session::default(), &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    let meta = fs::metadata(&path).unwrap();
    fs::remove_file(store::backup_path(&path)).unwrap();

    std::thread::sleep(std::time::Duration::from_millis(20));
    let edited = apply(&mut Session::default(), &path).unwrap();
    assert!(!edited.written);
    assert!(edited.changes.is_empty(), "{}", edited.changes);
    let meta2 = fs::metadata(&path).unwrap();
    assert_eq!(
        (meta2.ino(), meta2.mtime_nsec(), meta2.mtime()),
        (meta.ino(), meta.mtime_nsec(), meta.mtime())
    );
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert!(
        !store::backup_path(&path).exists(),
        "no backup when nothing changes"
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the kubeconfig remains: {leftovers:?}"
    );
}

#[test]
fn the_backup_is_the_file_before_the_run_not_before_its_last_edit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let original = foreign_kubeconfig(3);
    fs::write(&path, &original).unwrap();
    let mut session = Session::default();
    let first = session
        .edit(&path, |d| doc::upsert(d, &ours()[..1], OWNER))
        .unwrap();
    let second = session
        .edit(&path, |d| doc::upsert(d, &ours(), OWNER))
        .unwrap();
    assert!(first.written && second.written);
    assert!(first.backup.is_some() && second.backup.is_none());
    assert_eq!(
        fs::read_to_string(store::backup_path(&path)).unwrap(),
        original
    );
}

#[test]
fn a_symlinked_kubeconfig_stays_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("dotfiles-kubeconfig");
    fs::write(&real, foreign_kubeconfig(2)).unwrap();
    let link = dir.path().join("config");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    apply(&mut Session::default(), &link).unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let d = doc::parse(&fs::read_to_string(&real).unwrap()).unwrap();
    assert!(doc::context_view(&d, "dev-vcluster").is_some());
}

#[test]
fn a_missing_file_is_created_private_in_a_folder_made_as_kubectl_makes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("home/.kube/config");
    let edited = apply(&mut Session::default(), &path).unwrap();
    assert!(edited.written && edited.backup.is_none());
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755 & !umask()
    );
    let d = doc::parse(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(d["kind"], "Config");
    assert_eq!(doc::context_names(&d).len(), 3);
}

#[test]
fn a_conflict_changes_nothing_and_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let text = "apiVersion: v1\nkind: Config\nclusters:\n- name: dev-vcluster-cluster\n  cluster: {server: https://theirs}\n";
    fs::write(&path, text).unwrap();
    let err = apply(&mut Session::new(StoreOptions::default()), &path).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cluster `dev-vcluster-cluster` exists and was not written by bootstrap"),
        "{msg}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    assert!(!store::lock_path(&path).exists());
    assert!(!store::backup_path(&path).exists());
}

#[test]
fn a_file_that_is_not_utf8_is_refused_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let bytes = b"apiVersion: v1\nkind: Config\nx-latin1: caf\xe9\n".to_vec();
    fs::write(&path, &bytes).unwrap();
    let err = apply(&mut Session::default(), &path).unwrap_err();
    assert!(err.to_string().contains("not UTF-8"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

fn umask() -> u32 {
    // SAFETY: umask has no preconditions; it is set back at once.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m as u32
    }
}

/// kubectl keeps a kubeconfig's mode (client-go's `os.WriteFile` truncates in place): a 0644 or
/// 0640 file stays so, with its owner, and the backup is 0600 whatever the original's mode.
#[test]
fn a_rewrite_keeps_the_files_mode_and_owner_and_the_backup_is_private() {
    for mode in [0o644, 0o640, 0o600] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, foreign_kubeconfig(3)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&path, Some(1000), Some(1001)).unwrap();
        let edited = apply(&mut Session::default(), &path).unwrap();
        assert!(edited.written);
        let m = fs::metadata(&path).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, mode, "mode {mode:o}");
        assert_eq!((m.uid(), m.gid()), (1000, 1001), "owner kept");
        let b = fs::metadata(edited.backup.unwrap()).unwrap();
        assert_eq!(b.permissions().mode() & 0o777, 0o600);
        assert_eq!((b.uid(), b.gid()), (1000, 1001));
    }
}

/// A kubeconfig bind-mounted as a file (how devcontainers share the host's) cannot be replaced
/// by rename (EBUSY); it is written in place, as kubectl writes it, and the mount, its inode
/// and the host file's mode stay. Needs root for `mount --bind` (CI and this machine are root).
#[test]
fn a_bind_mounted_kubeconfig_is_written_in_place() {
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        eprintln!("SKIPPED: mount --bind needs root");
        return;
    }
    let host = tempfile::tempdir().unwrap();
    let host_file = host.path().join("config");
    fs::write(&host_file, foreign_kubeconfig(3)).unwrap();
    fs::set_permissions(&host_file, fs::Permissions::from_mode(0o644)).unwrap();
    let inside = tempfile::tempdir().unwrap();
    let path = inside.path().join("config");
    fs::write(&path, "").unwrap();
    let ok = std::process::Command::new("mount")
        .args(["--bind"])
        .arg(&host_file)
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount --bind");
    let ino = fs::metadata(&host_file).unwrap().ino();
    let result = apply(&mut Session::default(), &path);
    let listing: Vec<_> = fs::read_dir(inside.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let _ = std::process::Command::new("umount").arg(&path).status();
    let edited = result.expect("a bind-mounted file is written in place");
    assert!(edited.written);
    let written = doc::parse(&fs::read_to_string(&host_file).unwrap()).unwrap();
    assert!(doc::context_view(&written, "dev-vcluster").is_some());
    assert_eq!(doc::context_names(&written).len(), 6);
    let m = fs::metadata(&host_file).unwrap();
    assert_eq!((m.ino(), m.permissions().mode() & 0o777), (ino, 0o644));
    // Nothing of ours left inside but the backup (0600, beside the path named).
    assert!(
        listing
            .iter()
            .all(|n| n == "config" || n == "config.bootstrap.bak"),
        "{listing:?}"
    );
}

/// The backup lands beside the path the user named, not in the folder a symlink leads to (a
/// dotfiles repository, where it could be committed with every credential in it).
#[test]
fn the_backup_of_a_symlinked_kubeconfig_stays_out_of_the_folder_it_leads_to() {
    let dir = tempfile::tempdir().unwrap();
    let dotfiles = dir.path().join("dotfiles");
    fs::create_dir(&dotfiles).unwrap();
    let real = dotfiles.join("kubeconfig");
    fs::write(&real, foreign_kubeconfig(2)).unwrap();
    let kube = dir.path().join("kube");
    fs::create_dir(&kube).unwrap();
    let link = kube.join("config");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let edited = apply(&mut Session::default(), &link).unwrap();
    assert_eq!(
        edited.backup.as_deref(),
        Some(store::backup_path(&link).as_path())
    );
    assert!(store::backup_path(&link).exists());
    let in_dotfiles: Vec<_> = fs::read_dir(&dotfiles)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(in_dotfiles, vec![std::ffi::OsString::from("kubeconfig")]);
}

/// A run reads the file once to look and again under the lock to write; the second read takes
/// the first one's tree only when the bytes are the same. Another writer's change in between
/// (kubectl adding a context) is read, kept, and not overwritten by what we saw before.
#[test]
fn an_edit_starts_from_the_earlier_read_only_when_the_file_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    fs::write(&path, foreign_kubeconfig(5)).unwrap();
    let seen = std::sync::Arc::new(store::read_keeping_bytes(&path).unwrap().unwrap());

    let mut same = Session::default();
    same.know(&path, seen.clone());
    assert!(apply(&mut same, &path).unwrap().written);
    let with_known = fs::read(&path).unwrap();
    fs::write(&path, foreign_kubeconfig(5)).unwrap();
    assert!(apply(&mut Session::default(), &path).unwrap().written);
    assert_eq!(
        fs::read(&path).unwrap(),
        with_known,
        "the same result as parsing"
    );

    // Changed after we looked: the tree we saw is stale and must not be written back.
    fs::write(&path, foreign_kubeconfig(6)).unwrap();
    let mut stale = Session::default();
    stale.know(&path, seen);
    assert!(apply(&mut stale, &path).unwrap().written);
    let after = doc::parse(&fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        doc::context_names(&after).contains(&"ctx-5".to_owned()),
        "the other writer's context was lost"
    );
}
