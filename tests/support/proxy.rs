//! A counting proxy in front of the Docker socket: bootstrap talks to it through
//! DOCKER_HOST=unix://<path>, it forwards every request to the real engine and records the method
//! and path. Non-GET/HEAD requests are what change Docker, so "zero writes" is counted here,
//! outside the program under test. It can also die after N requests, as a daemon that stops
//! mid-way does.

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

type Body = BoxBody<Bytes, hyper::Error>;

pub struct Proxy {
    pub path: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(path: &Path) -> Proxy {
        Self::start_with(path, None)
    }

    /// Forward `limit` requests, then vanish (socket removed, connections dropped).
    pub fn dying_after(path: &Path, limit: usize) -> Proxy {
        Self::start_with(path, Some(limit))
    }

    fn start_with(path: &Path, limit: Option<usize>) -> Proxy {
        let _ = std::fs::remove_file(path);
        let std_listener =
            std::os::unix::net::UnixListener::bind(path).expect("bind the proxy socket");
        std_listener.set_nonblocking(true).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (log2, path2) = (log.clone(), path.to_owned());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(std_listener, log2, limit, stopped, path2));
            // Dropping the runtime cancels every connection still in flight.
            rt.shutdown_background();
        });
        Proxy {
            path: path.to_owned(),
            log,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| !(r.starts_with("GET ") || r.starts_with("HEAD ")))
            .collect()
    }

    pub fn reset(&self) {
        self.log.lock().unwrap().clear();
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(
    std_listener: std::os::unix::net::UnixListener,
    log: Arc<Mutex<Vec<String>>>,
    limit: Option<usize>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
    path: PathBuf,
) {
    let listener = tokio::net::UnixListener::from_std(std_listener).unwrap();
    let (die_tx, mut die_rx) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopped => return,
            _ = die_rx.recv() => {
                let _ = std::fs::remove_file(&path);
                return;
            }
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
        };
        let (log, die_tx) = (log.clone(), die_tx.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (log, die_tx) = (log.clone(), die_tx.clone());
                async move {
                    let n = {
                        let mut l = log.lock().unwrap();
                        l.push(format!("{} {}", req.method(), req.uri()));
                        l.len()
                    };
                    if limit.is_some_and(|lim| n > lim) {
                        let _ = die_tx.try_send(());
                        return Err::<Response<Body>, std::io::Error>(std::io::Error::other(
                            "proxy stopped",
                        ));
                    }
                    forward(req).await
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}

async fn forward(req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
    let upstream = tokio::net::UnixStream::connect("/var/run/docker.sock").await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn.with_upgrades());
    let resp = sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)?;
    let (parts, body) = resp.into_parts();
    let body = if parts.status == hyper::StatusCode::NO_CONTENT {
        Empty::new().map_err(|never| match never {}).boxed()
    } else {
        body.boxed()
    };
    Ok(Response::from_parts(parts, body))
}
