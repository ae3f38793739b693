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
        assert_eq!(v.server.as_deref(), Some(e.server.as_str()));
    }
    assert_eq!(after["current-context"], "dev-vcluster");

    // Everything but our additions is exactly as it was: take ours out again and compare trees.
    let mut stripped = after.clone();
    doc::remove_owned(&mut stripped, OWNER).unwrap();
    assert_eq!(stripped, before, "foreign content changed");

    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
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
fn a_missing_file_and_folder_are_created_private() {
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
        0o700
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
