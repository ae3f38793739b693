//! The devcontainer Feature (devcontainer/features/bootstrap): its install.sh run inside a
//! container that has only busybox (sh, wget, sha256sum, uname: no bash, no curl, no libc),
//! against a local mirror that counts requests. What it must do: the right hash installs (mode
//! 0755, runs for a non-root user); a wrong hash, a `sha256` pin that differs, or a `.sha256`
//! naming another asset is refused with both hashes named and nothing left behind (no binary,
//! no staging file, nothing under /tmp); the same version again downloads nothing; an
//! unsupported CPU is named before any request. Also the Feature's metadata and the shipped
//! devcontainer.json that uses it.

// The mirror: files served on loopback and their request counts (ranges are not used here).
#[allow(dead_code)]
#[path = "support/http_files.rs"]
mod http_files;

use http_files::{FileServer, Route};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

const IMAGE: &str = "bootstrap-test/feature-busybox:v1";
/// The same without busybox's wget, with the host's curl and dash (Debian's /bin/sh): install.sh
/// fetches with curl there, and runs under a shell that is not busybox's.
const TOOLS_IMAGE: &str = "bootstrap-test/feature-busybox-curl-dash:v1";
/// A version no real release has: the mirror is the test's own.
const VERSION: &str = "v9.9.9-test";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Feature under test; FEATURE_DIR_UNDER_TEST points at a changed copy (to check that each
/// test fails when install.sh loses the property it checks).
fn feature_dir() -> PathBuf {
    std::env::var_os("FEATURE_DIR_UNDER_TEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("devcontainer/features/bootstrap"))
}

/// The asset name install.sh must ask for on this machine's CPU.
fn asset() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "bootstrap-linux-amd64",
        "aarch64" => "bootstrap-linux-arm64",
        other => panic!("no release asset for {other}"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stand-in release binary: a script busybox's sh runs, answering `--version` as bootstrap does.
fn fake_binary(tag: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho \"bootstrap 0.1.0 ({tag})\"\n").into_bytes()
}

fn sha256_file(body: &[u8], name: &str) -> Vec<u8> {
    format!("{}  {name}\n", sha256_hex(body)).into_bytes()
}

/// Docker must answer. Under CI its absence is a failure; elsewhere the test is skipped, loudly.
fn docker_or_skip(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("{test}: Docker is required under CI but `docker version` failed");
        }
        eprintln!("SKIPPED {test}: no Docker engine answers (`docker version` failed)");
        return false;
    }
    image();
    true
}

fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| import(IMAGE, false));
    IMAGE
}

fn tools_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| import(TOOLS_IMAGE, true));
    TOOLS_IMAGE
}

/// An image holding only Debian's busybox-static with a link per applet (and, `host_tools`, the
/// host's curl and dash with the libraries `ldd` lists for them, instead of busybox's wget),
/// imported from a folder: no registry is reachable. Idempotent: an existing image is used as is.
fn import(tag: &str, host_tools: bool) {
    let have = Command::new("docker")
        .args(["image", "inspect", tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if have {
        return;
    }
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox is missing: apt-get install busybox-static (scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["bin", "tmp", "etc", "usr/local"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" && !applet.contains('/') && !(host_tools && applet == "wget") {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    // No bash: install.sh must make do with busybox's sh.
    assert!(!root.join("bin/bash").exists() && !root.join("bin/curl").exists());
    if host_tools {
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        for tool in ["curl", "dash"] {
            let path = which(tool)
                .unwrap_or_else(|| panic!("{tool} is not installed (scripts/test.sh installs it)"));
            std::fs::copy(&path, root.join("usr/bin").join(tool)).unwrap();
            let ldd = Command::new("ldd").arg(&path).output().unwrap();
            for lib in String::from_utf8_lossy(&ldd.stdout)
                .split_whitespace()
                .filter(|w| w.starts_with('/'))
            {
                let to = root.join(lib.trim_start_matches('/'));
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(lib, &to).unwrap();
            }
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nvscode:x:1000:1000::/tmp:/bin/sh\n",
    )
    .unwrap();
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new("docker")
        .args([
            "import",
            "--change",
            "ENV PATH=/usr/local/bin:/usr/bin:/bin",
            "-",
            tag,
        ])
        .stdin(tar.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(
        tar.wait().unwrap().success(),
        "tar -c of the image folder failed"
    );
    assert!(
        out.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(program))
            .find(|f| f.is_file())
    })
}

/// One container per test, on the host's network (the mirror listens on the host's loopback),
/// with the Feature folder mounted read-only at /feature. Removed when dropped.
struct Sandbox {
    name: String,
}

impl Sandbox {
    fn start(prefix: &str) -> Sandbox {
        Sandbox::start_from(prefix, image())
    }

    fn start_from(prefix: &str, image: &str) -> Sandbox {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "bt-feature-{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mount = format!("{}:/feature:ro", feature_dir().display());
        let out = Command::new("docker")
            .args([
                "run",
                "-d",
                "--rm",
                "--network",
                "host",
                "--name",
                &name,
                "-v",
            ])
            .arg(&mount)
            .args([image, "/bin/sleep", "600"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Sandbox { name }
    }

    /// `docker exec` as root (as a Feature's install.sh runs), with the given environment.
    fn exec(&self, envs: &[(&str, &str)], cmd: &[&str]) -> Out {
        self.exec_as("0:0", envs, cmd)
    }

    fn exec_as(&self, user: &str, envs: &[(&str, &str)], cmd: &[&str]) -> Out {
        let mut c = Command::new("docker");
        c.args(["exec", "-u", user]);
        for (k, v) in envs {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        c.arg(&self.name).args(cmd);
        let out = c.output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn sh(&self, script: &str) -> String {
        let o = self.exec(&[], &["/bin/sh", "-c", script]);
        assert_eq!(o.code, 0, "{script}: {}", o.text());
        o.stdout
    }

    /// Runs the Feature's install.sh as the devcontainer CLI does: as root, options as env vars.
    fn install(&self, mirror: &str, version: &str, sha256: &str, extra: &[(&str, &str)]) -> Out {
        self.install_via(&[], mirror, version, sha256, extra)
    }

    /// install.sh started through `via` (a shell, or `linux32` for another machine name).
    fn install_via(
        &self,
        via: &[&str],
        mirror: &str,
        version: &str,
        sha256: &str,
        extra: &[(&str, &str)],
    ) -> Out {
        let mut envs = vec![
            ("VERSION", version),
            ("MIRROR", mirror),
            ("SHA256", sha256),
            ("_REMOTE_USER", "vscode"),
        ];
        envs.extend_from_slice(extra);
        let t = Instant::now();
        let mut cmd = via.to_vec();
        cmd.push("/feature/install.sh");
        let o = self.exec(&envs, &cmd);
        eprintln!("install.sh ({version}) took {:?}", t.elapsed());
        o
    }

    /// What install.sh may leave: the binary and its record. Never a staging file or /tmp entry.
    fn assert_nothing_left_behind(&self) {
        let tmp = self.sh("ls -A /tmp");
        assert_eq!(tmp.trim(), "", "install.sh left files under /tmp: {tmp}");
        let staged = self.sh("ls -A /usr/local/bin /usr/local/share/bootstrap-feature 2>/dev/null | grep -e '\\.new\\.' || true");
        assert_eq!(
            staged.trim(),
            "",
            "install.sh left a staging file: {staged}"
        );
    }

    fn file_sum(&self, path: &str) -> Option<String> {
        let o = self.exec(&[], &["sha256sum", path]);
        (o.code == 0).then(|| o.stdout.split_whitespace().next().unwrap().to_owned())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn text(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A mirror with the release layout: <base>/<version>/<asset> and <asset>.sha256.
struct Mirror {
    server: FileServer,
    base: String,
}

impl Mirror {
    fn new() -> Mirror {
        let server = FileServer::start();
        let base = format!("{}/releases/download", server.base);
        Mirror { server, base }
    }

    fn path(version: &str, name: &str) -> String {
        format!("/releases/download/{version}/{name}")
    }

    /// Publishes `body` as the asset, with `sums` as its .sha256 file (None: no .sha256).
    fn publish(&self, version: &str, asset: &str, body: &[u8], sums: Option<Vec<u8>>) {
        let route = |body: Vec<u8>| Route {
            body,
            ..Route::default()
        };
        self.server
            .put(&Self::path(version, asset), route(body.to_vec()));
        if let Some(s) = sums {
            self.server
                .put(&Self::path(version, &format!("{asset}.sha256")), route(s));
        }
    }

    /// Requests for the asset and for its .sha256.
    fn hits(&self, version: &str, asset: &str) -> (usize, usize) {
        (
            self.server.hits(&Self::path(version, asset)),
            self.server
                .hits(&Self::path(version, &format!("{asset}.sha256"))),
        )
    }
}

#[test]
fn the_right_hash_installs_for_every_user_and_a_rerun_downloads_nothing() {
    if !docker_or_skip("the_right_hash_installs_for_every_user_and_a_rerun_downloads_nothing") {
        return;
    }
    let m = Mirror::new();
    let body = fake_binary("good");
    m.publish(VERSION, asset(), &body, Some(sha256_file(&body, asset())));
    let b = Sandbox::start("ok");
    // /usr/local/bin does not exist in the image: install.sh makes it.
    assert_eq!(b.exec(&[], &["ls", "/usr/local/bin"]).code, 1);

    let o = b.install(&m.base, VERSION, "", &[]);
    assert_eq!(o.code, 0, "{}", o.text());
    let line = o.stdout.trim();
    assert_eq!(line.lines().count(), 1, "one summary line: {}", o.text());
    assert!(
        line.contains(&format!(
            "installed bootstrap {VERSION} to /usr/local/bin/bootstrap"
        )) && line.contains(&sha256_hex(&body))
            && line.contains(&format!("published {}.sha256", asset()))
            && line.contains("for vscode"),
        "{}",
        o.text()
    );
    assert_eq!(m.hits(VERSION, asset()), (1, 1));
    assert_eq!(
        b.file_sum("/usr/local/bin/bootstrap").as_deref(),
        Some(sha256_hex(&body).as_str())
    );
    assert_eq!(
        b.sh("stat -c '%a %u' /usr/local/bin/bootstrap").trim(),
        "755 0"
    );
    // The container's user (not root) runs it from PATH.
    let as_user = b.exec_as("1000:1000", &[], &["bootstrap", "--version"]);
    assert_eq!(as_user.code, 0, "{}", as_user.text());
    assert_eq!(as_user.stdout.trim(), "bootstrap 0.1.0 (good)");
    b.assert_nothing_left_behind();

    // Again, same version: nothing requested from the mirror at all.
    let o = b.install(&m.base, VERSION, "", &[]);
    assert_eq!(o.code, 0, "{}", o.text());
    assert!(
        o.stdout.contains("already installed") && o.stdout.contains("nothing downloaded"),
        "{}",
        o.text()
    );
    assert_eq!(
        m.hits(VERSION, asset()),
        (1, 1),
        "a re-run of the same version downloaded"
    );
    // The same with the hash pinned to what is installed.
    let o = b.install(
        &m.base,
        &VERSION[1..],
        &sha256_hex(&body).to_uppercase(),
        &[],
    );
    assert_eq!(o.code, 0, "{}", o.text());
    assert_eq!(
        m.hits(VERSION, asset()),
        (1, 1),
        "a re-run with the pin downloaded"
    );
    b.assert_nothing_left_behind();

    // The skip is earned by the hash, not by the record: a binary changed since is replaced.
    b.sh("echo '# changed' >> /usr/local/bin/bootstrap");
    let o = b.install(&m.base, VERSION, "", &[]);
    assert_eq!(o.code, 0, "{}", o.text());
    assert_eq!(
        m.hits(VERSION, asset()),
        (2, 2),
        "a changed binary was kept"
    );
    assert_eq!(
        b.file_sum("/usr/local/bin/bootstrap").as_deref(),
        Some(sha256_hex(&body).as_str())
    );

    // Another version is another download, which replaces the binary.
    let v2 = "v9.9.10-test";
    let body2 = fake_binary("v2");
    m.publish(v2, asset(), &body2, Some(sha256_file(&body2, asset())));
    let o = b.install(&m.base, v2, "", &[]);
    assert_eq!(o.code, 0, "{}", o.text());
    assert_eq!(m.hits(v2, asset()), (1, 1));
    assert_eq!(
        b.exec(&[], &["bootstrap", "--version"]).stdout.trim(),
        "bootstrap 0.1.0 (v2)"
    );
    b.assert_nothing_left_behind();
}

#[test]
fn a_wrong_hash_is_refused_and_nothing_is_left_behind() {
    if !docker_or_skip("a_wrong_hash_is_refused_and_nothing_is_left_behind") {
        return;
    }
    let m = Mirror::new();
    let body = fake_binary("tampered");
    let published = fake_binary("what was released");
    m.publish(
        VERSION,
        asset(),
        &body,
        Some(sha256_file(&published, asset())),
    );
    let b = Sandbox::start("bad");

    let o = b.install(&m.base, VERSION, "", &[]);
    assert_ne!(o.code, 0, "a wrong hash was accepted: {}", o.text());
    assert!(
        o.stderr.contains("sha256 mismatch")
            && o.stderr
                .contains(&format!("expected {}", sha256_hex(&published)))
            && o.stderr.contains(&format!("got {}", sha256_hex(&body)))
            && o.stderr.contains("nothing was installed"),
        "the refusal names both hashes: {}",
        o.text()
    );
    assert_eq!(m.hits(VERSION, asset()), (1, 1));
    assert_eq!(
        b.exec(&[], &["ls", "/usr/local/bin/bootstrap"]).code,
        1,
        "a binary was installed"
    );
    assert_eq!(
        b.exec(&[], &["ls", "/usr/local/share/bootstrap-feature"])
            .code,
        1,
        "a record was written"
    );
    b.assert_nothing_left_behind();

    // With a good install in place, a refused update leaves it exactly as it was.
    let good_v = "v9.9.8-test";
    let good = fake_binary("good");
    m.publish(good_v, asset(), &good, Some(sha256_file(&good, asset())));
    assert_eq!(b.install(&m.base, good_v, "", &[]).code, 0);
    let o = b.install(&m.base, VERSION, "", &[]);
    assert_ne!(o.code, 0, "{}", o.text());
    assert_eq!(
        b.file_sum("/usr/local/bin/bootstrap").as_deref(),
        Some(sha256_hex(&good).as_str())
    );
    assert_eq!(
        b.sh("cat /usr/local/share/bootstrap-feature/installed")
            .trim(),
        format!("{good_v} {}", sha256_hex(&good))
    );
    b.assert_nothing_left_behind();

    // A .sha256 that names another asset is refused too, though its hash is right.
    let v3 = "v9.9.7-test";
    m.publish(
        v3,
        asset(),
        &good,
        Some(sha256_file(&good, "bootstrap-darwin-arm64")),
    );
    let o = b.install(&m.base, v3, "", &[]);
    assert_ne!(o.code, 0, "{}", o.text());
    assert!(
        o.stderr.contains("names 'bootstrap-darwin-arm64'"),
        "{}",
        o.text()
    );
    b.assert_nothing_left_behind();

    // The right hash of a binary that does not run here (another CPU's, say) is refused before it
    // replaces anything: the staging copy next to the binary goes too.
    let v4 = "v9.9.6-test";
    let foreign = b"\x7fELF not for this machine".to_vec();
    m.publish(v4, asset(), &foreign, Some(sha256_file(&foreign, asset())));
    let o = b.install(&m.base, v4, "", &[]);
    assert_ne!(o.code, 0, "{}", o.text());
    assert!(o.stderr.contains("does not run here"), "{}", o.text());
    assert_eq!(
        b.file_sum("/usr/local/bin/bootstrap").as_deref(),
        Some(sha256_hex(&good).as_str())
    );
    b.assert_nothing_left_behind();

    // A mirror without the release: the URL is named.
    let o = b.install(&m.base, "v0.0.0-absent", "", &[]);
    assert_ne!(o.code, 0, "{}", o.text());
    assert!(
        o.stderr.contains(&format!(
            "could not download {}/v0.0.0-absent/{}",
            m.base,
            asset()
        )),
        "{}",
        o.text()
    );
    b.assert_nothing_left_behind();
}

#[test]
fn the_sha256_option_decides_and_a_different_binary_is_refused() {
    if !docker_or_skip("the_sha256_option_decides_and_a_different_binary_is_refused") {
        return;
    }
    let m = Mirror::new();
    let body = fake_binary("released");
    // The mirror's own .sha256 agrees with its binary: only the pin can refuse it.
    m.publish(VERSION, asset(), &body, Some(sha256_file(&body, asset())));
    let b = Sandbox::start("pin");
    let pin = sha256_hex(b"what the company approved");

    let o = b.install(&m.base, VERSION, &pin, &[]);
    assert_ne!(
        o.code,
        0,
        "a binary other than the pinned one was accepted: {}",
        o.text()
    );
    assert!(
        o.stderr
            .contains(&format!("expected {pin} (the 'sha256' option)"))
            && o.stderr.contains(&format!("got {}", sha256_hex(&body))),
        "{}",
        o.text()
    );
    assert_eq!(
        m.hits(VERSION, asset()),
        (1, 0),
        "with a pin the .sha256 is not fetched"
    );
    assert_eq!(b.exec(&[], &["ls", "/usr/local/bin/bootstrap"]).code, 1);
    b.assert_nothing_left_behind();

    // A pin that is not a sha256 is refused before any request.
    let o = b.install(&m.base, VERSION, "abc123", &[]);
    assert_ne!(o.code, 0, "{}", o.text());
    assert!(o.stderr.contains("is not a sha256"), "{}", o.text());
    assert_eq!(m.hits(VERSION, asset()), (1, 0));

    // The right pin installs from a mirror that carries no .sha256 at all.
    let v2 = "v9.9.11-test";
    m.publish(v2, asset(), &body, None);
    let o = b.install(&m.base, v2, &sha256_hex(&body), &[]);
    assert_eq!(o.code, 0, "{}", o.text());
    assert!(
        o.stdout.contains("checked against the 'sha256' option"),
        "{}",
        o.text()
    );
    assert_eq!(m.hits(v2, asset()), (1, 0));
    assert_eq!(
        b.file_sum("/usr/local/bin/bootstrap").as_deref(),
        Some(sha256_hex(&body).as_str())
    );
    b.assert_nothing_left_behind();
}

#[test]
fn the_cpu_decides_the_asset_and_an_unsupported_one_is_named_before_any_request() {
    let name = "the_cpu_decides_the_asset_and_an_unsupported_one_is_named_before_any_request";
    if !docker_or_skip(name) {
        return;
    }
    let m = Mirror::new();
    let body = fake_binary("arm");
    for a in ["bootstrap-linux-amd64", "bootstrap-linux-arm64"] {
        m.publish(VERSION, a, &body, Some(sha256_file(&body, a)));
    }

    // The kernel's own answer changed: `linux32` (the PER_LINUX32 personality) makes
    // `uname -m` say i686 on an x86_64 machine.
    if std::env::consts::ARCH == "x86_64" {
        let b = Sandbox::start("arch32");
        assert_eq!(b.sh("linux32 uname -m").trim(), "i686");
        let o = b.install_via(&["linux32"], &m.base, VERSION, "", &[]);
        assert_ne!(o.code, 0, "{}", o.text());
        assert!(
            o.stderr.contains("unsupported architecture 'i686'")
                && o.stderr.contains("amd64 (x86_64) and arm64 (aarch64)"),
            "{}",
            o.text()
        );
        assert_eq!(b.exec(&[], &["ls", "/usr/local/bin/bootstrap"]).code, 1);
        b.assert_nothing_left_behind();
    }
    assert_eq!(m.hits(VERSION, "bootstrap-linux-amd64"), (0, 0));

    // Another machine's name from a `uname` first on PATH. Busybox's sh runs its own applets
    // before PATH, so install.sh runs under dash here (Debian's /bin/sh), which looks PATH up.
    let b = Sandbox::start_from("arch", tools_image());
    let fake_uname = |machine: &str| {
        b.sh(&format!(
            "mkdir -p /fake && printf '#!/bin/sh\\ncase \"$1\" in -m) echo {machine} ;; *) echo Linux ;; esac\\n' > /fake/uname && chmod +x /fake/uname"
        ));
    };
    let path = [("PATH", "/fake:/usr/local/bin:/usr/bin:/bin")];
    let dash = ["/usr/bin/dash"];

    fake_uname("riscv64");
    let o = b.install_via(&dash, &m.base, VERSION, "", &path);
    assert_ne!(o.code, 0, "{}", o.text());
    assert!(
        o.stderr.contains("unsupported architecture 'riscv64'"),
        "{}",
        o.text()
    );
    assert_eq!(b.exec(&[], &["ls", "/usr/local/bin/bootstrap"]).code, 1);
    b.assert_nothing_left_behind();
    assert_eq!(m.hits(VERSION, "bootstrap-linux-arm64"), (0, 0));

    fake_uname("aarch64");
    let o = b.install_via(&dash, &m.base, VERSION, "", &path);
    assert_eq!(o.code, 0, "{}", o.text());
    assert!(o.stdout.contains("(linux-arm64,"), "{}", o.text());
    assert_eq!(m.hits(VERSION, "bootstrap-linux-arm64"), (1, 1));
    assert_eq!(m.hits(VERSION, "bootstrap-linux-amd64"), (0, 0));
    b.assert_nothing_left_behind();

    fake_uname("x86_64");
    let v2 = "v9.9.13-test";
    let body2 = fake_binary("amd");
    m.publish(
        v2,
        "bootstrap-linux-amd64",
        &body2,
        Some(sha256_file(&body2, "bootstrap-linux-amd64")),
    );
    let o = b.install_via(&dash, &m.base, v2, "", &path);
    assert_eq!(o.code, 0, "{}", o.text());
    assert!(o.stdout.contains("(linux-amd64,"), "{}", o.text());
    assert_eq!(m.hits(v2, "bootstrap-linux-amd64"), (1, 1));
}

#[test]
fn curl_does_as_well_as_wget() {
    if !docker_or_skip("curl_does_as_well_as_wget") {
        return;
    }
    if which("curl").is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("curl is required under CI (scripts/test.sh installs it)");
        }
        eprintln!("SKIPPED curl_does_as_well_as_wget: no curl on this machine");
        return;
    }
    let m = Mirror::new();
    let body = fake_binary("curl");
    m.publish(VERSION, asset(), &body, Some(sha256_file(&body, asset())));
    let v2 = "v9.9.12-test";
    m.publish(
        v2,
        asset(),
        &fake_binary("evil"),
        Some(sha256_file(&body, asset())),
    );
    let b = Sandbox::start_from("curl", tools_image());
    assert_ne!(
        b.exec(&[], &["/bin/sh", "-c", "ls /bin/wget /usr/bin/wget"])
            .code,
        0,
        "wget is in the curl image"
    );

    let mirror = format!("{}/", m.base); // a trailing slash is allowed
    let o = b.install(&mirror, VERSION, "", &[]);
    assert_eq!(o.code, 0, "{}", o.text());
    assert_eq!(m.hits(VERSION, asset()), (1, 1));
    assert_eq!(
        b.exec(&[], &["bootstrap", "--version"]).stdout.trim(),
        "bootstrap 0.1.0 (curl)"
    );
    let o = b.install(&mirror, v2, "", &[]);
    assert_ne!(o.code, 0, "{}", o.text());
    assert!(o.stderr.contains("sha256 mismatch"), "{}", o.text());
    assert_eq!(
        b.exec(&[], &["bootstrap", "--version"]).stdout.trim(),
        "bootstrap 0.1.0 (curl)"
    );
    // It was curl that fetched (busybox's sh would find its own wget if curl were not tried first).
    let o = b.install(&mirror, "v0.0.0-absent", "", &[]);
    assert_ne!(o.code, 0, "{}", o.text());
    assert!(o.stderr.contains("curl: (22)"), "{}", o.text());
    b.assert_nothing_left_behind();
}

/// The real release build (static, musl) installed by the Feature into a container that has no
/// libc at all, and run there. scripts/test.sh builds it before `cargo test`; under CI it must be
/// there.
#[test]
fn the_musl_release_binary_installs_and_runs_without_a_libc() {
    if !docker_or_skip("the_musl_release_binary_installs_and_runs_without_a_libc") {
        return;
    }
    let triple = format!("{}-unknown-linux-musl", std::env::consts::ARCH);
    let built = repo().join(format!("target/{triple}/release/bootstrap"));
    if !built.exists() {
        if std::env::var_os("CI").is_some() {
            panic!("{} is missing under CI: scripts/test.sh builds it (cargo build --release --locked --target {triple}) before the tests", built.display());
        }
        eprintln!(
            "SKIPPED the_musl_release_binary_installs_and_runs_without_a_libc: {} not built",
            built.display()
        );
        return;
    }
    let body = std::fs::read(&built).unwrap();
    let m = Mirror::new();
    m.publish("v0.1.0", asset(), &body, Some(sha256_file(&body, asset())));
    let b = Sandbox::start("musl");
    let t = Instant::now();
    let o = b.install(&m.base, "v0.1.0", "", &[]);
    let took = t.elapsed();
    assert_eq!(o.code, 0, "{}", o.text());
    eprintln!(
        "{} ({} bytes) installed in {took:?}: {}",
        asset(),
        body.len(),
        o.stdout.trim()
    );
    let v = b.exec_as("1000:1000", &[], &["bootstrap", "--version"]);
    assert_eq!(v.code, 0, "{}", v.text());
    assert_eq!(
        v.stdout.trim(),
        format!("bootstrap {}", env!("CARGO_PKG_VERSION"))
    );
    b.assert_nothing_left_behind();
}

/// `devcontainer.json` is JSON with comments: drop `//` comments outside strings.
fn jsonc(text: &str) -> serde_json::Value {
    let mut clean = String::new();
    for line in text.lines() {
        let (mut in_str, mut prev, mut cut) = (false, ' ', line.len());
        for (i, c) in line.char_indices() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str && c == '/' && prev == '/' {
                cut = i - 1;
                break;
            }
            prev = c;
        }
        clean.push_str(&line[..cut]);
        clean.push('\n');
    }
    serde_json::from_str(&clean).unwrap_or_else(|e| panic!("not JSON with comments: {e}\n{clean}"))
}

#[test]
fn the_feature_metadata_follows_the_spec_and_pins_this_release() {
    let dir = feature_dir();
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("devcontainer-feature.json")).unwrap(),
    )
    .expect("devcontainer-feature.json is plain JSON");
    // The spec: `id` matches the folder's name; a semver `version`; options with a type, a
    // default and a description each (they reach install.sh as upper-cased env vars).
    assert_eq!(meta["id"], "bootstrap");
    assert_eq!(dir.file_name().unwrap(), "bootstrap");
    let v = meta["version"].as_str().unwrap();
    assert_eq!(
        v.split('.').filter(|p| p.parse::<u64>().is_ok()).count(),
        3,
        "semver: {v}"
    );
    assert!(meta["name"].is_string() && meta["description"].is_string());
    let opts = meta["options"].as_object().unwrap();
    let mut ids: Vec<&str> = opts.keys().map(String::as_str).collect();
    ids.sort();
    assert_eq!(ids, ["mirror", "sha256", "version"]);
    for (id, o) in opts {
        assert_eq!(o["type"], "string", "{id}");
        assert!(
            o["default"].is_string() && o["description"].is_string(),
            "{id}"
        );
    }
    // The Feature installs the release of this source tree: bumping the crate bumps it.
    assert_eq!(
        opts["version"]["default"],
        format!("v{}", env!("CARGO_PKG_VERSION")),
        "the Feature's default version is not this crate's version"
    );
    assert!(opts["mirror"]["default"]
        .as_str()
        .unwrap()
        .ends_with("/releases/download"));
    assert_eq!(opts["sha256"]["default"], "");
    // install.sh: executable, POSIX sh, and it reads exactly the options declared.
    let script = std::fs::read_to_string(dir.join("install.sh")).unwrap();
    assert!(script.starts_with("#!/bin/sh\n"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("install.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "install.sh is not executable");
    for id in opts.keys() {
        assert!(
            script.contains(&format!("${{{}:-}}", id.to_uppercase())),
            "install.sh ignores {id}"
        );
    }
}

#[test]
fn the_shipped_devcontainer_uses_the_feature_and_only_runs_up() {
    let text = std::fs::read_to_string(repo().join("devcontainer/devcontainer.json")).unwrap();
    let v = jsonc(&text);
    assert_eq!(v["postCreateCommand"], "bootstrap up -f envs/localdev.yaml");
    let features = v["features"].as_object().unwrap();
    // A local Feature resolves against the folder of devcontainer.json and must sit under
    // .devcontainer/: devcontainer/ here is what users copy to .devcontainer/.
    let local = "./features/bootstrap";
    assert!(features.contains_key(local), "{features:?}");
    assert!(repo()
        .join("devcontainer")
        .join(local)
        .join("devcontainer-feature.json")
        .exists());
    assert!(
        !text.contains("cargo install"),
        "the devcontainer still compiles bootstrap"
    );
}
