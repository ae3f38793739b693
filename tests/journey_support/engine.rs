//! The Docker engine as a user's machine presents it: a socket that forwards every request to the
//! real engine and records the method and path (so "zero Docker writes" is counted outside the
//! program under test, as tests/support/proxy.rs does for the host), and that can answer `/info`
//! the way another engine would (Docker Desktop), the one fact of an engine we cannot run here.
//! The socket is what the user's container mounts, so the binary and the kind double inside it
//! (which runs the docker CLI) both go through it.

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

type Body = BoxBody<Bytes, hyper::Error>;

pub struct Engine {
    pub path: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Engine {
    /// Forward to the real engine; `info` (a JSON object) replaces those fields of `/info`.
    pub fn start(path: &Path, info: Option<serde_json::Value>) -> Engine {
        let _ = std::fs::remove_file(path);
        let std_listener =
            std::os::unix::net::UnixListener::bind(path).expect("bind the engine socket");
        std_listener.set_nonblocking(true).unwrap();
        // The container's user must be able to open it whatever uid it runs as.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let log2 = log.clone();
        let info = Arc::new(info);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(std_listener, log2, info, stopped));
            rt.shutdown_background();
        });
        Engine {
            path: path.to_owned(),
            log,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Requests that change Docker: everything but GET and HEAD.
    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| !(r.starts_with("GET ") || r.starts_with("HEAD ")))
            .collect()
    }

    pub fn reset(&self) {
        self.log.lock().unwrap().clear();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve(
    std_listener: std::os::unix::net::UnixListener,
    log: Arc<Mutex<Vec<String>>>,
    info: Arc<Option<serde_json::Value>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::UnixListener::from_std(std_listener).unwrap();
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopped => return,
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
        };
        let (log, info) = (log.clone(), info.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (log, info) = (log.clone(), info.clone());
                async move {
                    log.lock()
                        .unwrap()
                        .push(format!("{} {}", req.method(), req.uri()));
                    let is_info = req.method() == hyper::Method::GET
                        && req.uri().path().trim_end_matches('/').ends_with("/info");
                    match (&*info, is_info) {
                        (Some(patch), true) => answer_info(req, patch).await,
                        _ => forward(req).await,
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}

/// The real engine's /info with the patch's fields in place of its own.
async fn answer_info(
    req: Request<Incoming>,
    patch: &serde_json::Value,
) -> Result<Response<Body>, std::io::Error> {
    let resp = forward(req).await?;
    let (mut parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
    if let (Some(obj), Some(p)) = (v.as_object_mut(), patch.as_object()) {
        for (k, x) in p {
            obj.insert(k.clone(), x.clone());
        }
    }
    let out = serde_json::to_vec(&v).unwrap();
    parts.headers.remove(hyper::header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(hyper::header::CONTENT_LENGTH, out.len().into());
    let body = Full::new(Bytes::from(out))
        .map_err(|never| match never {})
        .boxed();
    Ok(Response::from_parts(parts, body))
}

async fn forward(mut req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
    // `docker exec` and attached `docker run` (and so real kind, which runs kubeadm through
    // `docker exec`) ask to upgrade the connection; the engine answers 101 UPGRADED and the
    // connection then carries the process's streams, which must be bridged both ways.
    let client_side = req
        .headers()
        .contains_key(hyper::header::UPGRADE)
        .then(|| hyper::upgrade::on(&mut req));
    let upstream = tokio::net::UnixStream::connect("/var/run/docker.sock").await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn.with_upgrades());
    let mut resp = sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)?;
    if resp.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_side) = client_side {
            let engine_side = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                if let (Ok(c), Ok(e)) = (client_side.await, engine_side.await) {
                    let _ =
                        tokio::io::copy_bidirectional(&mut TokioIo::new(c), &mut TokioIo::new(e))
                            .await;
                }
            });
        }
    }
    let (parts, body) = resp.into_parts();
    let body = if parts.status == hyper::StatusCode::NO_CONTENT {
        Empty::new().map_err(|never| match never {}).boxed()
    } else {
        body.boxed()
    };
    Ok(Response::from_parts(parts, body))
}
