//! The devcontainer journey as the Dev Containers CLI (npm `@devcontainers/cli`, the reference
//! implementation VS Code and Codespaces use) runs it: `devcontainer up` on a workspace holding
//! the shipped devcontainer/devcontainer.json, `devcontainer exec` for what the user types.
//!
//! What cannot be had here is stood in for, and each stand-in is named in the derived file:
//! - the image `mcr.microsoft.com/devcontainers/rust:1-bookworm`: base-image.sh imports a small
//!   Debian-12 userland (busybox, curl, the user `vscode` named in the image's metadata label);
//!   the host's /usr (bash, python3, glibc) is mounted at run time for the doubles;
//! - the remote Features (ghcr.io): local Features under `.devcontainer/` with the same ids, that
//!   install the Docker CLI and mount the engine's socket, the kind double, kubectl and the helm
//!   double (the real Helm engine), whose chart repositories map to a local chart server;
//! - the bootstrap Feature is this repository's own (devcontainer/features/bootstrap), copied as
//!   it is, and installs the static musl binary from a local mirror (an HTTP server here that the
//!   image build reaches on Docker's bridge gateway) through its `mirror` option.
#![allow(dead_code)]

use crate::support::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Every container `devcontainer up` starts here carries it (`--id-label`), with the run's name.
pub const LABEL: &str = "io.bootstrap-test.devcontainer-cli";
/// The musl target the Feature's release binaries are built for.
pub const MUSL: &str = "x86_64-unknown-linux-musl";

/// The Dev Containers CLI: `$DEVCONTAINER_CLI`, `devcontainer` on PATH, or where scripts/test.sh
/// installs it. Missing: a failure under CI, a loud skip elsewhere.
pub fn cli_or_skip(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("DEVCONTAINER_CLI")
        .map(PathBuf::from)
        .or_else(|| which::which("devcontainer").ok())
        .or_else(|| {
            let p = PathBuf::from("/opt/devcontainers-cli/node_modules/.bin/devcontainer");
            p.exists().then_some(p)
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: the Dev Containers CLI is required under CI: scripts/test.sh installs @devcontainers/cli into /opt/devcontainers-cli"
        );
        eprintln!("SKIPPED {test}: no Dev Containers CLI (`npm install --prefix /opt/devcontainers-cli @devcontainers/cli`, or set DEVCONTAINER_CLI)");
    }
    found
}

/// The static musl build the Feature installs, built as scripts/test.sh builds it before the
/// tests (same target, profile, --locked and C compiler, so this is a no-op after it); on a plain
/// `cargo test` it is built here, minutes on 2 cores the first time.
/// `BOOTSTRAP_TEST_MUSL_BIN=<path>` takes a binary already built instead.
pub fn musl_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BOOTSTRAP_TEST_MUSL_BIN") {
        return PathBuf::from(p);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo()).args([
        "build",
        "--quiet",
        "--release",
        "--locked",
        "--target",
        MUSL,
    ]);
    if which::which("musl-gcc").is_ok() {
        cmd.env("CC_x86_64_unknown_linux_musl", "musl-gcc");
    }
    let out = run_bounded(cmd, Duration::from_secs(1800));
    assert!(
        out.status.success(),
        "cargo build --release --target {MUSL}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = repo().join(format!("target/{MUSL}/release/bootstrap"));
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Held while a run uses what the shipped envs/localdev.yaml fixes for the whole machine (host
/// port 8443) and what the CLI names the same in every run (its `dev_container_feature_content_temp`
/// image): one run at a time on this engine, whichever checkout it comes from.
pub struct MachineLock(std::fs::File);

impl MachineLock {
    pub fn take() -> MachineLock {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/tmp/bootstrap-test-devcontainer-cli.lock")
            .unwrap();
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a descriptor we own; released when the file is closed.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(r, 0, "flock: {}", std::io::Error::last_os_error());
        MachineLock(f)
    }
}

/// A small HTTP/1.1 server of fixed files (GET only), bound where the image build reaches the
/// host: the release mirror the bootstrap Feature downloads from.
pub struct Mirror {
    pub url: String,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    hits: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Mirror {
    pub fn serve(host: &str, files: HashMap<String, Vec<u8>>) -> Mirror {
        let listener = TcpListener::bind((host, 0)).expect("bind the mirror");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, hits2) = (stop.clone(), hits.clone());
        let files = Arc::new(files);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let (files, hits) = (files.clone(), hits2.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let mut header = String::new();
                    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                        header.clear();
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    hits.lock().unwrap().push(path.clone());
                    let (status, body): (&str, &[u8]) = match files.get(&path) {
                        Some(b) => ("200 OK", b),
                        None => ("404 Not Found", b"not found\n"),
                    };
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(body);
                });
            }
        });
        Mirror {
            url: format!("http://{addr}"),
            stop,
            addr,
            hits,
        }
    }

    /// The paths asked for, in order.
    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

/// JSON with comments (devcontainer.json's format, jsonc) as a value: `//` and `/* */` comments
/// outside strings and trailing commas are dropped, as the CLI's jsonc-parser accepts them.
pub fn parse_jsonc(text: &str) -> serde_json::Value {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            out.push(c);
            if c == b'\\' && i + 1 < b.len() {
                out.push(b[i + 1]);
                i += 2;
                continue;
            }
            if c == b'"' {
                in_str = false;
            }
            i += 1;
        } else if c == b'"' {
            in_str = true;
            out.push(c);
            i += 1;
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if c == b',' {
            // A trailing comma: the next significant byte closes the object or array.
            let rest = &b[i + 1..];
            let next = rest.iter().position(|x| !x.is_ascii_whitespace());
            if !matches!(next.map(|n| rest[n]), Some(b'}') | Some(b']')) {
                out.push(c);
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    let clean = String::from_utf8(out).unwrap();
    serde_json::from_str(&clean).unwrap_or_else(|e| panic!("not JSON with comments: {e}\n{clean}"))
}

/// Copies a folder (files and subfolders; modes kept).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst)
                .unwrap_or_else(|err| panic!("copy {} to {}: {err}", p.display(), dst.display()));
        }
    }
}

/// Removes from a Feature's devcontainer-feature.json the `installsAfter` entries that name
/// remote Features (the CLI resolves each from its registry, even as a soft dependency); returns
/// what was removed.
pub fn strip_remote_installs_after(json: &Path) -> Vec<String> {
    let mut v = parse_jsonc(&std::fs::read_to_string(json).unwrap());
    let Some(list) = v.get_mut("installsAfter").and_then(|l| l.as_array_mut()) else {
        return Vec::new();
    };
    let (local, remote): (Vec<_>, Vec<_>) = list
        .drain(..)
        .partition(|x| x.as_str().is_some_and(|s| s.starts_with('.')));
    *list = local;
    if remote.is_empty() {
        return Vec::new();
    }
    std::fs::write(json, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    remote
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_owned())
        .collect()
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A local Feature under `.devcontainer/<id>`: its devcontainer-feature.json and install.sh,
/// plus the files it installs.
fn feature(dir: &Path, id: &str, json: serde_json::Value, install: &str, files: &[(&str, &Path)]) {
    let d = dir.join(id);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("devcontainer-feature.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
    write_exec(&d.join("install.sh"), install);
    for (name, src) in files {
        std::fs::copy(src, d.join(name))
            .unwrap_or_else(|e| panic!("copy {} into the Feature {id}: {e}", src.display()));
    }
}

/// What the stand-ins need from this machine.
pub struct StandIns {
    /// The static Docker CLI the docker-outside-of-docker stand-in installs.
    pub docker_cli: PathBuf,
    /// The group id of the engine's socket (the remote user joins a group of that id).
    pub socket_gid: u32,
    pub kubectl: PathBuf,
    /// The interpreter that has the real Helm engine (PyPI helm-python-sdk), mounted at run time.
    pub python: PathBuf,
    /// The local chart repository every `--repo` of the helm double is mapped to.
    pub charts_url: String,
}

/// The stand-ins for the shipped file's remote Features, written under `dc` (.devcontainer/).
/// Returns the local reference for a remote one, or None when there is no stand-in for it.
pub fn stand_in_for(id: &str) -> Option<&'static str> {
    let name = id.rsplit('/').next()?.split([':', '@']).next()?;
    match name {
        "docker-outside-of-docker" => Some("./docker-outside-of-docker"),
        "kind" => Some("./kind"),
        "kubectl-helm-minikube" => Some("./kubectl-helm-minikube"),
        "bootstrap" => Some("./bootstrap"),
        _ => None,
    }
}

pub fn write_stand_ins(dc: &Path, s: &StandIns) {
    feature(
        dc,
        "docker-outside-of-docker",
        serde_json::json!({
            "id": "docker-outside-of-docker",
            "version": "1.0.0",
            "name": "stand-in for ghcr.io/devcontainers/features/docker-outside-of-docker",
            "description": "The host engine's Docker CLI, the engine's socket mounted, the remote user in the socket's group (the real Feature proxies the socket with socat when the group differs).",
            "mounts": [{"source": "/var/run/docker.sock", "target": "/var/run/docker.sock", "type": "bind"}]
        }),
        &format!(
            "#!/bin/sh\nset -eu\ncp docker /usr/local/bin/docker && chmod 0755 /usr/local/bin/docker\n\
             # The socket's group, by id, with the remote user in it.\n\
             grep -q '^docker-host:' /etc/group || echo 'docker-host:x:{gid}:' >>/etc/group\n\
             sed -i \"s/^docker-host:x:{gid}:$/docker-host:x:{gid}:${{_REMOTE_USER}}/\" /etc/group\n\
             echo \"docker CLI installed; ${{_REMOTE_USER}} in group {gid}\"\n",
            gid = s.socket_gid
        ),
        &[("docker", &s.docker_cli)],
    );
    feature(
        dc,
        "kind",
        serde_json::json!({
            "id": "kind",
            "version": "1.0.0",
            "name": "stand-in for ghcr.io/devcontainers-extra/features/kind",
            "description": "kind on PATH: the kind double (tests/doubles/kind), which makes node containers with Docker as kind does.",
            "options": {"version": {"type": "string", "default": "latest"}}
        }),
        "#!/bin/sh\nset -eu\ncp kind /usr/local/bin/kind && chmod 0755 /usr/local/bin/kind\necho 'kind (the double) installed'\n",
        &[("kind", &repo().join("tests/doubles/kind"))],
    );
    let helm = format!(
        r#"#!/bin/sh
# helm on PATH: the helm double (tests/doubles/helm, the real Helm engine from PyPI) run by the
# host's Python (mounted at run time), with every chart repository mapped to the local chart
# server that holds the pinned charts (the real repositories cannot be reached here).
: "${{HELM_DOUBLE_STATE:=${{XDG_STATE_HOME:-$HOME/.local/state}}/helm-double}}"
export HELM_DOUBLE_STATE
mkdir -p "$HELM_DOUBLE_STATE"
n=$#
for a in "$@"; do
  case "$a" in
    http://*|https://*) a='{charts}' ;;
    --repo=*) a='--repo={charts}' ;;
  esac
  set -- "$@" "$a"
done
shift "$n"
exec '{python}' /usr/local/lib/helm-double/helm "$@"
"#,
        charts = s.charts_url,
        python = s.python.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    write_exec(&tmp.path().join("helm-wrapper"), &helm);
    feature(
        dc,
        "kubectl-helm-minikube",
        serde_json::json!({
            "id": "kubectl-helm-minikube",
            "version": "1.0.0",
            "name": "stand-in for ghcr.io/devcontainers/features/kubectl-helm-minikube",
            "description": "kubectl (the pinned PyPI build) and helm (the helm double) on PATH; no minikube.",
            "options": {
                "version": {"type": "string", "default": "latest"},
                "helm": {"type": "string", "default": "latest"},
                "minikube": {"type": "string", "default": "none"}
            }
        }),
        "#!/bin/sh\nset -eu\n[ \"${MINIKUBE:-none}\" = none ] || { echo \"stand-in: minikube=$MINIKUBE is not provided\" >&2; exit 1; }\n\
         mkdir -p /usr/local/lib/helm-double\n\
         cp kubectl /usr/local/bin/kubectl\n\
         cp helm-double /usr/local/lib/helm-double/helm\n\
         cp helm-wrapper /usr/local/bin/helm\n\
         chmod 0755 /usr/local/bin/kubectl /usr/local/lib/helm-double/helm /usr/local/bin/helm\n\
         echo 'kubectl and helm (the double) installed'\n",
        &[
            ("kubectl", &s.kubectl),
            ("helm-double", &repo().join("tests/doubles/helm")),
            ("helm-wrapper", &tmp.path().join("helm-wrapper")),
        ],
    );
}

/// The host's userland the doubles run on (bash, python3, awk, glibc), mounted read-only over
/// the image's own /usr folders (but not /usr/local, where the Features install), as
/// devcontainer.json `mounts` strings.
pub fn userland_mounts(python_prefix: &Path) -> Vec<String> {
    let mut m: Vec<String> = ["bin", "sbin", "lib", "lib64", "libexec", "share"]
        .iter()
        .map(|d| format!("/usr/{d}"))
        .filter(|p| Path::new(p).is_dir())
        .chain(["/etc/alternatives".to_owned()])
        .map(|p| format!("source={p},target={p},type=bind,readonly"))
        .collect();
    if !python_prefix.starts_with("/usr") {
        let p = python_prefix.display();
        m.push(format!("source={p},target={p},type=bind,readonly"));
    }
    m
}

/// The Python that has the helm double's engine, and its prefix (mounted where it is).
pub fn helm_python() -> (PathBuf, PathBuf) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, helm_python; print(sys.executable); print(sys.base_prefix)",
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 with helm_python (scripts/test.sh installs helm-python-sdk): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut l = text.lines();
    let exe = std::fs::canonicalize(l.next().unwrap()).unwrap();
    (exe, PathBuf::from(l.next().unwrap()))
}

/// `hostname:` values of an envs.yaml (the vcluster names the router serves).
pub fn hostnames(envs_yaml: &str) -> Vec<String> {
    envs_yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("hostname:"))
        .map(|h| h.trim().trim_matches(['"', '\'']).to_owned())
        .collect()
}

/// One entry of the derived file: a key, its value, and the comment above it.
pub struct Entry {
    pub key: String,
    pub value: serde_json::Value,
    pub comment: String,
}

/// devcontainer.json text (JSON with comments): each top-level key with its comment.
pub fn render_jsonc(header: &str, entries: &[Entry]) -> String {
    let mut out = String::from("{\n");
    for line in header.lines() {
        out.push_str(&format!("  // {line}\n"));
    }
    for (i, e) in entries.iter().enumerate() {
        for line in e.comment.lines() {
            out.push_str(&format!("  // {line}\n"));
        }
        let v = serde_json::to_string_pretty(&e.value)
            .unwrap()
            .replace('\n', "\n  ");
        let comma = if i + 1 < entries.len() { "," } else { "" };
        out.push_str(&format!(
            "  {}: {v}{comma}\n",
            serde_json::to_string(&e.key).unwrap()
        ));
    }
    out.push_str("}\n");
    out
}

/// A command run by the CLI: exit code, output and how long it took.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Ran {
    pub fn text(&self) -> String {
        format!(
            "exit {} after {:.1}s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.took.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

pub fn run(cmd: Command, limit: Duration) -> Ran {
    let t = std::time::Instant::now();
    let out = run_bounded(cmd, limit);
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: t.elapsed(),
    }
}

/// Everything a run made on the engine, removed when it ends, passed or failed: the kind double's
/// cluster (through `bootstrap down` inside while the devcontainer runs, then by label), the
/// devcontainer (by its id label), the images the CLI built for the workspace, the base image.
pub struct Teardown {
    pub cli: PathBuf,
    pub workspace: PathBuf,
    pub id_label: String,
    pub cluster: String,
    pub base_image: String,
    /// `devcontainer up` reported success: `bootstrap down` can be asked inside.
    pub up: bool,
    pub downed: bool,
    /// The CLI's folders of Feature content (a copy of each Feature, ~100 MB with the Docker CLI
    /// and kubectl) that were there before this run: the others are this run's.
    pub cli_cache_before: Vec<PathBuf>,
}

/// Where the CLI copies Features to build them: `<tmp>/devcontainercli-<user>/container-features`.
pub fn cli_feature_folders() -> Vec<PathBuf> {
    let user = std::env::var("USER").unwrap_or_else(|_| {
        // SAFETY: getuid cannot fail; getpwuid's result is read at once.
        unsafe {
            let pw = libc::getpwuid(libc::getuid());
            if pw.is_null() {
                "root".into()
            } else {
                std::ffi::CStr::from_ptr((*pw).pw_name)
                    .to_string_lossy()
                    .into_owned()
            }
        }
    });
    let dir = std::env::temp_dir()
        .join(format!("devcontainercli-{user}"))
        .join("container-features");
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

impl Teardown {
    pub fn exec(&self, args: &[&str], limit: Duration) -> Ran {
        let mut cmd = Command::new(&self.cli);
        cmd.arg("exec")
            .arg("--workspace-folder")
            .arg(&self.workspace)
            .arg("--id-label")
            .arg(&self.id_label)
            .args(args);
        run(cmd, limit)
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if self.up && !self.downed {
            let d = self.exec(
                &["bootstrap", "down", "-f", "envs/localdev.yaml"],
                Duration::from_secs(180),
            );
            if d.code != 0 {
                eprintln!("cleanup: bootstrap down inside: {}", d.text());
            }
        }
        remove_cluster(&self.cluster);
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label={}", self.id_label)])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.split_whitespace() {
            let _ = docker_status(&["rm", "-f", "-v", id]);
        }
        // The CLI names its images vsc-<folder name>-<hash>-features[-uid].
        let folder = self
            .workspace
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_lowercase();
        let images = Command::new("docker")
            .args([
                "images",
                "--format",
                "{{.Repository}}",
                "--filter",
                &format!("reference=vsc-{folder}-*"),
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for image in images.split_whitespace() {
            let _ = docker_status(&["rmi", "-f", image]);
        }
        let _ = docker_status(&["rmi", "-f", "dev_container_feature_content_temp"]);
        let _ = docker_status(&["rmi", "-f", &self.base_image]);
        for dir in cli_feature_folders() {
            if !self.cli_cache_before.contains(&dir) {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}
