//! Where the user stands (native host, a devcontainer on the host's Docker socket, WSL2, Docker
//! Desktop, a remote engine): this decides which address reaches a published port. `classify` is
//! pure over gathered evidence, so every verdict is tested without the place itself.

use crate::core::config::AccessMode;
use serde::Serialize;

/// Variables a devcontainer or Codespace sets in its own environment.
pub const CONTAINER_VARS: &[&str] = &["REMOTE_CONTAINERS", "CODESPACES", "DEVCONTAINER"];

/// Everything the verdict is based on, gathered once and shown to the user as is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// `/.dockerenv` (Docker) or `/run/.containerenv` (Podman) exists: we run inside a container.
    pub container_marker: Option<String>,
    /// Devcontainer variables that are set, as `NAME=value`.
    pub container_vars: Vec<String>,
    /// `/proc/sys/kernel/osrelease`, Linux only.
    pub kernel_release: Option<String>,
    /// The engine's `OperatingSystem` from Docker's /info, when Docker answered.
    pub docker_os: Option<String>,
    /// The engine's `Name` from /info: the hostname of the machine dockerd runs on.
    pub docker_name: Option<String>,
    /// This process's hostname; equal to `docker_name` when dockerd runs right here.
    pub hostname: Option<String>,
    /// `DOCKER_HOST`, when set.
    pub docker_host: Option<String>,
    /// The endpoint we actually use, such as unix:///var/run/docker.sock.
    pub docker_endpoint: Option<String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Zone {
    NativeHost,
    /// Inside a container that drives the host's Docker engine.
    Devcontainer,
    Wsl2,
    /// DOCKER_HOST points at an engine on another machine: its published ports are not ours.
    RemoteDocker,
}

impl Zone {
    /// Its serde name (strum derives the same from the variants).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneVerdict {
    pub zone: Zone,
    pub docker_desktop: bool,
    /// The access mode `auto` resolves to here; None where no local route exists.
    pub access: Option<AccessMode>,
    /// Why, in words, one line per piece of evidence that counted.
    pub reasons: Vec<String>,
}

/// Pure: the verdict and the reasons for it.
pub fn classify(e: &Evidence) -> ZoneVerdict {
    let mut reasons = Vec::new();
    let docker_desktop = e.docker_os.as_deref() == Some("Docker Desktop");
    if docker_desktop {
        reasons.push("Docker's /info says OperatingSystem \"Docker Desktop\"".to_owned());
    }
    let in_container = e.container_marker.is_some() || !e.container_vars.is_empty();
    if let Some(m) = &e.container_marker {
        reasons.push(format!("{m} exists: this process runs inside a container"));
    }
    for v in &e.container_vars {
        reasons.push(format!("{v} is set (devcontainer variable)"));
    }
    let remote = e
        .docker_host
        .as_deref()
        .and_then(|h| remote_host(h, in_container));
    let zone = if let Some(host) = remote {
        reasons.push(format!(
            "DOCKER_HOST={} names another machine ({host}); its published ports are not on this one",
            e.docker_host.as_deref().unwrap_or_default()
        ));
        Zone::RemoteDocker
    } else if in_container && engine_is_here(e) {
        reasons.push(format!(
            "the engine's name `{}` equals this machine's hostname: dockerd runs here, so published ports are on this network",
            e.hostname.as_deref().unwrap_or_default()
        ));
        Zone::NativeHost
    } else if in_container {
        match &e.docker_endpoint {
            Some(ep) => reasons.push(format!("Docker is reached through {ep}, the host's engine")),
            None => reasons.push("no Docker engine answered from inside the container".to_owned()),
        }
        Zone::Devcontainer
    } else if let Some(k) = e
        .kernel_release
        .as_deref()
        .filter(|k| k.to_ascii_lowercase().contains("microsoft") || k.contains("WSL"))
    {
        reasons.push(format!("kernel release `{}` is a WSL kernel", k.trim()));
        Zone::Wsl2
    } else {
        reasons.push(
            "no container marker, devcontainer variable, WSL kernel or remote DOCKER_HOST"
                .to_owned(),
        );
        Zone::NativeHost
    };
    let access = match zone {
        Zone::NativeHost => Some(AccessMode::Host),
        Zone::Devcontainer => Some(AccessMode::Devcontainer),
        Zone::Wsl2 => Some(AccessMode::Wsl2),
        Zone::RemoteDocker => None,
    };
    ZoneVerdict {
        zone,
        docker_desktop,
        access,
        reasons,
    }
}

/// A container that runs its own dockerd (a CI VM image, docker-in-docker) is a host for our
/// purposes: the engine's hostname is ours.
fn engine_is_here(e: &Evidence) -> bool {
    matches!((&e.docker_name, &e.hostname), (Some(d), Some(h)) if !d.is_empty() && d == h)
}

/// The host part of a DOCKER_HOST that names another machine, else None. Loopback is local; from
/// inside a container `host.docker.internal` and the like are this machine's host.
fn remote_host(docker_host: &str, in_container: bool) -> Option<String> {
    let rest = ["tcp://", "http://", "https://", "ssh://"]
        .iter()
        .find_map(|s| docker_host.strip_prefix(s))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
        || (in_container && (host == "host.docker.internal" || host == "gateway.docker.internal"));
    (!local).then(|| host.to_owned())
}

/// Whether the verdict could change with Docker's /info: only inside a container does the engine's
/// name matter, so elsewhere the call is saved.
pub fn needs_engine_info(e: &Evidence) -> bool {
    e.container_marker.is_some() || !e.container_vars.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Evidence {
        Evidence {
            kernel_release: Some("6.1.0-18-amd64".into()),
            docker_os: Some("Debian GNU/Linux 12 (bookworm)".into()),
            docker_endpoint: Some("unix:///var/run/docker.sock".into()),
            ..Default::default()
        }
    }

    #[test]
    fn plain_linux_is_native_host() {
        let v = classify(&base());
        assert_eq!(v.zone, Zone::NativeHost);
        assert_eq!(v.access, Some(AccessMode::Host));
        assert!(!v.docker_desktop);
    }

    #[test]
    fn dockerenv_with_the_host_socket_is_devcontainer() {
        let v = classify(&Evidence {
            container_marker: Some("/.dockerenv".into()),
            ..base()
        });
        assert_eq!(v.zone, Zone::Devcontainer);
        assert_eq!(v.access, Some(AccessMode::Devcontainer));
        assert!(v.reasons.iter().any(|r| r.contains("/.dockerenv")));
    }

    #[test]
    fn a_container_running_its_own_dockerd_is_a_host() {
        let v = classify(&Evidence {
            container_marker: Some("/.dockerenv".into()),
            docker_name: Some("vm".into()),
            hostname: Some("vm".into()),
            ..base()
        });
        assert_eq!(v.zone, Zone::NativeHost);
        assert!(
            v.reasons.iter().any(|r| r.contains("dockerd runs here")),
            "{:?}",
            v.reasons
        );
    }

    #[test]
    fn devcontainer_hostname_differs_from_the_engines() {
        let v = classify(&Evidence {
            container_marker: Some("/.dockerenv".into()),
            docker_name: Some("laptop".into()),
            hostname: Some("3f2a9c1b7d4e".into()),
            ..base()
        });
        assert_eq!(v.zone, Zone::Devcontainer);
    }

    #[test]
    fn devcontainer_variable_alone_is_enough() {
        let v = classify(&Evidence {
            container_vars: vec!["REMOTE_CONTAINERS=true".into()],
            ..base()
        });
        assert_eq!(v.zone, Zone::Devcontainer);
    }

    #[test]
    fn wsl_kernel_with_docker_desktop() {
        let v = classify(&Evidence {
            kernel_release: Some("5.15.153.1-microsoft-standard-WSL2".into()),
            docker_os: Some("Docker Desktop".into()),
            ..base()
        });
        assert_eq!(v.zone, Zone::Wsl2);
        assert!(v.docker_desktop);
        assert_eq!(v.access, Some(AccessMode::Wsl2));
    }

    #[test]
    fn macos_docker_desktop_is_a_native_host() {
        let v = classify(&Evidence {
            kernel_release: None,
            docker_os: Some("Docker Desktop".into()),
            ..base()
        });
        assert_eq!(v.zone, Zone::NativeHost);
        assert!(v.docker_desktop);
    }

    #[test]
    fn remote_docker_host() {
        let v = classify(&Evidence {
            docker_host: Some("tcp://build-box.example:2376".into()),
            ..base()
        });
        assert_eq!(v.zone, Zone::RemoteDocker);
        assert_eq!(v.access, None);
        let v = classify(&Evidence {
            docker_host: Some("ssh://me@10.1.2.3".into()),
            ..base()
        });
        assert_eq!(v.zone, Zone::RemoteDocker);
    }

    #[test]
    fn loopback_and_unix_docker_hosts_are_local() {
        for h in [
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375",
            "unix:///tmp/d.sock",
        ] {
            let v = classify(&Evidence {
                docker_host: Some(h.into()),
                ..base()
            });
            assert_eq!(v.zone, Zone::NativeHost, "{h}");
        }
    }

    #[test]
    fn host_docker_internal_from_a_container_is_the_host() {
        let v = classify(&Evidence {
            container_marker: Some("/.dockerenv".into()),
            docker_host: Some("tcp://host.docker.internal:2375".into()),
            ..base()
        });
        assert_eq!(v.zone, Zone::Devcontainer);
    }
}
