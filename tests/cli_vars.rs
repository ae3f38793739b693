//! Every command honours the same BOOTSTRAP_* variables, with or without an environment file,
//! and flags win over them; a bad value is named by its variable. Through the binary.

mod support;

use bootstrap::core::kubeconfig::doc;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VARS: &[&str] = &[
    "BOOTSTRAP_FILE",
    "BOOTSTRAP_KUBECONFIG",
    "BOOTSTRAP_ACCESS",
    "BOOTSTRAP_API_PORT",
    "BOOTSTRAP_HTTPS_PORT",
    "BOOTSTRAP_CLUSTER_NAME",
    "BOOTSTRAP_NODE_IMAGE",
    "BOOTSTRAP_DOMAIN",
];

/// Run in `dir` (which holds no envs.yaml unless the case wrote one), with only `vars` set.
fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut c = Command::new(support::bin());
    c.current_dir(dir)
        .args(args)
        .env("HOME", dir)
        .env("KUBECONFIG", dir.join("default-kubeconfig"))
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-docker.sock", dir.display()),
        );
    for v in VARS {
        c.env_remove(v);
    }
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn all(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A kubeconfig with one context, `only-here`, whose server nothing serves.
fn kubeconfig(dir: &Path) -> PathBuf {
    let p = dir.join("elsewhere.kubeconfig");
    std::fs::write(
        &p,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:9\ncontexts:\n- name: only-here\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .unwrap();
    p
}

#[test]
fn verify_with_context_and_no_file_reads_bootstrap_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path());
    let args = ["verify", "--context", "only-here", "--timeout", "300ms"];
    let without = run(dir.path(), &args, &[]);
    assert!(
        without.status.code() != Some(0) && !all(&without).contains("127.0.0.1:9"),
        "without the variable the context is not there: {}",
        all(&without)
    );
    let with = run(
        dir.path(),
        &args,
        &[("BOOTSTRAP_KUBECONFIG", kc.to_str().unwrap())],
    );
    let text = all(&with);
    assert_eq!(with.status.code(), Some(1), "{text}");
    assert!(
        !text.contains("not found") && text.contains("127.0.0.1:9"),
        "the context was read from BOOTSTRAP_KUBECONFIG and dialled: {text}"
    );
}

/// A kubeconfig named by the variable that does not exist is said once, with its path and the
/// system's reason (kube's own error repeated the reason).
#[test]
fn a_missing_kubeconfig_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.yaml");
    let o = run(
        dir.path(),
        &["verify", "--context", "x", "--timeout", "300ms"],
        &[("BOOTSTRAP_KUBECONFIG", missing.to_str().unwrap())],
    );
    let text = all(&o);
    assert_ne!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "{}: cannot read this kubeconfig: No such file or directory",
            missing.display()
        )),
        "{text}"
    );
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "{text}"
    );
}

#[test]
fn kubeconfig_command_reads_bootstrap_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path());
    let o = run(
        dir.path(),
        &["kubeconfig", "only-here"],
        &[("BOOTSTRAP_KUBECONFIG", kc.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(all(&o).contains("https://127.0.0.1:9"), "{}", all(&o));
}

#[test]
fn down_writes_the_kubeconfig_bootstrap_kubeconfig_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("envs.yaml"),
        "cluster:\n  provider: existing\n  context: only-here\n  name: mine\n",
    )
    .unwrap();
    // An entry bootstrap wrote for this environment, in the file the variable names.
    let kc = dir.path().join("named.kubeconfig");
    let mut d = doc::parse("apiVersion: v1\nkind: Config\n").unwrap();
    let entry = bootstrap::core::kubeconfig::Entry {
        context: "ours".into(),
        cluster: "ours".into(),
        user: "ours".into(),
        creds: bootstrap::core::kubeconfig::doc::Credentials {
            server: "https://127.0.0.1:9".into(),
            ca_pem: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
            client_cert_pem: None,
            client_key_pem: None,
            token: Some("t".into()),
        },
        tls_server_name: None,
        insecure_skip_tls_verify: false,
        namespace: None,
    };
    doc::upsert(&mut d, &[entry], "env/mine").unwrap();
    std::fs::write(&kc, doc::to_yaml(&d).unwrap()).unwrap();
    let o = run(
        dir.path(),
        &["down"],
        &[("BOOTSTRAP_KUBECONFIG", kc.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let after = doc::parse(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    assert!(doc::context_view(&after, "ours").is_none(), "{}", all(&o));
    assert!(!dir.path().join("default-kubeconfig").exists());
}

#[test]
fn file_and_overrides_reach_every_command_that_reads_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("somewhere.yaml");
    std::fs::copy(support::repo().join("envs/minimal.yaml"), &file).unwrap();
    let vars = [
        ("BOOTSTRAP_FILE", file.to_str().unwrap()),
        ("BOOTSTRAP_CLUSTER_NAME", "fromvar"),
        ("BOOTSTRAP_API_PORT", "7443"),
        ("BOOTSTRAP_ACCESS", "devcontainer"),
    ];
    let cases: &[(&[&str], &[&str])] = &[
        (&["plan", "--offline"], &["kind/fromvar", "127.0.0.1:7443"]),
        (
            &["render", "kind-config"],
            &["name: fromvar", "apiServerPort: 7443"],
        ),
        (
            &["render", "contexts"],
            &["accessMode: devcontainer", "kind-fromvar"],
        ),
        (&["status", "-o", "json"], &["\"name\": \"fromvar\""]),
    ];
    for (args, expect) in cases {
        let o = run(dir.path(), args, &vars);
        let text = all(&o);
        for e in *expect {
            assert!(text.contains(e), "{args:?} lacks {e:?}: {text}");
        }
    }
    // A flag wins over its variable.
    let o = run(
        dir.path(),
        &["render", "contexts", "--access", "host"],
        &vars,
    );
    assert!(all(&o).contains("accessMode: host"), "{}", all(&o));
}

#[test]
fn a_bad_variable_is_named_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path());
    for args in [
        &["verify", "--context", "only-here"][..],
        &["kubeconfig", "only-here"],
        &["status"],
    ] {
        let o = run(
            dir.path(),
            args,
            &[
                ("BOOTSTRAP_ACCESS", "nowhere"),
                ("BOOTSTRAP_KUBECONFIG", kc.to_str().unwrap()),
            ],
        );
        let text = all(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {text}");
        assert!(
            text.contains("BOOTSTRAP_ACCESS: access.mode: `nowhere` is not a valid value"),
            "{args:?}: {text}"
        );
    }
}

/// `kubeconfig.path: ~/.kube/config`, the example in docs/reference.md, is the home folder's file
/// (it was `./~/.kube/config` under the current folder, which kubectl never reads); a relative
/// `kubeconfig.path` is relative to the envs.yaml's own folder, wherever the user stands; and
/// `--kubeconfig ~/...` is expanded too. Shown by `down` removing our entries from the file
/// meant, and by nothing appearing where the user stands.
#[test]
fn kubeconfig_path_is_expanded_and_relative_to_the_environment_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let envs = dir.path().join("repo/envs");
    let stand = dir.path().join("elsewhere");
    for d in [&home.join(".kube"), &envs.join("kube"), &stand] {
        std::fs::create_dir_all(d).unwrap();
    }
    let ours = |path: &Path, owner: &str| {
        let e = bootstrap::core::kubeconfig::Entry {
            context: "ctx".into(),
            cluster: "ctx".into(),
            user: "ctx".into(),
            creds: bootstrap::core::kubeconfig::doc::Credentials {
                server: "https://127.0.0.1:6443".into(),
                ca_pem: b"CA".to_vec(),
                token: Some("t".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        bootstrap::drivers::kubeconfig::Session::default()
            .edit(path, |d| doc::upsert(d, std::slice::from_ref(&e), owner))
            .unwrap();
    };
    let contexts = |path: &Path| {
        doc::context_names(&doc::parse(&std::fs::read_to_string(path).unwrap()).unwrap())
    };
    for (name, setting, file) in [
        ("tilde", "~/.kube/config", home.join(".kube/config")),
        ("home", "$HOME/.kube/config", home.join(".kube/config")),
        ("relative", "kube/config", envs.join("kube/config")),
    ] {
        ours(&file, &format!("env/{name}"));
        let f = envs.join(format!("{name}.yaml"));
        std::fs::write(
            &f,
            format!("cluster: {{name: {name}, provider: existing, context: nope}}\nkubeconfig: {{path: '{setting}'}}\n"),
        )
        .unwrap();
        let o = Command::new(support::bin())
            .current_dir(&stand)
            .arg("-f")
            .arg(Path::new("../repo/envs").join(format!("{name}.yaml")))
            .arg("down")
            .env("HOME", &home)
            .env_remove("KUBECONFIG")
            .env_remove("BOOTSTRAP_KUBECONFIG")
            .output()
            .unwrap();
        let text = all(&o);
        assert_eq!(o.status.code(), Some(0), "{name}: {text}");
        assert!(
            contexts(&file).is_empty(),
            "{name}: our entries still in {}: {text}",
            file.display()
        );
        let left: Vec<_> = std::fs::read_dir(&stand)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.is_empty(),
            "{name}: made where the user stands: {left:?}"
        );
    }
    // The flag: `--kubeconfig '~/.kube/config'` (quoted, so no shell expanded it).
    ours(&home.join(".kube/config"), "env/flag");
    std::fs::write(
        envs.join("flag.yaml"),
        "cluster: {name: flag, provider: existing, context: nope}\n",
    )
    .unwrap();
    let o = Command::new(support::bin())
        .current_dir(&stand)
        .arg("-f")
        .arg(envs.join("flag.yaml"))
        .args(["--kubeconfig", "~/.kube/config", "down"])
        .env("HOME", &home)
        .env_remove("KUBECONFIG")
        .env_remove("BOOTSTRAP_KUBECONFIG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(
        contexts(&home.join(".kube/config")).is_empty(),
        "{}",
        all(&o)
    );
}

/// A hand-written context without `cluster:` fails only when it is the one asked for: kubectl
/// reads the file and shows the other context (its second opinion here); our verify of the
/// other context reaches its network layers, and of the broken one names what is missing.
#[test]
fn an_incomplete_context_fails_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("config");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:9'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: good\n  context: {cluster: c, user: u}\n- name: hand-written\n  context: {user: u}\n",
    )
    .unwrap();
    let kc_s = kc.to_str().unwrap();
    if let Some(kubectl) = which::which("kubectl").ok().or_else(|| {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is required in CI"
        );
        eprintln!("skipping kubectl's opinion: kubectl is not on PATH");
        None
    }) {
        let o = Command::new(kubectl)
            .args([
                "--kubeconfig",
                kc_s,
                "config",
                "view",
                "--minify",
                "--context",
                "good",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "kubectl: {}", all(&o));
    }
    let o = run(
        dir.path(),
        &[
            "verify",
            "--kubeconfig",
            kc_s,
            "--context",
            "good",
            "--context",
            "hand-written",
            "-o",
            "json",
            "--timeout",
            "300ms",
        ],
        &[],
    );
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", all(&o)));
    assert_eq!(v["contexts"][0]["name"], "good");
    assert_eq!(v["contexts"][0]["failed_layer"], "tcp", "{}", all(&o));
    assert_eq!(v["contexts"][1]["failed_layer"], "config", "{}", all(&o));
    assert!(
        v["contexts"][1]["diagnosis"]
            .as_str()
            .unwrap()
            .contains("names no cluster"),
        "{}",
        all(&o)
    );
}
