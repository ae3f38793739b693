//! Output as a script or a shell user meets it, through the binary: a closed pipe ends quietly
//! with the command's usual status, a full disk is an error and exit 1, never a panic, on every
//! command; `-o json` prints exactly one JSON document on every path, failures included.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A directory with an environment file, a kubeconfig holding one context whose server nothing
/// serves, and a file for `down` that needs neither Docker nor a cluster.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            support::repo().join("envs/localdev.yaml"),
            dir.path().join("envs.yaml"),
        )
        .unwrap();
        let closed = support::free_port();
        std::fs::write(
            dir.path().join("kubeconfig"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{closed}\ncontexts:\n- name: nowhere\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("existing.yaml"),
            "cluster:\n  provider: existing\n  context: not-in-the-kubeconfig\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "clustr: {}\n").unwrap();
        Fixture { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(support::bin());
        c.current_dir(self.dir.path())
            .arg("--kubeconfig")
            .arg(self.path("kubeconfig"))
            .args(args)
            .env("HOME", self.dir.path())
            // No Docker here: `status` reports it unreachable (exit 1) without waiting.
            .env(
                "DOCKER_HOST",
                format!("unix://{}/no-docker.sock", self.dir.path().display()),
            );
        for v in [
            "BOOTSTRAP_FILE",
            "BOOTSTRAP_KUBECONFIG",
            "BOOTSTRAP_ACCESS",
            "BOOTSTRAP_API_PORT",
            "BOOTSTRAP_CLUSTER_NAME",
            "KUBECONFIG",
        ] {
            c.env_remove(v);
        }
        c
    }
}

/// Every command, on paths that need no Docker engine; each prints something on stdout.
const COMMANDS: &[&[&str]] = &[
    &["plan", "--offline"],
    &["plan", "--offline", "-o", "json"],
    &["render", "kind-config"],
    &["render", "contexts", "-o", "json"],
    &["render", "routes"],
    &["kubeconfig", "nowhere"],
    &["kubeconfig", "nowhere", "--print"],
    &["verify", "--context", "nowhere", "--timeout", "300ms"],
    &["status", "-o", "json"],
    &["-f", "existing.yaml", "down"],
    &["-f", "bad.yaml", "up", "-o", "json"],
    &["up", "-o", "json", "--no-such-flag"],
];

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn no_panic(o: &Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("failed printing"),
        "{what}: {}",
        show(o)
    );
}

#[test]
fn a_closed_pipe_ends_quietly_with_the_usual_status() {
    let f = Fixture::new();
    for args in COMMANDS {
        let normal = f.cmd(args).output().unwrap();
        assert!(
            !normal.stdout.is_empty(),
            "{args:?} prints: {}",
            show(&normal)
        );
        // The read end is closed before the command starts: its first write meets EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let closed = f.cmd(args).stdout(writer).output().unwrap();
        no_panic(&closed, &format!("{args:?} into a closed pipe"));
        assert_eq!(
            code(&closed),
            code(&normal),
            "{args:?}: the same status as when read: {}",
            show(&closed)
        );
        assert!(
            !String::from_utf8_lossy(&closed.stderr).contains("cannot write"),
            "{args:?}: a reader that is done is not an error: {}",
            show(&closed)
        );
    }
}

#[test]
fn a_full_disk_is_an_error_and_exit_1() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this system");
        assert!(std::env::var_os("CI").is_none(), "CI runs on Linux");
        return;
    }
    let f = Fixture::new();
    for args in COMMANDS {
        let normal = f.cmd(args).output().unwrap();
        let full = f
            .cmd(args)
            .stdout(
                std::fs::File::options()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            )
            .output()
            .unwrap();
        no_panic(&full, &format!("{args:?} into /dev/full"));
        let expected = if code(&normal) == 0 { 1 } else { code(&normal) };
        assert_eq!(code(&full), expected, "{args:?}: {}", show(&full));
        assert!(
            String::from_utf8_lossy(&full.stderr)
                .contains("error: cannot write the output to stdout: No space left on device"),
            "{args:?}: {}",
            show(&full)
        );
    }
}

#[test]
fn a_closed_stderr_is_no_panic_either() {
    let f = Fixture::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = f
        .cmd(&["-f", "bad.yaml", "plan", "--offline"])
        .stderr(writer)
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", show(&o));
}

/// The shell pipeline from the issue, as a user types it (whether `head` is gone before the
/// write is a race, which the closed-pipe test above takes out; this is the user's view).
#[test]
fn plan_into_head_c1() {
    let f = Fixture::new();
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; for i in $(seq 10); do for o in json table; do {} plan --offline -o $o -f {} | head -c1 >/dev/null || exit 9; done; done",
            support::bin().display(),
            f.path("envs.yaml").display()
        ))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", show(&o));
    no_panic(&o, "plan | head -c1");
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("one JSON document on stdout ({e}): {}", show(o)))
}

/// `-o json` on the paths that need no Docker: success and failure alike are one document.
#[test]
fn json_on_every_path() {
    let f = Fixture::new();
    let run = |args: &[&str]| f.cmd(args).output().unwrap();

    let o = run(&["plan", "--offline", "-o", "json"]);
    assert_eq!(code(&o), 0);
    assert!(json(&o)["actions"].as_array().unwrap().len() > 3);

    let o = run(&["-f", "bad.yaml", "plan", "-o", "json"]);
    assert_eq!(code(&o), 2);
    let d = json(&o);
    assert_eq!(
        (d["ok"].clone(), d["exitCode"].clone()),
        (false.into(), 2.into())
    );
    assert_eq!(d["diagnostics"][0]["field"], "clustr");

    for args in [
        &["-f", "missing.yaml", "up", "-o", "json"][..],
        &["-f", "missing.yaml", "down", "-o", "json"],
        &["render", "vcluster", "nope", "-o", "json"],
        &["up", "-o", "json", "--no-such-flag"],
        &["-o", "json", "bogus-command"],
    ] {
        let o = run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", show(&o));
        let d = json(&o);
        assert_eq!(d["ok"], false, "{args:?}");
        assert_eq!(d["exitCode"], 2, "{args:?}");
        assert_eq!(d["error"]["kind"], "invalid", "{args:?}");
        assert!(!d["error"]["message"].as_str().unwrap().is_empty());
    }

    // init: the file it wrote; a second init into the same file is refused, as JSON too.
    let o = run(&["-f", "starter.yaml", "init", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    let d = json(&o);
    assert_eq!(
        (d["ok"].clone(), d["file"].clone()),
        (true.into(), "starter.yaml".into())
    );
    assert!(f.path("starter.yaml").exists());
    let o = run(&["-f", "starter.yaml", "init", "-o", "json"]);
    assert_eq!(code(&o), 2, "{}", show(&o));
    let d = json(&o);
    assert_eq!(d["ok"], false);
    assert!(d["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already exists; nothing was written"));

    let o = run(&["kubeconfig", "nowher", "-o", "json"]);
    assert_eq!(code(&o), 1);
    let d = json(&o);
    assert_eq!(
        (d["exitCode"].clone(), d["error"]["kind"].clone()),
        (1.into(), "failed".into())
    );
    assert!(d["error"]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `nowhere`?"));

    let o = run(&["kubeconfig", "nowhere", "-o", "json"]);
    assert_eq!(code(&o), 0);
    assert_eq!(json(&o)["context"], "nowhere");

    let o = run(&[
        "verify",
        "--context",
        "nowhere",
        "--timeout",
        "300ms",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        json(&o)["ok"],
        false,
        "verify's own report, not a second document"
    );

    let o = run(&["status", "-o", "json"]);
    assert_eq!(code(&o), 1, "Docker is unreachable here");
    assert_eq!(json(&o)["docker"]["reachable"], false);

    let o = run(&["-f", "existing.yaml", "down", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(json(&o)["ok"], true);

    let o = run(&["render", "kind-config", "-o", "json"]);
    assert_eq!(json(&o)["kind"], "Cluster");

    // A Docker daemon that is not there: `up` fails with an error document.
    let o = run(&["up", "-o", "json"]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let d = json(&o);
    assert_eq!(d["error"]["kind"], "failed");
    assert!(
        d["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-docker.sock"),
        "{}",
        show(&o)
    );

    // Help and version are not errors; under -o json they too are one document.
    let o = run(&["up", "--help", "-o", "json"]);
    assert_eq!(code(&o), 0);
    let help = json(&o);
    assert_eq!(help["ok"], true);
    assert!(
        help["help"]
            .as_str()
            .unwrap()
            .contains("Usage: bootstrap up"),
        "{}",
        show(&o)
    );
    let o = run(&["-o", "json", "--version"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        json(&o)["version"],
        env!("CARGO_PKG_VERSION"),
        "{}",
        show(&o)
    );
}

/// The success paths that need a cluster: `up --no-verify -o json` (which printed nothing),
/// `up`, `plan`, `status` and `down`, each one JSON document, with the kind and node doubles.
#[test]
fn json_through_a_whole_lifecycle() {
    use support::*;
    if !docker_or_skip("json_through_a_whole_lifecycle") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::new(&unique("js"));
    let _clean = Cleanup(vec![spec.name.clone()]);
    let file = spec.write(dir.path());
    let f = file.to_str().unwrap();
    let kc = dir.path().join("kubeconfig");
    let kc = kc.to_str().unwrap();
    let env = [("KUBECONFIG", kc)];
    let doc = |r: &Run| -> serde_json::Value {
        serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("one JSON document ({e}): {}", r.text()))
    };

    let r = bootstrap(&["-f", f, "up", "--no-verify", "-o", "json"], &env);
    assert_eq!(r.code, 0, "{}", r.text());
    let d = doc(&r);
    assert_eq!(d["ok"], true);
    assert!(d["verify"].is_null());
    assert!(d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().contains("created")));

    let r = bootstrap(&["-f", f, "up", "-o", "json"], &env);
    assert_eq!(r.code, 0, "{}", r.text());
    let d = doc(&r);
    assert_eq!(
        (d["ok"].clone(), d["verify"]["ok"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(d["changes"], serde_json::json!([]));

    let r = bootstrap(&["-f", f, "plan", "-o", "json"], &env);
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(doc(&r)["changes"], 0);

    let r = bootstrap(&["-f", f, "status", "-o", "json"], &env);
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(doc(&r)["cluster"]["state"], "converged");

    let r = bootstrap(&["-f", f, "verify", "-o", "json"], &env);
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(doc(&r)["ok"], true);

    let r = bootstrap(&["-f", f, "down", "-o", "json"], &env);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(!doc(&r)["removed"].as_array().unwrap().is_empty());
}
