//! Real kubectl reads what we wrote and reaches real-TLS endpoints (testkit's apiserver double)
//! whose certificates hold only the names the access table relies on.

#[path = "kubeconfig_support/mod.rs"]
mod support;

use bootstrap::core::kubeconfig::{doc, Entry};
use bootstrap::drivers::kubeconfig::Session;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::{foreign_kubeconfig, kubectl, kubectl_cmd, wait_timeout};
use testkit::{ApiServer, Auth, Pki};

const OWNER: &str = "localdev";
const VC_HOST: &str = "dev-vcluster.cnoe.localtest.me";

/// Run with a time limit, draining both pipes while it runs (kubectl's JSON of a large file
/// outgrows a pipe buffer).
fn run(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).unwrap();
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = wait_timeout(&mut child, Duration::from_secs(60));
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn get_version(kubectl: &Path, kubeconfig: &Path, context: &str) -> Output {
    let mut c = kubectl_cmd(kubectl, kubeconfig);
    c.args([
        "--context",
        context,
        "--request-timeout=10s",
        "get",
        "--raw",
        "/version",
    ]);
    run(c)
}

struct World {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    kind_api: ApiServer,
    vcluster: ApiServer,
    entries: Vec<Entry>,
}

/// The devcontainer-to-kind-API pattern (cert for `localhost` only, dialed by IP, client
/// certificate) and the passthrough vcluster pattern (cert for the hostname only, dialed by IP,
/// bearer token), written by us into a kubeconfig that already holds foreign contexts.
fn world() -> World {
    let kind_pki = Pki::new("kind-ca");
    let admin = kind_pki.client("kubernetes-admin", "system:masters");
    let kind_api = ApiServer::start(
        "127.0.0.1:0",
        &kind_pki.server(&["localhost"]),
        Auth {
            client_ca_pem: Some(kind_pki.ca_pem.clone()),
            ..Default::default()
        },
    );
    let vc_pki = Pki::new("vcluster-ca");
    let vcluster = ApiServer::start(
        "127.0.0.1:0",
        &vc_pki.server(&[VC_HOST]),
        Auth {
            token: Some("vc-token".into()),
            ..Default::default()
        },
    );
    let entries = vec![
        Entry {
            context: "kind-localdev".into(),
            cluster: "kind-localdev".into(),
            user: "kind-localdev".into(),
            creds: bootstrap::core::kubeconfig::doc::Credentials {
                server: format!("https://127.0.0.1:{}", kind_api.port()),
                ca_pem: kind_pki.ca_pem.clone().into_bytes(),
                client_cert_pem: Some(admin.cert_pem.into_bytes()),
                client_key_pem: Some(admin.key_pem.into_bytes()),
                ..Default::default()
            },
            tls_server_name: Some("localhost".into()),
            ..Default::default()
        },
        Entry {
            context: "dev-vcluster".into(),
            cluster: "dev-vcluster".into(),
            user: "dev-vcluster".into(),
            creds: bootstrap::core::kubeconfig::doc::Credentials {
                server: format!("https://127.0.0.1:{}", vcluster.port()),
                ca_pem: vc_pki.ca_pem.clone().into_bytes(),
                token: Some("vc-token".into()),
                ..Default::default()
            },
            tls_server_name: Some(VC_HOST.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    fs::write(&path, foreign_kubeconfig(5)).unwrap();
    World {
        _dir: dir,
        path,
        kind_api,
        vcluster,
        entries,
    }
}

fn write(w: &World, entries: &[Entry], current: Option<&str>) {
    Session::default()
        .edit(&w.path, |d| {
            let mut ch = doc::upsert(d, entries, OWNER)?;
            if let Some(c) = current {
                ch.extend(doc::set_current(d, c, OWNER)?);
            }
            Ok(ch)
        })
        .unwrap();
}

#[test]
fn kubectl_reaches_every_context_we_wrote_through_tls_server_name() {
    let Some(kubectl) = kubectl() else { return };
    let w = world();
    write(&w, &w.entries, Some("dev-vcluster"));

    let mut c = kubectl_cmd(&kubectl, &w.path);
    c.args(["config", "get-contexts", "-o", "name"]);
    let out = run(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    for name in ["kind-localdev", "dev-vcluster", "ctx-0", "ctx-4"] {
        assert!(
            listed.lines().any(|l| l == name),
            "kubectl does not list {name}: {listed}"
        );
    }

    for (ctx, server) in [
        ("kind-localdev", &w.kind_api),
        ("dev-vcluster", &w.vcluster),
    ] {
        let before = server.hits.load(std::sync::atomic::Ordering::Relaxed);
        let out = get_version(&kubectl, &w.path, ctx);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{ctx}: {stderr}");
        assert!(stdout.contains("v1.35.0-testkit"), "{ctx}: {stdout}");
        assert!(
            server.hits.load(std::sync::atomic::Ordering::Relaxed) > before,
            "{ctx} did not reach its server"
        );
    }
}

#[test]
fn without_tls_server_name_kubectl_rejects_the_certificate() {
    let Some(kubectl) = kubectl() else { return };
    let w = world();
    let bare: Vec<Entry> = w
        .entries
        .iter()
        .map(|e| Entry {
            tls_server_name: None,
            ..e.clone()
        })
        .collect();
    write(&w, &bare, None);
    for ctx in ["kind-localdev", "dev-vcluster"] {
        let out = get_version(&kubectl, &w.path, ctx);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{ctx} worked without tls-server-name?"
        );
        assert!(
            stderr.contains("x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"),
            "{ctx}: {stderr}"
        );
    }
}

#[test]
fn the_clusters_own_ca_is_what_kubectl_checks_against() {
    let Some(kubectl) = kubectl() else { return };
    let w = world();
    let mut wrong = w.entries[1].clone();
    wrong.creds.ca_pem = Pki::new("some-other-ca").ca_pem.into_bytes();
    write(&w, &[wrong], None);
    let out = get_version(&kubectl, &w.path, "dev-vcluster");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("x509") && stderr.contains("unknown authority"),
        "{stderr}"
    );
}

#[test]
fn printed_standalone_kubeconfig_works_alone_and_never_hangs() {
    let Some(kubectl) = kubectl() else { return };
    let w = world();
    write(&w, &w.entries, None);
    let mut c = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    c.args(["kubeconfig", "dev-vcluster", "--print", "--kubeconfig"])
        .arg(&w.path)
        .stdin(Stdio::null());
    let out = run(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = w.path.with_file_name("dev.kubeconfig");
    fs::write(&printed, &out.stdout).unwrap();
    let d = doc::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(doc::context_names(&d), vec!["dev-vcluster"]);
    assert_eq!(
        doc::context_view(&d, "dev-vcluster").unwrap().owner,
        None,
        "a printed copy is not ours to remove"
    );

    // kubectl uses it on its own, through its current-context.
    let mut c = kubectl_cmd(&kubectl, &printed);
    c.args(["--request-timeout=10s", "get", "--raw", "/version"]);
    let out = run(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("v1.35.0-testkit"));

    let mut c = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    c.args(["kubeconfig", "dev-vclsuter", "--print", "--kubeconfig"])
        .arg(&w.path)
        .stdin(Stdio::null());
    let out = run(c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`dev-vclsuter` is not in the kubeconfig")
            && stderr
                .contains("it has: ctx-0, ctx-1, ctx-2, ctx-3, ctx-4, kind-localdev, dev-vcluster"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `dev-vcluster`"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// kubectl rewrites the whole file with its own model; our marks must survive that, so `down`
/// still finds exactly our entries afterwards and gives the user their context back.
#[test]
fn our_marks_survive_a_kubectl_rewrite_and_down_restores_the_users_context() {
    let Some(kubectl) = kubectl() else { return };
    let w = world();
    write(&w, &w.entries, Some("kind-localdev"));
    let mut c = kubectl_cmd(&kubectl, &w.path);
    c.args([
        "config",
        "set-context",
        "made-by-kubectl",
        "--cluster=cluster-1",
        "--user=user-1",
    ]);
    assert!(run(c).status.success());

    let edited = Session::default()
        .edit(&w.path, |d| doc::remove_owned(d, OWNER))
        .unwrap();
    assert_eq!(edited.changes.0.len(), 7, "{}", edited.changes);
    let d = doc::parse(&fs::read_to_string(&w.path).unwrap()).unwrap();
    let names = doc::context_names(&d);
    assert!(
        !names
            .iter()
            .any(|n| n == "kind-localdev" || n == "dev-vcluster"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "made-by-kubectl"));
    assert_eq!(names.len(), 6);
    assert_eq!(d["current-context"], "ctx-0", "the user's context is back");

    let mut c = kubectl_cmd(&kubectl, &w.path);
    c.args(["config", "current-context"]);
    assert_eq!(String::from_utf8_lossy(&run(c).stdout).trim(), "ctx-0");
}

/// kubectl's own reading of a 1,000-context file before and after our merge: apart from our
/// entries (and current-context, which we were asked to switch), it sees exactly the same.
#[test]
fn kubectl_sees_the_thousand_foreign_contexts_unchanged_after_our_merge() {
    let Some(kubectl) = kubectl() else { return };
    let w = world();
    fs::write(&w.path, foreign_kubeconfig(1000)).unwrap();
    let view = |path: &Path| -> serde_json::Value {
        let mut c = kubectl_cmd(&kubectl, path);
        c.args(["config", "view", "--raw", "-o", "json"]);
        let out = run(c);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let before = view(&w.path);
    write(&w, &w.entries, Some("dev-vcluster"));
    let mut after = view(&w.path);
    assert_eq!(after["current-context"], "dev-vcluster");
    let ours = ["kind-localdev", "dev-vcluster"];
    for list in ["clusters", "users", "contexts"] {
        let items = after[list].as_array_mut().unwrap();
        let n = items.len();
        items.retain(|i| !ours.contains(&i["name"].as_str().unwrap_or_default()));
        assert_eq!(n - items.len(), 2, "kubectl sees our two {list}");
    }
    after["current-context"] = before["current-context"].clone();
    assert_eq!(before["contexts"].as_array().unwrap().len(), 1000);
    assert_eq!(after, before);
}

/// Nesting as deep as kubectl reads: go-yaml (kubectl's reader) takes 10,000 levels and refuses
/// one more. Ours, through the binary, reads and rewrites the first (no stack overflow: the
/// commands run on a large stack) and refuses the second in words, never with a crash.
#[test]
fn a_kubeconfig_nested_as_deep_as_kubectl_reads_is_read_and_one_deeper_is_refused() {
    let Some(kubectl) = kubectl() else { return };
    let dir = tempfile::tempdir().unwrap();
    let deep = |levels: usize| {
        let p = dir.path().join(format!("deep-{levels}"));
        fs::write(
            &p,
            format!(
                "apiVersion: v1\nkind: Config\npreferences: {{x: {}{}}}\nclusters:\n- name: c\n  cluster: {{server: 'https://127.0.0.1:9'}}\ncontexts:\n- name: ctx\n  context: {{cluster: c}}\n",
                "[".repeat(levels),
                "]".repeat(levels)
            ),
        )
        .unwrap();
        p
    };
    let bootstrap = |kc: &Path, args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
        c.arg("--kubeconfig")
            .arg(kc)
            .args(args)
            .env_remove("KUBECONFIG");
        run(c)
    };
    let text = |o: &Output| {
        format!(
            "{:?}\n{}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let ok = deep(9_998);
    let o = run({
        let mut c = kubectl_cmd(&kubectl, &ok);
        c.args(["config", "get-contexts", "-o", "name"]);
        c
    });
    assert!(o.status.success(), "kubectl reads it: {}", text(&o));
    let o = bootstrap(&ok, &["kubeconfig", "ctx"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Under the lock too: `down` of an environment with no entry here reads it and writes nothing.
    let envs = dir.path().join("envs.yaml");
    fs::write(
        &envs,
        "cluster: {name: deep, provider: existing, context: nope}\n",
    )
    .unwrap();
    let o = run({
        let mut c = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
        c.arg("-f")
            .arg(&envs)
            .arg("--kubeconfig")
            .arg(&ok)
            .arg("down")
            .env_remove("KUBECONFIG");
        c
    });
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = bootstrap(
        &ok,
        &[
            "verify",
            "--context",
            "ctx",
            "--timeout",
            "300ms",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "the server is refused, the file read: {}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"failed_layer\": \"tcp\""),
        "{}",
        text(&o)
    );

    let refused = deep(9_999);
    let o = run({
        let mut c = kubectl_cmd(&kubectl, &refused);
        c.args(["config", "get-contexts", "-o", "name"]);
        c
    });
    assert!(!o.status.success(), "kubectl refuses it too: {}", text(&o));
    let o = bootstrap(&refused, &["kubeconfig", "ctx"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("nested deeper than 10,000 levels"),
        "{}",
        text(&o)
    );
}
