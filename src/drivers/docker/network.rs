//! Joining this container to kind's network: on a Linux engine a devcontainer cannot reach the
//! API kind publishes on 127.0.0.1 through host.docker.internal (the engine refuses it), so the
//! route that works is the node's name on the `kind` network, and that needs us on the network.

use super::{Conn, DockerError};
use crate::zone::{Zone, ZoneVerdict};
use bollard::models::NetworkConnectRequest;

pub const KIND_NETWORK: &str = "kind";

/// Pure: a devcontainer on an engine that is not Docker Desktop joins kind's network. Docker
/// Desktop forwards host.docker.internal to ports published on 127.0.0.1, so it need not.
pub fn should_join(v: &ZoneVerdict) -> bool {
    v.zone == Zone::Devcontainer && !v.docker_desktop
}

/// This container's endpoint on a network: its aliases carry our mark when we made the join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub aliases: Vec<String>,
}

impl Joined {
    pub fn ours(&self, cluster: &str) -> bool {
        self.aliases
            .iter()
            .any(|a| a == &crate::core::ownership::join_alias(cluster))
    }
}

/// Whether container `me` (its id or name; Docker sets the hostname to the short id) is on
/// `network`, and with which aliases. Outside a container there is nothing to find: None.
pub async fn joined(conn: &Conn, me: &str, network: &str) -> Result<Option<Joined>, DockerError> {
    let info = match conn.docker.inspect_container(me, None).await {
        Ok(i) => i,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(None),
        Err(e) => return Err(conn.error("looking up this container", e)),
    };
    Ok(info
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|mut nets| nets.remove(network))
        .map(|ep| Joined {
            aliases: ep.aliases.unwrap_or_default(),
        }))
}

/// Connect container `me` to `network` with `alias` (our mark on the join).
pub async fn join(conn: &Conn, me: &str, network: &str, alias: &str) -> Result<(), DockerError> {
    conn.docker
        .connect_network(
            network,
            NetworkConnectRequest {
                container: me.to_owned(),
                endpoint_config: Some(bollard::models::EndpointSettings {
                    aliases: Some(vec![alias.to_owned()]),
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
        })
}

/// Disconnect container `me` from `network`.
pub async fn leave(conn: &Conn, me: &str, network: &str) -> Result<(), DockerError> {
    conn.docker
        .disconnect_network(
            network,
            bollard::models::NetworkDisconnectRequest {
                container: me.to_owned(),
                force: Some(false),
            },
        )
        .await
        .map_err(|e| conn.error(&format!("leaving the `{network}` network"), e))
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
}
