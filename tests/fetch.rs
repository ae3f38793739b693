//! `drivers::fetch` against a real HTTP server on loopback serving test artifacts: the pin is
//! checked, nothing half-written is ever at the final path, a cut-short download resumes, and
//! the cache is reused without a request.

#[path = "support/http_files.rs"]
mod http_files;

use bootstrap::drivers::fetch::{hex, FetchError, Fetcher, Origin, Show};
use http_files::{FileServer, Route};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

fn artifact(n: usize) -> Vec<u8> {
    // Not compressible into a pattern a bug could accidentally reproduce.
    let mut x: u32 = 2463534242;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn sha(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

fn lines() -> (Show, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    (
        Show::Lines(Arc::new(move |l| s.lock().unwrap().push(l.to_owned()))),
        seen,
    )
}

/// Every file under `dir`, relative, so a test can say exactly what was left behind.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_pinned_file_is_downloaded_once_and_reused_without_a_request() {
    let srv = FileServer::start();
    let body = artifact(300_000);
    let url = srv.put(
        "/dl/v1/tool-linux-amd64",
        Route {
            body: body.clone(),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let (show, seen) = lines();
    let f = Fetcher::new(cache.path().to_path_buf(), show);

    let (path, origin) = f.fetch_with_origin(&url, &sha(&body)).unwrap();
    assert_eq!(origin, Origin::Downloaded);
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(srv.hits("/dl/v1/tool-linux-amd64"), 1);
    assert!(path.starts_with(cache.path().join("downloads")));

    let (again, origin) = f.fetch_with_origin(&url, &sha(&body)).unwrap();
    assert_eq!((again, origin), (path, Origin::Cached));
    assert_eq!(
        srv.hits("/dl/v1/tool-linux-amd64"),
        1,
        "the cache was not reused"
    );

    // Progress on a non-terminal: a start line, quarters, and the verified end.
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen[0].starts_with(&format!("downloading {url} (")),
        "{seen:?}"
    );
    // At most one line per quarter (reads arrive in chunks, so the figures are where each
    // quarter was crossed), rising.
    let pct: Vec<u64> = seen[1..seen.len() - 1]
        .iter()
        .map(|l| {
            l.split(": ")
                .nth(1)
                .unwrap()
                .split('%')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!((1..=3).contains(&pct.len()), "{seen:?}");
    assert!(pct.windows(2).all(|w| w[0] / 25 < w[1] / 25), "{seen:?}");
    assert!(
        seen.last()
            .unwrap()
            .contains("100% (293.0 KiB), sha256 verified"),
        "{seen:?}"
    );
}

#[test]
fn a_wrong_hash_is_refused_and_nothing_is_kept() {
    let srv = FileServer::start();
    let body = artifact(50_000);
    let url = srv.put(
        "/evil",
        Route {
            body: body.clone(),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(cache.path().to_path_buf(), Show::Quiet);
    let pinned = sha(b"what the project published");

    let e = f.fetch(&url, &pinned).unwrap_err();
    match &e {
        FetchError::HashMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &pinned);
            assert_eq!(actual, &sha(&body));
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
    assert!(e.to_string().contains("does not match the pinned"), "{e}");
    assert!(
        files(cache.path()).is_empty(),
        "left behind: {:?}",
        files(cache.path())
    );
    // Nor an empty folder named for the pin.
    let downloads = cache.path().join("downloads");
    let left: Vec<_> = std::fs::read_dir(&downloads)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_download_cut_short_leaves_no_file_in_place_and_the_next_run_resumes() {
    let srv = FileServer::start();
    let body = artifact(200_000);
    let url = srv.put(
        "/flaky",
        Route {
            body: body.clone(),
            drop_after: Some(80_000),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(cache.path().to_path_buf(), Show::Quiet);
    let pin = sha(&body);

    let e = f.fetch(&url, &pin).unwrap_err();
    assert!(matches!(e, FetchError::Interrupted { .. }), "{e}");
    let target = f.path_for(&url, &pin);
    assert!(!target.exists(), "a half file is in place");
    // What arrived is kept aside, hidden, for the next run.
    let left = files(cache.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].ends_with(".flaky.partial"), "{left:?}");

    // The network recovers: the next run asks only for the rest.
    srv.put(
        "/flaky",
        Route {
            body: body.clone(),
            ..Default::default()
        },
    );
    let path = f.fetch(&url, &pin).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    let ranges = srv.ranges();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    let asked: u64 = ranges[0]
        .1
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(asked > 0 && asked <= 80_000, "resumed at {asked}");
    assert_eq!(files(cache.path()), vec![format!("downloads/{pin}/flaky")]);
}

#[test]
fn a_server_that_ignores_the_range_is_downloaded_again_from_the_start() {
    let srv = FileServer::start();
    let body = artifact(120_000);
    let url = srv.put(
        "/norange",
        Route {
            body: body.clone(),
            drop_after: Some(30_000),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(cache.path().to_path_buf(), Show::Quiet);
    let pin = sha(&body);
    assert!(f.fetch(&url, &pin).is_err());
    srv.put(
        "/norange",
        Route {
            body: body.clone(),
            ignore_range: true,
            ..Default::default()
        },
    );
    let path = f.fetch(&url, &pin).unwrap();
    assert_eq!(
        std::fs::read(path).unwrap(),
        body,
        "old bytes were mixed in"
    );
}

#[test]
fn a_damaged_cached_file_is_replaced() {
    let srv = FileServer::start();
    let body = artifact(10_000);
    let url = srv.put(
        "/f",
        Route {
            body: body.clone(),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(cache.path().to_path_buf(), Show::Quiet);
    let pin = sha(&body);
    let path = f.fetch(&url, &pin).unwrap();
    std::fs::write(&path, b"bit rot").unwrap();
    let again = f.fetch(&url, &pin).unwrap();
    assert_eq!(std::fs::read(again).unwrap(), body);
    assert_eq!(srv.hits("/f"), 2);
}

#[test]
fn offline_uses_the_cache_or_refuses_without_a_request() {
    let srv = FileServer::start();
    let body = artifact(1000);
    let url = srv.put(
        "/o",
        Route {
            body: body.clone(),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let mut f = Fetcher::new(cache.path().to_path_buf(), Show::Quiet);
    f.offline = true;
    let e = f.fetch(&url, &sha(&body)).unwrap_err();
    assert!(
        matches!(e, FetchError::Offline { .. }) && e.is_unreachable(),
        "{e}"
    );
    assert_eq!(srv.hits("/o"), 0);
    f.offline = false;
    f.fetch(&url, &sha(&body)).unwrap();
    f.offline = true;
    f.fetch(&url, &sha(&body)).unwrap();
    assert_eq!(srv.hits("/o"), 1);
}

#[test]
fn an_http_error_is_named_and_nothing_is_kept() {
    let srv = FileServer::start();
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(cache.path().to_path_buf(), Show::Quiet);
    let url = format!("{}/missing", srv.base);
    let e = f.fetch(&url, &sha(b"x")).unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e}");
    assert!(!f.path_for(&url, &sha(b"x")).exists());
}

#[test]
fn no_server_is_reported_as_unreachable() {
    // A port nothing listens on: connection refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(cache.path().to_path_buf(), Show::Quiet);
    let e = f
        .fetch(&format!("http://127.0.0.1:{port}/x"), &sha(b"x"))
        .unwrap_err();
    assert!(e.is_unreachable(), "{e}");
}

#[test]
fn two_runs_at_once_share_one_download() {
    let srv = FileServer::start();
    let body = artifact(2_000_000);
    let url = srv.put(
        "/big",
        Route {
            body: body.clone(),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let pin = sha(&body);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let f = Fetcher::new(cache.path().to_path_buf(), Show::Quiet);
            let (url, pin) = (url.clone(), pin.clone());
            std::thread::spawn(move || f.fetch(&url, &pin).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(std::fs::read(h.join().unwrap()).unwrap(), body);
    }
    assert_eq!(srv.hits("/big"), 1, "the second run downloaded again");
    assert_eq!(
        files(cache.path()),
        vec![format!("downloads/{pin}/big")],
        "left behind"
    );
}

/// Issue 18: the cache folder is used only when it is this user's and nobody else can write
/// it: a cached file there could have been replaced. Nothing is read, downloaded or kept, and
/// the error names the folder, its owner and mode, and what to do.
#[test]
fn a_cache_folder_another_user_could_change_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let srv = FileServer::start();
    let body = b"pinned bytes".to_vec();
    let url = srv.put(
        "/dl/private",
        Route {
            body: body.clone(),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(cache.path().to_path_buf(), Show::Quiet);
    // Mode 0777: anyone could have put a file there.
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = f.fetch(&url, &sha(&body)).unwrap_err();
    assert!(matches!(e, FetchError::NotPrivate(_)), "{e}");
    let e = e.to_string();
    assert!(
        e.starts_with(&format!(
            "{}: not used: it can be written by other users",
            cache.path().display()
        )),
        "{e}"
    );
    assert!(e.contains("mode 0777") && e.contains("chmod go-w"), "{e}");
    assert_eq!(srv.hits("/dl/private"), 0);
    // Made private again: used.
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = f.fetch(&url, &sha(&body)).unwrap();
    // The folders bootstrap makes are its user's alone.
    let mode = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    // A cached file another user owns is not reused (as root the test can give it away).
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&path, Some(4242), None).unwrap();
        let e = f.fetch(&url, &sha(&body)).unwrap_err().to_string();
        assert!(e.contains("belongs to another user (owner uid 4242"), "{e}");
    }
}

#[test]
fn without_a_cache_folder_nothing_is_downloaded() {
    let srv = FileServer::start();
    let url = srv.put("/dl/none", Route::default());
    let f = Fetcher::new(None, Show::Quiet);
    let e = f.fetch(&url, &sha(b"")).unwrap_err();
    assert!(matches!(e, FetchError::NoCacheDir), "{e}");
    assert_eq!(srv.hits("/dl/none"), 0);
}
