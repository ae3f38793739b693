//! The toolchain: a tool on PATH at a fitting version is used; a missing or wrong-major one is
//! replaced by the pinned release fetched from a loopback server serving test artifacts, checked
//! against its pin and installed in the cache; a second run reuses the cache without a request.
//! The real binary, with the real pins, is checked where it can be without the internet: a
//! mirror serving the wrong bytes is refused, and offline or unreachable gives the install hint.

#[path = "support/http_files.rs"]
mod http_files;

use bootstrap::drivers::fetch::{hex, Show};
use bootstrap::drivers::toolchain::{
    ensure, observe, Accepts, Asset, Options, Packaging, Pinned, Source, KIND_PIN,
};
use bootstrap::drivers::tools::{ToolError, HELM, KIND};
use http_files::{FileServer, Route};
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn sha(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

fn script(text: &str) -> Vec<u8> {
    format!("#!/bin/sh\n{text}\n").into_bytes()
}

fn write_exe(dir: &Path, name: &str, body: &[u8]) {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// helm's archive layout: `<os>-<arch>/helm` plus a LICENSE and README beside it.
fn helm_tarball(exe: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, body, mode) in [
            ("linux-amd64/LICENSE", &b"Apache-2.0"[..], 0o644),
            ("linux-amd64/helm", exe, 0o755),
            ("linux-amd64/README.md", &b"helm"[..], 0o644),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(mode);
            h.set_cksum();
            tar.append_data(&mut h, name, body).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    out
}

fn opts(cache: &Path, path: &Path) -> Options {
    Options {
        cache: Some(cache.to_path_buf()),
        offline: false,
        path: Some(path.as_os_str().to_owned()),
        mirror: None,
        show: Show::Quiet,
        os: "linux",
        arch: "amd64",
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn kind_pin(srv: &FileServer, body: &[u8]) -> Pinned {
    srv.put(
        "/kind/v0.32.0/kind-linux-amd64",
        Route {
            body: body.to_vec(),
            ..Default::default()
        },
    );
    Pinned {
        url: leak(format!(
            "{}/kind/{{version}}/kind-{{os}}-{{arch}}",
            srv.base
        )),
        assets: Box::leak(Box::new([Asset {
            os: "linux",
            arch: "amd64",
            sha256: leak(sha(body)),
        }])),
        ..KIND_PIN
    }
}

fn helm_pin(srv: &FileServer, tarball: &[u8]) -> Pinned {
    srv.put(
        "/helm-v4.2.3-linux-amd64.tar.gz",
        Route {
            body: tarball.to_vec(),
            ..Default::default()
        },
    );
    Pinned {
        tool: HELM,
        version: "v4.2.3",
        url: leak(format!(
            "{}/helm-{{version}}-{{os}}-{{arch}}.tar.gz",
            srv.base
        )),
        packaging: Packaging::TarGz,
        assets: Box::leak(Box::new([Asset {
            os: "linux",
            arch: "amd64",
            sha256: leak(sha(tarball)),
        }])),
        accepts: Accepts {
            majors: &[3, 4],
            min: (3, 0),
            why: "bootstrap drives helm 3 or 4",
        },
    }
}

fn run(p: &Path, args: &[&str]) -> String {
    let out = Command::new(p).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_missing_kind_is_fetched_once_then_taken_from_the_cache() {
    std::env::remove_var(KIND.var);
    let srv = FileServer::start();
    let exe = script("echo 'kind v0.32.0 go1.26 linux/amd64'");
    let pin = kind_pin(&srv, &exe);
    let cache = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let o = opts(cache.path(), empty.path());

    let got = ensure(&pin, &o).unwrap();
    assert_eq!(got.source, Source::Downloaded);
    assert_eq!(
        got.path,
        cache.path().join("tools/kind-v0.32.0-linux-amd64/kind")
    );
    assert!(run(&got.path, &["version"]).contains("kind v0.32.0"));
    assert_eq!(srv.hits("/kind/v0.32.0/kind-linux-amd64"), 1);
    // Only the installed executable stays; the download itself is not kept twice.
    assert!(
        !cache.path().join("downloads").read_dir().unwrap().any(|e| {
            let p = e.unwrap().path();
            p.is_file()
                || p.read_dir()
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false)
        })
    );

    let again = ensure(&pin, &o).unwrap();
    assert_eq!((again.source, again.path), (Source::Cache, got.path));
    assert_eq!(
        srv.hits("/kind/v0.32.0/kind-linux-amd64"),
        1,
        "second run made a request"
    );
}

#[test]
fn helm_is_taken_out_of_its_tarball() {
    std::env::remove_var(HELM.var);
    let srv = FileServer::start();
    let tgz = helm_tarball(&script("echo v4.2.3+gtest"));
    let pin = helm_pin(&srv, &tgz);
    let cache = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let got = ensure(&pin, &opts(cache.path(), empty.path())).unwrap();
    assert_eq!(got.source, Source::Downloaded);
    assert_eq!(
        run(&got.path, &["version", "--short"]).trim(),
        "v4.2.3+gtest"
    );
    let mode = got.path.metadata().unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn a_fitting_version_on_path_is_used_and_a_wrong_major_is_replaced() {
    std::env::remove_var(HELM.var);
    let srv = FileServer::start();
    let tgz = helm_tarball(&script("echo v4.2.3+gpinned"));
    let pin = helm_pin(&srv, &tgz);
    let cache = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let o = opts(cache.path(), bin.path());

    write_exe(bin.path(), "helm", &script("echo v3.19.3+g0707f56"));
    let got = ensure(&pin, &o).unwrap();
    assert_eq!(
        got.source,
        Source::Path {
            version: "v3.19.3".into()
        }
    );
    assert_eq!(got.path, bin.path().join("helm"));
    assert_eq!(srv.hits("/helm-v4.2.3-linux-amd64.tar.gz"), 0);

    // helm 2 (tiller) cannot run what bootstrap runs: the pinned release is fetched instead.
    write_exe(
        bin.path(),
        "helm",
        &script("echo 'Client: &version.Version{SemVer:\"v2.17.0\"}'"),
    );
    let got = ensure(&pin, &o).unwrap();
    assert_eq!(got.source, Source::Downloaded);
    assert!(got
        .passed_over
        .as_deref()
        .unwrap()
        .contains("is v2.17.0: bootstrap drives helm 3 or 4"));
    assert!(run(&got.path, &["version"]).contains("gpinned"));
}

#[test]
fn offline_or_unreachable_gives_the_install_hint_and_keeps_nothing() {
    std::env::remove_var(KIND.var);
    let srv = FileServer::start();
    let pin = kind_pin(&srv, &script("echo kind v0.32.0"));
    let cache = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut o = opts(cache.path(), empty.path());
    o.offline = true;
    let e = ensure(&pin, &o).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ToolError::Unavailable { .. }), "{msg}");
    assert!(
        msg.starts_with(
            "`kind` was not found in PATH; offline: the pinned kind v0.32.0 was not downloaded"
        ),
        "{msg}"
    );
    assert!(msg.contains("hint: install kind v0.32.0"), "{msg}");
    assert!(msg.contains("or set BOOTSTRAP_KIND to its path"), "{msg}");
    assert_eq!(srv.hits("/kind/v0.32.0/kind-linux-amd64"), 0);

    // No network: nothing answers where the mirror points.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    o.offline = false;
    o.mirror = Some(format!("http://127.0.0.1:{port}"));
    let msg = ensure(&pin, &o).unwrap_err().to_string();
    assert!(
        msg.contains("could not fetch the pinned kind v0.32.0"),
        "{msg}"
    );
    assert!(msg.contains("hint: install kind v0.32.0"), "{msg}");
    assert!(!cache.path().join("tools").exists());
}

#[test]
fn a_platform_without_a_proven_hash_is_not_fetched() {
    std::env::remove_var(KIND.var);
    let srv = FileServer::start();
    let pin = kind_pin(&srv, &script("echo kind v0.32.0"));
    let cache = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut o = opts(cache.path(), empty.path());
    o.arch = "riscv64";
    let msg = ensure(&pin, &o).unwrap_err().to_string();
    assert!(
        msg.contains("no pinned kind v0.32.0 download for linux/riscv64"),
        "{msg}"
    );
    assert_eq!(srv.hits("/kind/v0.32.0/kind-linux-riscv64"), 0);
}

#[test]
fn observe_never_downloads() {
    std::env::remove_var(KIND.var);
    let srv = FileServer::start();
    let pin = kind_pin(&srv, &script("echo kind v0.32.0"));
    let cache = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let o = opts(cache.path(), empty.path());
    assert!(observe(&pin, &o).is_err());
    assert_eq!(srv.hits("/kind/v0.32.0/kind-linux-amd64"), 0);
    ensure(&pin, &o).unwrap();
    assert_eq!(observe(&pin, &o).unwrap().source, Source::Cache);
}

/// Issue 18: a cached `kind` is run only when it, its folders and the cache folder are this
/// user's and nobody else can write them: a `kind` another user planted (or could change) is
/// not run, and the message names the folder, its owner and mode, and what to do.
#[test]
fn a_cached_tool_another_user_could_change_is_not_run() {
    std::env::remove_var(KIND.var);
    let srv = FileServer::start();
    let pin = kind_pin(&srv, &script("echo kind v0.32.0"));
    let empty = tempfile::tempdir().unwrap();
    let me = unsafe { libc::geteuid() };
    let installed = |cache: &Path| pin.installed(cache, "linux", "amd64");
    type Spoil = fn(&Path, &Path);
    let spoils: [(&str, Spoil, &str); 4] = [
        (
            "cache folder writable by others",
            |cache, _| {
                std::fs::set_permissions(cache, std::fs::Permissions::from_mode(0o777)).unwrap()
            },
            "can be written by other users",
        ),
        (
            "tool folder writable by its group",
            |_, exe| {
                std::fs::set_permissions(
                    exe.parent().unwrap(),
                    std::fs::Permissions::from_mode(0o775),
                )
                .unwrap()
            },
            "mode 0775",
        ),
        (
            "binary writable by others",
            |_, exe| std::fs::set_permissions(exe, std::fs::Permissions::from_mode(0o757)).unwrap(),
            "mode 0757",
        ),
        (
            "binary of another user",
            |_, exe| std::os::unix::fs::chown(exe, Some(4242), None).unwrap(),
            "belongs to another user (owner uid 4242",
        ),
    ];
    for (what, spoil, says) in spoils {
        if me != 0 && what.contains("another user") {
            eprintln!("skipped `{what}`: giving a file away needs root");
            continue;
        }
        let cache = tempfile::tempdir().unwrap();
        let o = opts(cache.path(), empty.path());
        ensure(&pin, &o).unwrap();
        assert_eq!(observe(&pin, &o).unwrap().source, Source::Cache, "{what}");
        spoil(cache.path(), &installed(cache.path()));
        for e in [
            observe(&pin, &o).unwrap_err(),
            ensure(&pin, &o).unwrap_err(),
        ] {
            let e = e.to_string();
            assert!(
                e.starts_with("the cached kind was not run: "),
                "{what}: {e}"
            );
            assert!(e.contains(says), "{what}: {e}");
            assert!(
                e.contains("make it yours and writable by you alone"),
                "{what}: {e}"
            );
        }
    }
}

/// Issue 18: without HOME and XDG_CACHE_HOME there is no cache, and in particular no shared
/// `/tmp/bootstrap-cache-<uid>` whose `kind` another user may have planted: a download is
/// refused saying what to set.
#[test]
fn without_a_home_nothing_is_taken_from_tmp_nor_downloaded() {
    std::env::remove_var(KIND.var);
    let srv = FileServer::start();
    let pin = kind_pin(&srv, &script("echo kind v0.32.0"));
    let empty = tempfile::tempdir().unwrap();
    let planted =
        std::env::temp_dir().join(format!("bootstrap-cache-{}", unsafe { libc::getuid() }));
    let planted_kind = installed_under(&pin, &planted);
    std::fs::create_dir_all(planted_kind.parent().unwrap()).unwrap();
    write_exe(
        planted_kind.parent().unwrap(),
        "kind",
        &script("echo planted"),
    );
    let o = Options {
        cache: None,
        ..opts(empty.path(), empty.path())
    };
    let e = observe(&pin, &o).unwrap_err().to_string();
    assert!(e.contains("`kind` was not found in PATH"), "{e}");
    let e = ensure(&pin, &o).unwrap_err().to_string();
    assert!(e.contains("neither XDG_CACHE_HOME nor HOME is set"), "{e}");
    assert!(
        e.contains("set HOME, or XDG_CACHE_HOME to a folder of your own"),
        "{e}"
    );
    assert_eq!(srv.hits("/kind/v0.32.0/kind-linux-amd64"), 0);
    let _ = std::fs::remove_dir_all(&planted);
}

fn installed_under(pin: &Pinned, cache: &Path) -> std::path::PathBuf {
    pin.installed(cache, "linux", "amd64")
}

/// The real binary with the real pins: no download can succeed here, but what is refused is.
mod real_binary {
    use super::*;

    fn up(env: &[(&str, &str)], extra: &[&str]) -> (i32, String) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("envs.yaml");
        std::fs::write(&file, "cluster:\n  name: bt-toolchain-never-created\n").unwrap();
        let mut args = vec!["-f", file.to_str().unwrap(), "up"];
        args.extend_from_slice(extra);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
        cmd.args(&args)
            .env_remove("BOOTSTRAP_KIND")
            .env_remove("BOOTSTRAP_HELM")
            .env_remove("BOOTSTRAP_OFFLINE")
            .env_remove("BOOTSTRAP_DOWNLOAD_MIRROR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `up` asks Docker before anything else: without an engine these say so and skip (never
    /// under CI, which has one).
    fn docker_or_skip(test: &str) -> bool {
        let ok = Command::new("docker")
            .arg("info")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: a Docker engine is required under CI"
            );
            eprintln!("skipped {test}: no Docker engine answers (`docker info`)");
        }
        ok
    }

    #[test]
    fn a_mirror_serving_other_bytes_is_refused_and_nothing_is_kept() {
        if !docker_or_skip("a_mirror_serving_other_bytes_is_refused_and_nothing_is_kept") {
            return;
        }
        let srv = FileServer::start();
        let (os, arch) = bootstrap::drivers::toolchain::platform();
        let path = format!("/kubernetes-sigs/kind/releases/download/v0.32.0/kind-{os}-{arch}");
        srv.put(
            &path,
            Route {
                body: script("echo not kind"),
                ..Default::default()
            },
        );
        let cache = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        let (code, text) = up(
            &[
                ("PATH", empty.path().to_str().unwrap()),
                ("XDG_CACHE_HOME", cache.path().to_str().unwrap()),
                ("BOOTSTRAP_DOWNLOAD_MIRROR", &srv.base),
            ],
            &[],
        );
        assert_eq!(code, 1, "{text}");
        let pinned = KIND_PIN.asset(os, arch).unwrap().sha256;
        assert!(
            text.contains(&format!("does not match the pinned {pinned}")),
            "{text}"
        );
        assert!(text.contains("hint: install kind v0.32.0"), "{text}");
        assert_eq!(srv.hits(&path), 1);
        let mut left = Vec::new();
        for e in walk(cache.path()) {
            left.push(e);
        }
        assert!(left.is_empty(), "kept: {left:?}");
    }

    #[test]
    fn offline_gives_the_install_hint_without_a_request() {
        if !docker_or_skip("offline_gives_the_install_hint_without_a_request") {
            return;
        }
        let srv = FileServer::start();
        let cache = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        for (env, flag) in [
            (vec![], vec!["--offline"]),
            (vec![("BOOTSTRAP_OFFLINE", "1")], vec![]),
        ] {
            let mut env = env;
            env.extend([
                ("PATH", empty.path().to_str().unwrap()),
                ("XDG_CACHE_HOME", cache.path().to_str().unwrap()),
                ("BOOTSTRAP_DOWNLOAD_MIRROR", srv.base.as_str()),
            ]);
            let (code, text) = up(&env, &flag);
            assert_eq!(code, 1, "{text}");
            assert!(
                text.contains("`kind` was not found in PATH; offline"),
                "{text}"
            );
            assert!(text.contains("hint: install kind v0.32.0"), "{text}");
            assert!(text.contains("nothing was changed"), "{text}");
        }
        assert!(srv.ranges().is_empty());
        assert!(walk(cache.path()).is_empty());
    }

    /// Issue 18: `BOOTSTRAP_OFFLINE=no` meant offline (every value but `0`, `false` and empty
    /// did). A word that is no boolean is now refused before anything runs, naming the
    /// variable, its value and the words it takes; `no` means online.
    #[test]
    fn offline_takes_only_boolean_words() {
        for cmd in [&["status"][..], &["up"][..]] {
            let mut c = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
            c.args(cmd).env("BOOTSTRAP_OFFLINE", "maybe");
            let out = c.output().unwrap();
            let text = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd:?}: {text}");
            assert!(
                text.contains("BOOTSTRAP_OFFLINE=maybe: `maybe` is not a boolean\n  hint: use true, 1, yes, on, or false, 0, no, off (any case; empty is the same as unset)"),
                "{cmd:?}: {text}"
            );
        }
    }

    #[test]
    fn offline_no_means_online() {
        if !docker_or_skip("offline_no_means_online") {
            return;
        }
        let srv = FileServer::start();
        let cache = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        let (code, text) = up(
            &[
                ("BOOTSTRAP_OFFLINE", "no"),
                ("PATH", empty.path().to_str().unwrap()),
                ("XDG_CACHE_HOME", cache.path().to_str().unwrap()),
                ("BOOTSTRAP_DOWNLOAD_MIRROR", srv.base.as_str()),
            ],
            &[],
        );
        // Online: the pinned kind was asked of the mirror (which has none), not refused offline.
        assert!(!text.contains("offline"), "{code}: {text}");
        assert!(
            text.contains("could not fetch the pinned kind v0.32.0"),
            "{code}: {text}"
        );
    }

    #[test]
    fn status_reports_where_each_tool_is_found_even_without_a_home() {
        if !docker_or_skip("status_reports_where_each_tool_is_found_even_without_a_home") {
            return;
        }
        let bin = tempfile::tempdir().unwrap();
        write_exe(
            bin.path(),
            "kind",
            &script("echo 'kind v0.32.0 go1.26 linux/amd64'"),
        );
        // An old helm is passed over, and nothing is cached: status says so, and never fetches.
        write_exe(bin.path(), "helm", &script("echo v2.17.0"));
        let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .args(["-f", "/nonexistent/envs.yaml", "status", "-o", "json"])
            .env_remove("HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("BOOTSTRAP_KIND")
            .env_remove("BOOTSTRAP_HELM")
            .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            doc["tools"][0]["path"],
            bin.path().join("kind").display().to_string()
        );
        let helm = doc["tools"][1]["problem"].as_str().unwrap();
        assert!(
            helm.contains("on PATH is v2.17.0: bootstrap drives helm 3 or 4"),
            "{helm}"
        );
    }

    fn walk(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path().display().to_string());
                }
            }
        }
        out
    }
}
