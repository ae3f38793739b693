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

/// Connect container `me` (its id or name; Docker sets the hostname to the short id) to
/// `network` unless it is already there. Returns whether anything changed.
pub async fn join(conn: &Conn, me: &str, network: &str) -> Result<bool, DockerError> {
    let info = conn
        .docker
        .inspect_container(me, None)
        .await
        .map_err(|e| conn.error("looking up this container", e))?;
    let already = info
        .network_settings
        .and_then(|n| n.networks)
        .is_some_and(|nets| nets.contains_key(network));
    if already {
        return Ok(false);
    }
    conn.docker
        .connect_network(
            network,
            NetworkConnectRequest {
                container: me.to_owned(),
                ..Default::default()
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
