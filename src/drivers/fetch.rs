//! Downloads pinned by sha256 into the user's cache folder: `fetch_pinned(url, sha256)` gives the
//! path of a file whose bytes hash to `sha256`, downloading it once and reusing it after.
//!
//! The file at its final path is always whole and verified: bytes go to a hidden `.partial`
//! beside it (locked, so two runs never write one file), are hashed as they arrive, fsynced, and
//! renamed into place only when the hash matches. A wrong hash removes the partial file. A
//! download cut short keeps its partial file, and the next run asks the server for the rest
//! (`Range`) and hashes what it already has; a server that ignores the range sends it all again.
//!
//! HTTP client: ureq (blocking, rustls with ring and webpki-roots, which the tree already builds).
//! It follows redirects (GitHub release assets redirect to a CDN), honours HTTPS_PROXY/NO_PROXY
//! for users behind a proxy, and reports a body shorter than its Content-Length as an error.
//! hyper alone would need our own redirect, proxy and TLS-connector code for the same.

use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where plain progress lines go.
pub type LineSink = Arc<dyn Fn(&str) + Send + Sync>;

/// How download progress is shown.
#[derive(Clone)]
pub enum Show {
    /// A live bar on a terminal (indicatif).
    Live,
    /// Plain lines, one per quarter of the file (or per 8 MiB when the size is unknown).
    Lines(LineSink),
    Quiet,
}

impl Show {
    /// A bar when stderr is a terminal, plain lines on stderr otherwise.
    pub fn auto() -> Self {
        let live = std::io::stderr().is_terminal()
            && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true);
        if live {
            Show::Live
        } else {
            Show::Lines(Arc::new(|l| eprintln!("{l}")))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: not downloaded: offline")]
    Offline { url: String },
    #[error("{url}: download failed: {cause}")]
    Network { url: String, cause: String },
    #[error("{url}: the server answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: download cut short after {got} bytes ({cause}); the next run resumes it")]
    Interrupted {
        url: String,
        got: u64,
        cause: String,
    },
    #[error(
        "{url}: sha256 {actual} does not match the pinned {expected}; the download was removed"
    )]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{path}: {cause}")]
    Io { path: String, cause: String },
    #[error("no cache folder to download into: neither XDG_CACHE_HOME nor HOME is set (bootstrap does not fall back to a shared folder under /tmp, where another user could leave a program for it to run); set HOME, or XDG_CACHE_HOME to a folder of your own")]
    NoCacheDir,
    /// A cache folder or file another user could change: nothing in it is used.
    #[error("{0}")]
    NotPrivate(String),
}

/// Pure: why a folder or file with this owner and mode is not one bootstrap may trust with what
/// it later runs, or None. Only this user may own it, and neither its group nor others may write
/// it: either could replace a cached `kind` with their own.
pub fn not_private_because(path: &Path, owner: u32, mode: u32, me: u32) -> Option<String> {
    let foreign = owner != me;
    let shared = mode & 0o022 != 0;
    if !foreign && !shared {
        return None;
    }
    let what = match (foreign, shared) {
        (true, true) => "belongs to another user and others can write it",
        (true, false) => "belongs to another user",
        _ => "can be written by other users",
    };
    Some(format!(
        "{}: not used: it {what} (owner uid {owner}, this user is uid {me}; mode {:04o}), so what bootstrap keeps there could be replaced; make it yours and writable by you alone (`chown {me} {p}` and `chmod go-w {p}`), or remove it and bootstrap makes a new one",
        path.display(),
        mode & 0o7777,
        p = path.display(),
    ))
}

/// Why `path` (an existing folder or file, links followed) is not private to this user, or
/// None when it is or does not exist yet.
pub fn not_private(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(path).ok()?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        not_private_because(path, m.uid(), m.mode(), me)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// `root`, then every folder from it down to `path`, and `path` itself: the first one another
/// user could change, as an error. What does not exist yet is passed (it is made private).
pub fn check_private_chain(root: &Path, path: &Path) -> Result<(), FetchError> {
    let mut chain: Vec<&Path> = path
        .ancestors()
        .take_while(|a| a.starts_with(root) && *a != root)
        .collect();
    chain.push(root);
    for p in chain.into_iter().rev() {
        if let Some(why) = not_private(p) {
            return Err(FetchError::NotPrivate(why));
        }
    }
    Ok(())
}

/// Make `dir` (and the folders to it) readable by this user alone where it is created.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

impl FetchError {
    /// True when the network could not be used at all, so a caller can fall back to its
    /// install hint instead of naming an HTTP error.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            FetchError::Offline { .. } | FetchError::Network { .. }
        )
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> FetchError {
    FetchError::Io {
        path: path.display().to_string(),
        cause: e.to_string(),
    }
}

/// `$XDG_CACHE_HOME/bootstrap`, else `~/.cache/bootstrap` (the XDG base directory default).
pub fn cache_root() -> Result<PathBuf, FetchError> {
    cache_root_from(
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// Pure: the XDG rule. A relative XDG_CACHE_HOME is invalid by the spec and ignored.
pub fn cache_root_from(xdg: Option<PathBuf>, home: Option<PathBuf>) -> Result<PathBuf, FetchError> {
    match xdg.filter(|p| p.is_absolute()) {
        Some(x) => Ok(x.join("bootstrap")),
        None => home
            .filter(|h| !h.as_os_str().is_empty())
            .map(|h| h.join(".cache").join("bootstrap"))
            .ok_or(FetchError::NoCacheDir),
    }
}

/// Download `url` into the default cache (or reuse it), checked against `sha256`.
pub fn fetch_pinned(url: &str, sha256: &str) -> Result<PathBuf, FetchError> {
    Fetcher::new(cache_root()?, Show::auto()).fetch(url, sha256)
}

/// Downloads into one cache folder.
#[derive(Clone)]
pub struct Fetcher {
    /// None without HOME and XDG_CACHE_HOME: nothing is downloaded (`NoCacheDir`).
    pub cache: Option<PathBuf>,
    pub show: Show,
    /// Never touch the network: only what is cached already is returned.
    pub offline: bool,
    pub connect_timeout: Duration,
}

/// What `fetch` found or did, for a caller that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cached,
    Downloaded,
}

impl Fetcher {
    pub fn new(cache: impl Into<Option<PathBuf>>, show: Show) -> Self {
        Fetcher {
            cache: cache.into(),
            show,
            offline: false,
            connect_timeout: Duration::from_secs(15),
        }
    }

    /// Where the file for `url` pinned at `sha256` lives: one folder per hash, so two pins of the
    /// same name never collide and a cached file's name says what it must hash to.
    pub fn path_for(&self, url: &str, sha256: &str) -> PathBuf {
        let name = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .unwrap_or("download");
        // Without a cache folder the name is relative; `fetch` refuses before using it.
        self.cache
            .clone()
            .unwrap_or_default()
            .join("downloads")
            .join(sha256.to_ascii_lowercase())
            .join(name)
    }

    pub fn fetch(&self, url: &str, sha256: &str) -> Result<PathBuf, FetchError> {
        self.fetch_with_origin(url, sha256).map(|(p, _)| p)
    }

    pub fn fetch_with_origin(
        &self,
        url: &str,
        sha256: &str,
    ) -> Result<(PathBuf, Origin), FetchError> {
        let expected = sha256.trim().to_ascii_lowercase();
        if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FetchError::Io {
                path: url.to_owned(),
                cause: format!("`{sha256}` is not a sha256 (64 hex digits)"),
            });
        }
        let Some(root) = &self.cache else {
            return Err(FetchError::NoCacheDir);
        };
        let target = self.path_for(url, &expected);
        // A file another user could have written is not reused, nor is a download put there.
        check_private_chain(root, &target)?;
        if self.reuse(&target, &expected)? {
            return Ok((target, Origin::Cached));
        }
        if self.offline {
            return Err(FetchError::Offline {
                url: url.to_owned(),
            });
        }
        let dir = target.parent().expect("a cache path has a parent");
        create_private_dir(dir).map_err(|e| io_err(dir, e))?;
        check_private_chain(root, dir)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let partial_path = dir.join(format!(".{name}.partial"));
        let mut partial = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial_path)
            .map_err(|e| io_err(&partial_path, e))?;
        // One writer per file: a second run waits here, then finds the file done.
        partial.lock().map_err(|e| io_err(&partial_path, e))?;
        if self.reuse(&target, &expected)? {
            // Another run finished it while we waited. Tidy the partial file we created, but
            // only if the path still names the file we hold (a third run may own a new one).
            if same_file(&partial, &partial_path) {
                let _ = fs::remove_file(&partial_path);
            }
            return Ok((target, Origin::Cached));
        }
        let result = self.download(url, &mut partial, &partial_path, &expected);
        match result {
            Ok(()) => {
                fs::rename(&partial_path, &target).map_err(|e| io_err(&target, e))?;
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok((target, Origin::Downloaded))
            }
            Err(e @ FetchError::HashMismatch { .. }) => {
                let _ = fs::remove_file(&partial_path);
                // Its folder too, when nothing else is in it (remove_dir refuses otherwise).
                let _ = fs::remove_dir(dir);
                Err(e)
            }
            Err(e) => {
                // Bytes received are kept for the next run to resume from; an empty file (the
                // server refused, or nothing arrived) would only be litter in the cache.
                if partial.metadata().map(|m| m.len() == 0).unwrap_or(false)
                    && same_file(&partial, &partial_path)
                {
                    let _ = fs::remove_file(&partial_path);
                    let _ = fs::remove_dir(dir);
                }
                Err(e)
            }
        }
    }

    /// A cached file is used only if it still hashes to its pin; a damaged one is removed.
    fn reuse(&self, target: &Path, expected: &str) -> Result<bool, FetchError> {
        match File::open(target) {
            Ok(mut f) => {
                let mut h = Sha256::new();
                std::io::copy(&mut f, &mut h).map_err(|e| io_err(target, e))?;
                if hex(&h.finalize()) == expected {
                    return Ok(true);
                }
                fs::remove_file(target).map_err(|e| io_err(target, e))?;
                Ok(false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(target, e)),
        }
    }

    fn agent(&self, url: &str) -> ureq::Agent {
        let mut cfg = ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            // A stalled transfer is an error, not a hang.
            .timeout_per_read(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .user_agent(concat!("bootstrap/", env!("CARGO_PKG_VERSION")));
        if is_loopback(url) {
            // Never send loopback traffic through a proxy.
            cfg = cfg.proxy(None);
        }
        cfg.build().into()
    }

    fn download(
        &self,
        url: &str,
        partial: &mut File,
        partial_path: &Path,
        expected: &str,
    ) -> Result<(), FetchError> {
        // What an earlier, interrupted run left: hash it and ask for the rest.
        let mut hasher = Sha256::new();
        partial
            .seek(SeekFrom::Start(0))
            .map_err(|e| io_err(partial_path, e))?;
        let have = std::io::copy(partial, &mut hasher).map_err(|e| io_err(partial_path, e))?;
        let agent = self.agent(url);
        let mut req = agent.get(url);
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let mut resp = req.call().map_err(|e| FetchError::Network {
            url: url.to_owned(),
            cause: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let content_length = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut got = match status {
            206 if have > 0 && range_start(&resp) == Some(have) => have,
            200 => {
                // Whole body: whatever we had is replaced.
                partial.set_len(0).map_err(|e| io_err(partial_path, e))?;
                hasher = Sha256::new();
                0
            }
            416 if have > 0 => {
                // Our partial file is longer than the resource: start over next time.
                partial.set_len(0).map_err(|e| io_err(partial_path, e))?;
                return Err(FetchError::Interrupted {
                    url: url.to_owned(),
                    got: 0,
                    cause: "the server refused the resume range".into(),
                });
            }
            s => {
                return Err(FetchError::Status {
                    url: url.to_owned(),
                    status: s,
                })
            }
        };
        partial
            .seek(SeekFrom::Start(got))
            .map_err(|e| io_err(partial_path, e))?;
        let total = content_length.map(|l| l + got);
        let mut meter = Meter::start(&self.show, url, got, total);
        let mut reader = resp.body_mut().as_reader();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = partial.sync_all();
                    meter.abandon();
                    return Err(FetchError::Interrupted {
                        url: url.to_owned(),
                        got,
                        cause: e.to_string(),
                    });
                }
            };
            partial
                .write_all(&buf[..n])
                .map_err(|e| io_err(partial_path, e))?;
            hasher.update(&buf[..n]);
            got += n as u64;
            meter.advance(got);
        }
        if let Some(t) = total {
            if got != t {
                let _ = partial.sync_all();
                meter.abandon();
                return Err(FetchError::Interrupted {
                    url: url.to_owned(),
                    got,
                    cause: format!("expected {t} bytes"),
                });
            }
        }
        partial.sync_all().map_err(|e| io_err(partial_path, e))?;
        let actual = hex(&hasher.finalize());
        if actual != expected {
            meter.abandon();
            return Err(FetchError::HashMismatch {
                url: url.to_owned(),
                expected: expected.to_owned(),
                actual,
            });
        }
        meter.done(got);
        Ok(())
    }
}

#[cfg(unix)]
fn same_file(f: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &File, _: &Path) -> bool {
    false
}

fn range_start(resp: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    // Content-Range: bytes 100-999/1000
    let v = resp.headers().get("content-range")?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    rest.split('-').next()?.trim().parse().ok()
}

fn is_loopback(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let host = if let Some(h) = host.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Size as people read it.
pub fn human(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / MIB)
    } else if n >= 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// Progress of one transfer: a bar, or a line per quarter (per 8 MiB when the size is unknown).
struct Meter {
    bar: Option<indicatif::ProgressBar>,
    line: Option<LineSink>,
    name: String,
    total: Option<u64>,
    next: u64,
}

const UNKNOWN_STEP: u64 = 8 * 1024 * 1024;

impl Meter {
    fn start(show: &Show, url: &str, from: u64, total: Option<u64>) -> Meter {
        let name = url.rsplit('/').next().unwrap_or(url).to_owned();
        let mut m = Meter {
            bar: None,
            line: None,
            name,
            total,
            next: 0,
        };
        match show {
            Show::Live => {
                let bar = match total {
                    Some(t) => indicatif::ProgressBar::new(t),
                    None => indicatif::ProgressBar::new_spinner(),
                };
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_message(format!("downloading {}", m.name));
                bar.set_position(from);
                m.bar = Some(bar);
            }
            Show::Lines(f) => {
                let what = match total {
                    Some(t) if from > 0 => format!("resuming at {} of {}", human(from), human(t)),
                    Some(t) => human(t),
                    None => "size unknown".into(),
                };
                f(&format!("downloading {url} ({what})"));
                m.line = Some(f.clone());
                m.next = m.next_mark(from);
            }
            Show::Quiet => {}
        }
        m
    }

    fn next_mark(&self, at: u64) -> u64 {
        match self.total {
            Some(t) if t > 0 => {
                let quarter = t.div_ceil(4).max(1);
                (at / quarter + 1) * quarter
            }
            _ => (at / UNKNOWN_STEP + 1) * UNKNOWN_STEP,
        }
    }

    fn advance(&mut self, at: u64) {
        if let Some(b) = &self.bar {
            b.set_position(at);
        }
        if let Some(f) = &self.line {
            if at >= self.next {
                let done = match self.total {
                    Some(t) if t > 0 => {
                        format!("{}% ({} of {})", at * 100 / t, human(at), human(t))
                    }
                    _ => human(at),
                };
                if self.total != Some(at) {
                    f(&format!("  {}: {done}", self.name));
                }
                self.next = self.next_mark(at);
            }
        }
    }

    fn done(&mut self, at: u64) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if let Some(f) = &self.line {
            f(&format!(
                "  {}: 100% ({}), sha256 verified",
                self.name,
                human(at)
            ));
        }
    }

    fn abandon(&mut self) {
        if let Some(b) = self.bar.take() {
            b.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_root_follows_xdg() {
        assert_eq!(
            cache_root_from(Some("/x/cache".into()), Some("/home/u".into())).unwrap(),
            PathBuf::from("/x/cache/bootstrap")
        );
        // A relative XDG_CACHE_HOME is invalid by the spec: fall back to HOME.
        assert_eq!(
            cache_root_from(Some("rel".into()), Some("/home/u".into())).unwrap(),
            PathBuf::from("/home/u/.cache/bootstrap")
        );
        assert!(cache_root_from(None, None).is_err());
    }

    #[test]
    fn cached_files_are_named_by_their_pin() {
        let f = Fetcher::new(PathBuf::from("/c"), Show::Quiet);
        assert_eq!(
            f.path_for("https://h/dl/v1/kind-linux-amd64?x=1", "AB"),
            PathBuf::from("/c/downloads/ab/kind-linux-amd64")
        );
        assert_eq!(
            f.path_for("https://h/", "ab"),
            PathBuf::from("/c/downloads/ab/download")
        );
    }

    #[test]
    fn loopback_is_recognised() {
        assert!(is_loopback("http://127.0.0.1:8080/x"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://[::1]:80/x"));
        assert!(!is_loopback("https://get.helm.sh/helm.tgz"));
        assert!(!is_loopback("https://user@github.com/x"));
    }

    #[test]
    fn a_malformed_pin_is_refused_before_any_request() {
        let f = Fetcher::new(std::env::temp_dir(), Show::Quiet);
        let e = f.fetch("http://127.0.0.1:1/x", "nothex").unwrap_err();
        assert!(e.to_string().contains("not a sha256"), "{e}");
    }
}
