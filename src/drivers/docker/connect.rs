//! Reaching the Docker engine: which endpoint, then one typed error that says what is wrong and how
//! to fix it. bollard does not follow Docker contexts, so Docker Desktop's per-user socket (Linux
//! and macOS) is looked up here when the default socket is absent.

use bollard::{Docker, API_DEFAULT_VERSION};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The default socket of a Linux engine (and of Docker Desktop when its "default socket" option is on).
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Seconds before a single Docker request is given up; the calls we make are all small.
const REQUEST_TIMEOUT_SECS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointSource {
    DockerHost,
    DefaultSocket,
    DesktopUserSocket,
}

impl EndpointSource {
    pub fn describe(self) -> &'static str {
        match self {
            EndpointSource::DockerHost => "from DOCKER_HOST",
            EndpointSource::DefaultSocket => "the default socket",
            EndpointSource::DesktopUserSocket => "Docker Desktop's per-user socket",
        }
    }
}

/// Where we will talk to Docker, and why that address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub uri: String,
    pub source: EndpointSource,
}

impl Endpoint {
    /// The socket path for a `unix://` endpoint.
    pub fn socket_path(&self) -> Option<&str> {
        self.uri.strip_prefix("unix://")
    }
}

/// Pure: choose the endpoint from `DOCKER_HOST`, the default socket, or Docker Desktop's socket.
pub fn resolve(
    docker_host: Option<&str>,
    home: Option<&Path>,
    exists: impl Fn(&Path) -> bool,
) -> Endpoint {
    if let Some(h) = docker_host.map(str::trim).filter(|h| !h.is_empty()) {
        return Endpoint {
            uri: h.to_owned(),
            source: EndpointSource::DockerHost,
        };
    }
    if !exists(Path::new(DEFAULT_SOCKET)) {
        if let Some(home) = home {
            // Docker Desktop for Linux, then for macOS, in testcontainers-java's order
            // (core/src/main/java/org/testcontainers/dockerclient/DockerDesktopClientProviderStrategy.java).
            for rel in [".docker/desktop/docker.sock", ".docker/run/docker.sock"] {
                let desktop = home.join(rel);
                if exists(&desktop) {
                    return Endpoint {
                        uri: format!("unix://{}", desktop.display()),
                        source: EndpointSource::DesktopUserSocket,
                    };
                }
            }
        }
    }
    Endpoint {
        uri: format!("unix://{DEFAULT_SOCKET}"),
        source: EndpointSource::DefaultSocket,
    }
}

/// What went wrong with Docker; callers branch on it (a missing engine is not a failed create).
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no Docker socket at {path} ({source_desc})\n  hint: start Docker (Linux: `sudo systemctl start docker`; macOS/Windows: open Docker Desktop), or point DOCKER_HOST at your engine, such as unix:///path/docker.sock or tcp://host:2375")]
    SocketMissing {
        path: String,
        source_desc: &'static str,
    },
    #[error("cannot open the Docker socket {path}: permission denied\n  hint: add yourself to the `docker` group (`sudo usermod -aG docker $USER`, then log in again), or in a devcontainer make the mounted socket readable by your user")]
    PermissionDenied { path: String },
    #[error("the Docker daemon at {uri} is not answering while {during}: {cause}\n  hint: is Docker running? Start it (Linux: `sudo systemctl start docker`; macOS/Windows: open Docker Desktop) and run again; `docker version` shows the same from the docker CLI")]
    Unreachable {
        uri: String,
        during: String,
        cause: String,
    },
    #[error("DOCKER_HOST={uri} is not an address bootstrap can use\n  hint: use unix:///path/to/docker.sock or tcp://host:port")]
    BadHost { uri: String },
    #[error("Docker at {uri} refused {during}: {message}")]
    Api {
        uri: String,
        during: String,
        status: u16,
        message: String,
    },
}

/// A connected, version-negotiated client and what we know about the engine.
#[derive(Clone)]
pub struct Conn {
    pub docker: Docker,
    pub endpoint: Endpoint,
    pub api_version: String,
}

impl Conn {
    /// Turn a bollard error into ours, naming what we were doing.
    pub fn error(&self, during: &str, e: bollard::errors::Error) -> DockerError {
        classify(&self.endpoint, during, e)
    }
}

/// Resolve, check the socket, connect and negotiate the API version (the engine here speaks 1.41).
pub async fn connect() -> Result<Conn, DockerError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let host = std::env::var("DOCKER_HOST").ok();
    let endpoint = resolve(host.as_deref(), home.as_deref(), |p| p.exists());
    connect_to(endpoint).await
}

pub async fn connect_to(endpoint: Endpoint) -> Result<Conn, DockerError> {
    let docker = if let Some(path) = endpoint.socket_path() {
        probe_socket(path, &endpoint)?;
        Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else if endpoint.uri.starts_with("tcp://") || endpoint.uri.starts_with("http://") {
        Docker::connect_with_http(&endpoint.uri, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else {
        return Err(DockerError::BadHost {
            uri: endpoint.uri.clone(),
        });
    }
    .map_err(|e| classify(&endpoint, "connecting", e))?
    // `-v`: each Engine API call, as it is sent. bollard's one hook sees the request only, so
    // these lines have no status or timing (kube's and the commands' have both).
    .with_request_modifier(|req| {
        tracing::debug!(
            target: crate::logging::TARGET,
            "docker api: {} {}",
            req.method(),
            req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/")
        );
        req
    });
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| classify(&endpoint, "negotiating the API version", e))?;
    let v = docker.client_version();
    Ok(Conn {
        docker,
        endpoint,
        api_version: format!("{}.{}", v.major_version, v.minor_version),
    })
}

/// A synchronous connect tells apart "missing", "permission denied" and "nobody listening", which
/// an HTTP error from bollard blurs.
fn probe_socket(path: &str, endpoint: &Endpoint) -> Result<(), DockerError> {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Ok(()),
        Err(e) => Err(io_error(endpoint, "connecting", &e)),
    }
}

fn io_error(endpoint: &Endpoint, during: &str, e: &std::io::Error) -> DockerError {
    use std::io::ErrorKind::*;
    let path = endpoint.socket_path().unwrap_or(&endpoint.uri).to_owned();
    match e.kind() {
        NotFound if endpoint.socket_path().is_some() => DockerError::SocketMissing {
            path,
            source_desc: endpoint.source.describe(),
        },
        PermissionDenied => DockerError::PermissionDenied { path },
        _ => DockerError::Unreachable {
            uri: endpoint.uri.clone(),
            during: during.to_owned(),
            cause: e.to_string(),
        },
    }
}

/// Walk the error's sources: bollard wraps the I/O error that names the real cause.
pub fn classify(endpoint: &Endpoint, during: &str, e: bollard::errors::Error) -> DockerError {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError {
            status_code,
            message,
        } => DockerError::Api {
            uri: endpoint.uri.clone(),
            during: during.to_owned(),
            status: status_code,
            message,
        },
        B::SocketNotFoundError(path) => DockerError::SocketMissing {
            path,
            source_desc: endpoint.source.describe(),
        },
        B::UnsupportedURISchemeError { uri } => DockerError::BadHost { uri },
        B::RequestTimeoutError => DockerError::Unreachable {
            uri: endpoint.uri.clone(),
            during: during.to_owned(),
            cause: format!("no answer within {REQUEST_TIMEOUT_SECS}s"),
        },
        other => {
            let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&other);
            while let Some(err) = cur {
                if let Some(io) = err.downcast_ref::<std::io::Error>() {
                    return io_error(endpoint, during, io);
                }
                cur = err.source();
            }
            DockerError::Unreachable {
                uri: endpoint.uri.clone(),
                during: during.to_owned(),
                cause: other.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_wins() {
        let e = resolve(
            Some("tcp://10.0.0.2:2375"),
            Some(Path::new("/home/u")),
            |_| true,
        );
        assert_eq!(e.uri, "tcp://10.0.0.2:2375");
        assert_eq!(e.source, EndpointSource::DockerHost);
    }

    #[test]
    fn empty_docker_host_is_ignored() {
        let e = resolve(Some("  "), None, |_| true);
        assert_eq!(e.source, EndpointSource::DefaultSocket);
    }

    #[test]
    fn default_socket_when_present() {
        let e = resolve(None, Some(Path::new("/home/u")), |_| true);
        assert_eq!(e.uri, "unix:///var/run/docker.sock");
    }

    #[test]
    fn desktop_socket_when_default_absent() {
        let e = resolve(None, Some(Path::new("/Users/u")), |p| {
            p == Path::new("/Users/u/.docker/run/docker.sock")
        });
        assert_eq!(e.uri, "unix:///Users/u/.docker/run/docker.sock");
        assert_eq!(e.source, EndpointSource::DesktopUserSocket);
    }

    #[test]
    fn desktop_for_linux_socket_when_default_absent() {
        let e = resolve(None, Some(Path::new("/home/u")), |p| {
            p == Path::new("/home/u/.docker/desktop/docker.sock")
        });
        assert_eq!(e.uri, "unix:///home/u/.docker/desktop/docker.sock");
        assert_eq!(e.source, EndpointSource::DesktopUserSocket);
    }

    #[test]
    fn default_socket_named_when_nothing_exists() {
        let e = resolve(None, Some(Path::new("/Users/u")), |_| false);
        assert_eq!(e.source, EndpointSource::DefaultSocket);
    }

    #[test]
    fn io_errors_name_the_cause() {
        let ep = Endpoint {
            uri: "unix:///nope.sock".into(),
            source: EndpointSource::DockerHost,
        };
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(matches!(
            io_error(&ep, "x", &missing),
            DockerError::SocketMissing { .. }
        ));
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(matches!(
            io_error(&ep, "x", &denied),
            DockerError::PermissionDenied { .. }
        ));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let msg = io_error(&ep, "listing containers", &refused).to_string();
        assert!(
            msg.contains("not answering while listing containers"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn a_missing_socket_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let ep = Endpoint {
            uri: format!("unix://{}/docker.sock", dir.path().display()),
            source: EndpointSource::DockerHost,
        };
        let err = connect_to(ep).await.err().expect("no daemon there");
        assert!(matches!(err, DockerError::SocketMissing { .. }), "{err}");
        assert!(err.to_string().contains("hint:"));
    }

    #[tokio::test]
    async fn a_dead_socket_says_not_answering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        // A socket file nobody listens on: what a crashed daemon leaves behind.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let ep = Endpoint {
            uri: format!("unix://{}", path.display()),
            source: EndpointSource::DockerHost,
        };
        let err = connect_to(ep).await.err().expect("nobody listens");
        assert!(matches!(err, DockerError::Unreachable { .. }), "{err}");
    }
}
