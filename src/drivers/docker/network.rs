//! Joining this container to kind's network: on a Linux engine a devcontainer cannot reach the
//! API kind publishes on 127.0.0.1 through host.docker.internal (the engine refuses it), so the
//! route that works is the node's name on the `kind` network, and that needs us on the network.
//!
//! The join is recorded on the endpoint itself (a driver option naming the environment that made
//! it; Docker keeps it and shows it in `docker inspect`), so `down` undoes our join and only ours:
//! a devcontainer the user put on the network stays there.

use super::{Conn, DockerError};
use crate::core::zone::{Zone, ZoneVerdict};
use bollard::models::{EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest};
use std::collections::HashMap;

pub const KIND_NETWORK: &str = "kind";
/// The endpoint driver option that records which environment joined this container.
pub const JOINED_BY: &str = "bootstrap.joined-by";

/// Pure: a devcontainer on an engine that is not Docker Desktop joins kind's network. Docker
/// Desktop forwards host.docker.internal to ports published on 127.0.0.1, so it need not.
pub fn should_join(v: &ZoneVerdict) -> bool {
    v.zone == Zone::Devcontainer && !v.docker_desktop
}

/// Connect container `me` (its id or name; Docker sets the hostname to the short id) to
/// `network` unless it is already there. Returns whether anything changed.
/// `owner` is recorded on the endpoint (see `JOINED_BY`).
pub async fn join(conn: &Conn, me: &str, network: &str, owner: &str) -> Result<bool, DockerError> {
    if endpoint(conn, me, network).await?.is_some() {
        return Ok(false);
    }
    conn.docker
        .connect_network(
            network,
            NetworkConnectRequest {
                container: me.to_owned(),
                endpoint_config: Some(EndpointSettings {
                    driver_opts: Some(HashMap::from([(JOINED_BY.to_owned(), owner.to_owned())])),
                    ..Default::default()
                }),
            },
        )
        .await
        .map_err(|e| {
            conn.error(
                &format!("joining this container to the `{network}` network"),
                e,
            )
        })?;
    Ok(true)
}

/// This container's endpoint on `network`, if it is attached.
pub async fn endpoint(
    conn: &Conn,
    me: &str,
    network: &str,
) -> Result<Option<EndpointSettings>, DockerError> {
    let info = conn
        .docker
        .inspect_container(me, None)
        .await
        .map_err(|e| conn.error("looking up this container", e))?;
    Ok(info
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|mut nets| nets.remove(network)))
}

/// Pure: whether `owner` made this endpoint (a join recorded by `join`).
pub fn joined_by(endpoint: &EndpointSettings, owner: &str) -> bool {
    endpoint
        .driver_opts
        .as_ref()
        .and_then(|o| o.get(JOINED_BY))
        .is_some_and(|o| o == owner)
}

/// Undo `owner`'s join of container `me` to `network`; an attachment someone else made (the
/// user's `--network kind`) is left alone. Returns whether anything changed.
pub async fn leave(conn: &Conn, me: &str, network: &str, owner: &str) -> Result<bool, DockerError> {
    match conn.docker.inspect_container(me, None).await {
        Ok(info) => {
            let ours = info
                .network_settings
                .and_then(|n| n.networks)
                .and_then(|mut nets| nets.remove(network))
                .is_some_and(|e| joined_by(&e, owner));
            if !ours {
                return Ok(false);
            }
        }
        // Not a container of this engine (a VM image running its own dockerd): no join of ours.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(false),
        Err(e) => return Err(conn.error("looking up this container", e)),
    }
    conn.docker
        .disconnect_network(
            network,
            NetworkDisconnectRequest {
                container: me.to_owned(),
                force: Some(false),
            },
        )
        .await
        .map_err(|e| {
            conn.error(
                &format!("leaving the `{network}` network this container joined"),
                e,
            )
        })?;
    Ok(true)
}

/// Pure: the id of the container whose /proc/self/mountinfo this is. Docker bind-mounts the
/// container's own /etc/hostname, /etc/hosts and /etc/resolv.conf from
/// <data-root>/containers/<id>/, so the id is there whatever hostname the container was given
/// (`--hostname`, a devcontainer's `runArgs`), where the hostname alone names only containers
/// that kept Docker's default (the short id).
pub fn container_id_from_mountinfo(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let root = line.split_whitespace().nth(3)?;
        let rest = root.split("/containers/").nth(1)?;
        let id = rest.split('/').next()?;
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
    })
}

/// How Docker can name this container: its id from mountinfo, else the hostname.
pub fn this_container() -> Option<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|m| container_id_from_mountinfo(&m))
        .or_else(crate::drivers::zone::hostname)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(zone: Zone, docker_desktop: bool) -> ZoneVerdict {
        ZoneVerdict {
            zone,
            docker_desktop,
            access: None,
            reasons: Vec::new(),
        }
    }

    #[test]
    fn only_a_devcontainer_on_a_linux_engine_joins() {
        assert!(should_join(&verdict(Zone::Devcontainer, false)));
        assert!(!should_join(&verdict(Zone::Devcontainer, true)));
        assert!(!should_join(&verdict(Zone::NativeHost, false)));
        assert!(!should_join(&verdict(Zone::Wsl2, true)));
    }

    #[test]
    fn only_our_own_join_is_ours() {
        let ours = EndpointSettings {
            driver_opts: Some(HashMap::from([(JOINED_BY.into(), "env/dev".into())])),
            ..Default::default()
        };
        assert!(joined_by(&ours, "env/dev"));
        assert!(!joined_by(&ours, "env/other"));
        assert!(!joined_by(&EndpointSettings::default(), "env/dev"));
    }

    #[test]
    fn the_container_id_comes_from_docker_s_own_mounts() {
        // As Docker 20.10 on overlay2 writes it (one container with --hostname=devbox).
        let id = "9175a3c1d904e7b2d3a4f5e6c7b8a9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6";
        let mi = format!(
            "1187 1066 0:95 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X\n\
             1210 1187 259:1 /var/lib/docker/containers/{id}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n\
             1211 1187 259:1 /var/lib/docker/containers/{id}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(container_id_from_mountinfo(&mi).as_deref(), Some(id));
        assert_eq!(
            container_id_from_mountinfo("22 1 0:21 / / rw - ext4 /dev/sda1 rw\n"),
            None
        );
    }
}
