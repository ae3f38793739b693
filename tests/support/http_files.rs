//! A small HTTP/1.1 file server on loopback for download tests: serves test artifacts, honours
//! `Range: bytes=N-`, counts requests per path, and can be told to drop the connection part way
//! through a body (as a flaky network does) or to ignore ranges.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Route {
    pub body: Vec<u8>,
    /// Close the connection after this many body bytes (Content-Length still says all of it).
    pub drop_after: Option<usize>,
    /// Answer 200 with the whole body even when a range is asked for.
    pub ignore_range: bool,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    hits: HashMap<String, usize>,
    ranges: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct FileServer {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl FileServer {
    pub fn start() -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state: Arc<Mutex<State>> = Arc::default();
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        FileServer { base, state }
    }

    pub fn put(&self, path: &str, route: Route) -> String {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), route);
        format!("{}{path}", self.base)
    }

    pub fn hits(&self, path: &str) -> usize {
        *self.state.lock().unwrap().hits.get(path).unwrap_or(&0)
    }

    /// The Range headers received, per path, in order.
    pub fn ranges(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().ranges.clone()
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_owned());
            }
        }
    }
    let route = {
        let mut st = state.lock().unwrap();
        *st.hits.entry(path.clone()).or_default() += 1;
        if let Some(r) = &range {
            st.ranges.push((path.clone(), r.clone()));
        }
        st.routes.get(&path).cloned()
    };
    let mut out = conn;
    let Some(route) = route else {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let total = route.body.len();
    let start = range
        .as_deref()
        .filter(|_| !route.ignore_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let (status, from) = match start {
        Some(s) if s < total => ("206 Partial Content", s),
        Some(_) => {
            let _ = out.write_all(format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
            return;
        }
        None => ("200 OK", 0),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
        total - from
    );
    if from > 0 {
        head.push_str(&format!(
            "Content-Range: bytes {from}-{}/{total}\r\n",
            total - 1
        ));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    let body = &route.body[from..];
    let send = route
        .drop_after
        .map(|n| n.min(body.len()))
        .unwrap_or(body.len());
    let _ = out.write_all(&body[..send]);
    let _ = out.flush();
    // Dropping `out` closes the connection, short of Content-Length when drop_after is set.
    let _ = out.shutdown(std::net::Shutdown::Both);
}
