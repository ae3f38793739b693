//! The tools `up` drives (kind, helm), found or fetched: the override variable, else a fitting
//! version on PATH, else the pinned release in the user's cache folder, downloaded once for this
//! OS and CPU and checked against the sha256 pinned here.
//!
//! Pins: every hash below is the one the project published for that file, and the comment next
//! to each says where it was read. A platform without a proven hash has no pin: the tool is then
//! "not pinned" there and `up` gives the install hint instead of downloading anything unchecked.
//!
//! As a pipeline step: `observe` (never downloads; what `status`, `plan` and `down` use), the
//! diff is "not found, passed over, or found", `ensure` applies it (fetch, verify, install into
//! the cache), and there is nothing to remove: the cache is the user's, reused by the next run.

use super::fetch::{Fetcher, Show};
use super::tools::{Tool, ToolError, HELM, KIND};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One release file for one platform and the sha256 its project published for it.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub os: &'static str,
    pub arch: &'static str,
    pub sha256: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// The download is the executable.
    Binary,
    /// A .tar.gz holding the executable at `{os}-{arch}/<name>` (helm's layout).
    TarGz,
}

/// A tool's pinned release.
#[derive(Debug, Clone, Copy)]
pub struct Pinned {
    pub tool: Tool,
    pub version: &'static str,
    /// `{version}`, `{os}` and `{arch}` are filled in.
    pub url: &'static str,
    pub packaging: Packaging,
    pub assets: &'static [Asset],
    /// Which versions found on PATH are used as they are.
    pub accepts: Accepts,
}

/// Versions used as found: `major` in the list, and at least `min` (major, minor).
#[derive(Debug, Clone, Copy)]
pub struct Accepts {
    pub majors: &'static [u64],
    pub min: (u64, u64),
    /// Said when a version is refused.
    pub why: &'static str,
}

/// kind v0.32.0, the current release.
///
/// Hashes: kind publishes `kind-<os>-<arch>.sha256sum` beside each binary of the release
/// (github.com/kubernetes-sigs/kind/releases/tag/v0.32.0). The values are those recorded from
/// those files by cashapp/hermit-packages (`kind.hcl`, whose `sha256-source` is that
/// `.sha256sum` URL; commit 65764ff32cf49349d2a21a590434786ebee341bb, 2026-06-03), and the same
/// four values are pinned by a dozen unrelated projects' CI scripts checked against the
/// published files (one project's test fixture carries other linux/amd64 and darwin/amd64 values;
/// hermit's record of the `.sha256sum` files and every other copy agree on these). kind 0.x below v0.31 is passed over for the pinned release: this project
/// documented v0.31 before and pins v0.32 now, and older releases default to older Kubernetes
/// node images; kind before v0.32 also merges a containerd patch whatever its `version`
/// (kubernetes-sigs/kind commit 0de9b108 made patches version-aware in v0.32.0).
pub const KIND_PIN: Pinned = Pinned {
    tool: KIND,
    version: "v0.32.0",
    url: "https://github.com/kubernetes-sigs/kind/releases/download/{version}/kind-{os}-{arch}",
    packaging: Packaging::Binary,
    assets: &[
        Asset {
            os: "linux",
            arch: "amd64",
            sha256: "50030de23cf40a18505f20426f6a8506bedf13c6e509244bd1fa9463721b0f54",
        },
        Asset {
            os: "linux",
            arch: "arm64",
            sha256: "b92cd615e97585de8ddade28ed5cd7feb4248d717c233eea5b03c37298900f5d",
        },
        Asset {
            os: "darwin",
            arch: "amd64",
            sha256: "295ac6d0d634c9819c9907df45e3017d1f13166bd13c3404c45e79f7faa47498",
        },
        Asset {
            os: "darwin",
            arch: "arm64",
            sha256: "dca67911095a110c2b5c36e26df6cac860c602033e456c0db47be498cdef1ebb",
        },
    ],
    accepts: Accepts {
        majors: &[0],
        min: (0, 31),
        why: "bootstrap drives kind v0.31 or newer",
    },
};

/// helm v4.2.3, the version of the real Helm engine the tests here render charts with
/// (helm-python-sdk 0.2.2 embeds v4.2.3).
///
/// Hashes: the helm v4.2.3 release notes (github.com/helm/helm/releases/tag/v4.2.3, published
/// 2026-07-09) list each tarball's `.sha256sum` from get.helm.sh; cashapp/hermit-packages
/// `helm.hcl` (sha256-source `helm-v${version}-${os}-${arch}.tar.gz.sha256sum`) records the same.
///
/// helm 3 and 4 both work: every command bootstrap runs (`upgrade --install --create-namespace
/// --values --wait --timeout`, `list --all -o json --filter`, `get values -o json`, `uninstall
/// --ignore-not-found --wait`) exists in both (helm/helm v4.2.3 pkg/cmd/upgrade.go, list.go,
/// uninstall.go, flags.go). What differs in 4: a first install applies server-side
/// (`--server-side` defaults to `auto`, true for a new release), and a bare `--wait` means the
/// `watcher` strategy (kstatus readiness) where 3 used its own readiness checks. helm 2 is refused.
pub const HELM_PIN: Pinned = Pinned {
    tool: HELM,
    version: "v4.2.3",
    url: "https://get.helm.sh/helm-{version}-{os}-{arch}.tar.gz",
    packaging: Packaging::TarGz,
    assets: &[
        Asset {
            os: "linux",
            arch: "amd64",
            sha256: "e9b88b4ee95b18c706839c28d3a0220e5bc470e9cd9262410c90793c45ff8b7c",
        },
        Asset {
            os: "linux",
            arch: "arm64",
            sha256: "21abd9354d39b2cd79a8d76be6912cd137a983cbf997193503fb8a6a6e2f2785",
        },
        Asset {
            os: "darwin",
            arch: "amd64",
            sha256: "ff3ac86755a45f3422473bc1200776aac0fe04c5766abe6ca66699f7b564b23b",
        },
        Asset {
            os: "darwin",
            arch: "arm64",
            sha256: "048ecf5ad3160f83d918f9fe945238d2132b079640f7b106175331c25f242c64",
        },
    ],
    accepts: Accepts {
        majors: &[3, 4],
        min: (3, 0),
        why: "bootstrap drives helm 3 or 4",
    },
};

/// This machine in the names releases use: `linux`/`darwin`, `amd64`/`arm64`.
pub fn platform() -> (&'static str, &'static str) {
    platform_of(std::env::consts::OS, std::env::consts::ARCH)
}

pub fn platform_of(os: &'static str, arch: &'static str) -> (&'static str, &'static str) {
    let os = match os {
        "macos" => "darwin",
        o => o,
    };
    let arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    (os, arch)
}

impl Pinned {
    pub fn asset(&self, os: &str, arch: &str) -> Option<&'static Asset> {
        self.assets.iter().find(|a| a.os == os && a.arch == arch)
    }

    pub fn url_for(&self, os: &str, arch: &str) -> String {
        self.url
            .replace("{version}", self.version)
            .replace("{os}", os)
            .replace("{arch}", arch)
    }

    /// Where the installed executable lives in the cache.
    pub fn installed(&self, cache: &Path, os: &str, arch: &str) -> PathBuf {
        cache
            .join("tools")
            .join(format!("{}-{}-{os}-{arch}", self.tool.name, self.version))
            .join(self.tool.name)
    }
}

/// Pure: the first `vMAJOR.MINOR.PATCH` in a tool's version output (a `v` that starts a word,
/// the version running to the next character no version holds).
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('v') {
        if i > 0 && bytes[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let rest = &text[i..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')))
            .map_or(rest.len(), |e| e + 1);
        if let Some(v) = crate::core::version::parse(&rest[..end]) {
            return Some((v.major, v.minor, v.patch));
        }
    }
    None
}

/// Pure: is this version used as found?
pub fn acceptable(a: &Accepts, v: (u64, u64, u64)) -> bool {
    a.majors.contains(&v.0) && (v.0, v.1) >= a.min
}

/// Where a tool came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The override variable named it.
    Override,
    /// Found on PATH at a fitting version.
    Path { version: String },
    /// The pinned release, installed in the cache by an earlier run.
    Cache,
    /// The pinned release, downloaded and installed by this run.
    Downloaded,
}

#[derive(Debug, Clone)]
pub struct Located {
    pub path: PathBuf,
    pub source: Source,
    /// Why a tool on PATH was passed over, when it was.
    pub passed_over: Option<String>,
}

impl Located {
    pub fn describe(&self, pin: &Pinned) -> String {
        let what = match &self.source {
            Source::Override => format!("{} (from {})", self.path.display(), pin.tool.var),
            Source::Path { version } => format!("{version} on PATH ({})", self.path.display()),
            Source::Cache => format!(
                "pinned {} from the cache ({})",
                pin.version,
                self.path.display()
            ),
            Source::Downloaded => format!(
                "pinned {} downloaded, sha256 verified ({})",
                pin.version,
                self.path.display()
            ),
        };
        match &self.passed_over {
            Some(p) => format!("{what}; {p}"),
            None => what,
        }
    }
}

/// How `ensure` looks and fetches.
#[derive(Clone)]
pub struct Options {
    /// The cache folder; None without HOME and XDG_CACHE_HOME (then nothing is taken from a
    /// cache nor downloaded: a shared fallback under /tmp is where another user could leave a
    /// `kind` for us to run).
    pub cache: Option<PathBuf>,
    pub offline: bool,
    /// PATH to search (None: this process's PATH).
    pub path: Option<OsString>,
    /// Replaces scheme and host of every pinned URL, keeping the path (an internal mirror;
    /// the pins still decide what is accepted).
    pub mirror: Option<String>,
    pub show: Show,
    pub os: &'static str,
    pub arch: &'static str,
}

pub const OFFLINE_VAR: &str = "BOOTSTRAP_OFFLINE";
pub const MIRROR_VAR: &str = "BOOTSTRAP_DOWNLOAD_MIRROR";

impl Options {
    /// The user's cache folder, this machine, and the variables: BOOTSTRAP_OFFLINE=1 and
    /// BOOTSTRAP_DOWNLOAD_MIRROR. Without HOME or XDG_CACHE_HOME (some CI containers) there is
    /// no cache: tools on PATH and BOOTSTRAP_KIND/BOOTSTRAP_HELM still work, and a download is
    /// refused with what to set. Not a folder under /tmp: its name would be predictable and
    /// another user could make it first, with a `kind` of theirs inside; and not a fresh
    /// private folder per run either, which would download every tool again on every run and
    /// leave a folder behind each time.
    pub fn from_env(offline: bool) -> Options {
        let (os, arch) = platform();
        Options {
            cache: super::fetch::cache_root().ok(),
            // A value that is no boolean was refused before any command ran
            // (`commands::resolve_variables`); a library caller that skipped that check gets
            // the side that downloads nothing.
            offline: offline || offline_from_env().unwrap_or(true),
            path: None,
            mirror: std::env::var(MIRROR_VAR)
                .ok()
                .filter(|m| !m.trim().is_empty()),
            show: Show::auto(),
            os,
            arch,
        }
    }
}

/// BOOTSTRAP_OFFLINE as a boolean variable (`core::boolean`): unset or empty is false; a
/// value that is no boolean is an error naming it, rather than meaning offline as `no` once did.
pub fn offline_from_env() -> Result<bool, String> {
    offline_from(std::env::var_os(OFFLINE_VAR).as_deref())
}

/// Pure: the same, from the variable's value.
pub fn offline_from(value: Option<&std::ffi::OsStr>) -> Result<bool, String> {
    crate::core::boolean::parse(OFFLINE_VAR, value).map(|b| b.unwrap_or(false))
}

/// Pure: the pinned URL through a mirror: scheme and host replaced, the path kept.
pub fn through_mirror(url: &str, mirror: Option<&str>) -> String {
    let Some(m) = mirror else {
        return url.to_owned();
    };
    let path = url
        .split_once("://")
        .map(|(_, rest)| rest.find('/').map(|i| &rest[i..]).unwrap_or("/"))
        .unwrap_or(url);
    format!("{}{path}", m.trim_end_matches('/'))
}

/// Find without fetching: the override, a fitting version on PATH, or the cached pinned release.
/// `status` and `down` use this; they never download.
pub fn observe(pin: &Pinned, opts: &Options) -> Result<Located, ToolError> {
    match look(pin, opts)? {
        Ok(found) => Ok(found),
        Err(passed_over) => Err(ToolError::Unavailable {
            name: pin.tool.name,
            var: pin.tool.var,
            hint: pin.tool.hint,
            why: missing(pin, passed_over.as_deref()),
        }),
    }
}

fn missing(pin: &Pinned, passed_over: Option<&str>) -> String {
    passed_over
        .map(str::to_owned)
        .unwrap_or_else(|| format!("`{}` was not found in PATH", pin.tool.name))
}

/// Found, or not found with why a tool on PATH was passed over.
fn look(pin: &Pinned, opts: &Options) -> Result<Result<Located, Option<String>>, ToolError> {
    if let Some(value) = std::env::var(pin.tool.var)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        // The user's explicit choice is used as it is, without a version check.
        return which_in(&value, opts)
            .map(|path| {
                Ok(Located {
                    path,
                    source: Source::Override,
                    passed_over: None,
                })
            })
            .map_err(|cause| ToolError::BadOverride {
                name: pin.tool.name,
                var: pin.tool.var,
                value,
                cause,
            });
    }
    let mut passed_over = None;
    if let Ok(path) = which_in(pin.tool.name, opts) {
        match version_of(&path) {
            Some((text, v)) if acceptable(&pin.accepts, v) => {
                return Ok(Ok(Located {
                    path,
                    source: Source::Path { version: text },
                    passed_over: None,
                }))
            }
            Some((text, _)) => {
                passed_over = Some(format!(
                    "{} on PATH is {text}: {}",
                    path.display(),
                    pin.accepts.why
                ))
            }
            None => {
                passed_over = Some(format!(
                    "{} on PATH did not say its version",
                    path.display()
                ))
            }
        }
    }
    let Some(cache) = &opts.cache else {
        return Ok(Err(passed_over));
    };
    let installed = pin.installed(cache, opts.os, opts.arch);
    if is_executable(&installed) {
        // Run only what no other user could have put or changed there.
        if let Err(e) = super::fetch::check_private_chain(cache, &installed) {
            return Err(ToolError::Unavailable {
                name: pin.tool.name,
                var: pin.tool.var,
                hint: pin.tool.hint,
                why: format!("the cached {} was not run: {e}", pin.tool.name),
            });
        }
        return Ok(Ok(Located {
            path: installed,
            source: Source::Cache,
            passed_over,
        }));
    }
    Ok(Err(passed_over))
}

/// Find, or fetch the pinned release into the cache and install it there.
pub fn ensure(pin: &Pinned, opts: &Options) -> Result<Located, ToolError> {
    let passed_over = match look(pin, opts)? {
        Ok(found) => return Ok(found),
        Err(p) => p,
    };
    let missing = missing(pin, passed_over.as_deref());
    let fail = |cause: String| ToolError::Unavailable {
        name: pin.tool.name,
        var: pin.tool.var,
        hint: pin.tool.hint,
        why: format!("{missing}; {cause}"),
    };
    let Some(asset) = pin.asset(opts.os, opts.arch) else {
        return Err(fail(format!(
            "no pinned {} {} download for {}/{} (not pinned: no published hash was proven for it)",
            pin.tool.name, pin.version, opts.os, opts.arch
        )));
    };
    if opts.offline {
        return Err(fail(format!(
            "offline: the pinned {} {} was not downloaded",
            pin.tool.name, pin.version
        )));
    }
    let Some(cache) = &opts.cache else {
        return Err(fail(super::fetch::FetchError::NoCacheDir.to_string()));
    };
    let url = through_mirror(&pin.url_for(opts.os, opts.arch), opts.mirror.as_deref());
    let mut fetcher = Fetcher::new(opts.cache.clone(), opts.show.clone());
    fetcher.offline = opts.offline;
    fetcher.connect_timeout = Duration::from_secs(15);
    let downloaded = match fetcher.fetch(&url, asset.sha256) {
        Ok(p) => p,
        Err(e) => {
            return Err(fail(format!(
                "could not fetch the pinned {} {}: {e}",
                pin.tool.name, pin.version
            )))
        }
    };
    let target = pin.installed(cache, opts.os, opts.arch);
    install(pin, &downloaded, &target, opts).map_err(|e| {
        fail(format!(
            "installing the pinned {} {} into {}: {e}",
            pin.tool.name,
            pin.version,
            target.display()
        ))
    })?;
    // The installed executable is what later runs reuse; the download is not needed again.
    let _ = std::fs::remove_file(&downloaded);
    if let Some(d) = downloaded.parent() {
        let _ = std::fs::remove_dir(d);
    }
    Ok(Located {
        path: target,
        source: Source::Downloaded,
        passed_over,
    })
}

/// Put the executable in place atomically: a temporary file beside it, fsynced, made
/// executable, renamed. A run that dies half way leaves only the temporary file.
fn install(pin: &Pinned, downloaded: &Path, target: &Path, opts: &Options) -> std::io::Result<()> {
    let dir = target.parent().expect("an install path has a parent");
    super::fetch::create_private_dir(dir)?;
    if let Some(why) = dir.ancestors().take(3).find_map(super::fetch::not_private) {
        // tools/<name>-<version>-<os>-<arch>, tools/ and the cache folder itself.
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            why,
        ));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", pin.tool.name))
        .tempfile_in(dir)?;
    match pin.packaging {
        Packaging::Binary => {
            let mut src = std::fs::File::open(downloaded)?;
            std::io::copy(&mut src, tmp.as_file_mut())?;
        }
        Packaging::TarGz => {
            let member = format!("{}-{}/{}", opts.os, opts.arch, pin.tool.name);
            let gz = flate2::read::GzDecoder::new(std::fs::File::open(downloaded)?);
            let mut archive = tar::Archive::new(gz);
            let mut found = false;
            for entry in archive.entries()? {
                let mut entry = entry?;
                if entry.path()?.to_string_lossy().trim_start_matches("./") == member {
                    std::io::copy(&mut entry, tmp.as_file_mut())?;
                    found = true;
                    break;
                }
            }
            if !found {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("the archive holds no `{member}`"),
                ));
            }
        }
    }
    tmp.as_file_mut().flush()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o755))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn which_in(name: &str, opts: &Options) -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    match &opts.path {
        Some(p) => which::which_in(name, Some(p), cwd),
        None => which::which(name),
    }
    .map_err(|e| e.to_string())
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// `kind version` / `helm version --short`, bounded: a tool that hangs is treated as unknown.
fn version_of(path: &Path) -> Option<(String, (u64, u64, u64))> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let args: &[&str] = if name.starts_with("helm") {
        &["version", "--short"]
    } else {
        &["version"]
    };
    let mut child = std::process::Command::new(path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    let v = parse_version(&out)?;
    Some((format!("v{}.{}.{}", v.0, v.1, v.2), v))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_override_that_is_not_executable_is_reported() {
        let pin = super::Pinned {
            tool: super::super::tools::Tool {
                name: "kind",
                var: "BOOTSTRAP_TEST_NO_SUCH_TOOL_VAR",
                hint: "h",
            },
            ..super::KIND_PIN
        };
        std::env::set_var(pin.tool.var, "/nonexistent/kind");
        let opts = super::Options::from_env(true);
        let e = super::observe(&pin, &opts).unwrap_err();
        std::env::remove_var(pin.tool.var);
        assert!(
            e.to_string().contains(
                "BOOTSTRAP_TEST_NO_SUCH_TOOL_VAR=/nonexistent/kind does not name an executable"
            ),
            "{e}"
        );
    }

    use super::*;

    #[test]
    fn versions_are_read_from_what_each_tool_prints() {
        assert_eq!(
            parse_version("kind v0.32.0 go1.26.3 linux/amd64"),
            Some((0, 32, 0))
        );
        assert_eq!(parse_version("v4.2.3+g5d5a1f3"), Some((4, 2, 3)));
        assert_eq!(
            parse_version("version.BuildInfo{Version:\"v3.19.0-double\"}"),
            Some((3, 19, 0))
        );
        assert_eq!(
            parse_version("Client: &version.Version{SemVer:\"v2.17.0\"}"),
            Some((2, 17, 0))
        );
        assert_eq!(parse_version("dev build"), None);
        // A `v` inside a word is not a version.
        assert_eq!(parse_version("gov1.2.3 then v0.31.0"), Some((0, 31, 0)));
    }

    #[test]
    fn fitting_versions_are_used_others_are_passed_over() {
        let k = &KIND_PIN.accepts;
        assert!(acceptable(k, (0, 32, 0)));
        assert!(acceptable(k, (0, 31, 0)));
        assert!(acceptable(k, (0, 33, 1)));
        assert!(!acceptable(k, (0, 20, 0)));
        assert!(!acceptable(k, (1, 0, 0)));
        let h = &HELM_PIN.accepts;
        assert!(acceptable(h, (3, 19, 3)));
        assert!(acceptable(h, (4, 2, 3)));
        assert!(!acceptable(h, (2, 17, 0)));
        assert!(!acceptable(h, (5, 0, 0)));
    }

    #[test]
    fn urls_for_each_platform() {
        assert_eq!(
            KIND_PIN.url_for("linux", "amd64"),
            "https://github.com/kubernetes-sigs/kind/releases/download/v0.32.0/kind-linux-amd64"
        );
        assert_eq!(
            HELM_PIN.url_for("darwin", "arm64"),
            "https://get.helm.sh/helm-v4.2.3-darwin-arm64.tar.gz"
        );
        assert_eq!(platform_of("macos", "aarch64"), ("darwin", "arm64"));
        assert_eq!(platform_of("linux", "x86_64"), ("linux", "amd64"));
    }

    #[test]
    fn every_pin_is_a_sha256_and_covers_the_four_platforms() {
        for pin in [KIND_PIN, HELM_PIN] {
            for (os, arch) in [
                ("linux", "amd64"),
                ("linux", "arm64"),
                ("darwin", "amd64"),
                ("darwin", "arm64"),
            ] {
                let a = pin.asset(os, arch).unwrap();
                assert_eq!(a.sha256.len(), 64);
                assert!(a
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            }
            assert!(pin.asset("windows", "amd64").is_none());
        }
    }

    #[test]
    fn offline_is_a_boolean_variable() {
        use std::ffi::OsStr;
        // `no` once meant offline: every value but `0`, `false` and empty did.
        for (v, want) in [
            ("no", false),
            ("off", false),
            ("0", false),
            ("", false),
            ("yes", true),
            ("ON", true),
            ("1", true),
        ] {
            assert_eq!(offline_from(Some(OsStr::new(v))), Ok(want), "{v}");
        }
        assert_eq!(offline_from(None), Ok(false));
        let e = offline_from(Some(OsStr::new("maybe"))).unwrap_err();
        assert!(
            e.starts_with("BOOTSTRAP_OFFLINE=maybe: `maybe` is not a boolean"),
            "{e}"
        );
    }

    #[test]
    fn a_mirror_keeps_the_path() {
        assert_eq!(
            through_mirror(
                "https://github.com/kubernetes-sigs/kind/releases/download/v0.32.0/kind-linux-amd64",
                Some("http://127.0.0.1:9/mirror/")
            ),
            "http://127.0.0.1:9/mirror/kubernetes-sigs/kind/releases/download/v0.32.0/kind-linux-amd64"
        );
        assert_eq!(
            through_mirror("https://get.helm.sh/x.tgz", None),
            "https://get.helm.sh/x.tgz"
        );
    }
}
