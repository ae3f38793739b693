//! What runs inside kind's control-plane node, as far as the file sets it: the names the API
//! server's certificate holds (from its TLS handshake, no credentials needed) and the Node's
//! labels (through the kube API, with kind's admin credentials). Both are read only while the
//! node runs; what cannot be read from here is left unobserved (None), never guessed.

use crate::core::access;
use crate::core::config::{AccessMode, Env};
use crate::core::kubeconfig::{doc, Entry};
use crate::core::observed::{NodeState, ObservedCluster};
use std::time::Duration;

const HANDSHAKE: Duration = Duration::from_secs(2);

/// Where the API server answers from here, in the order the contexts try it: the access
/// table's routes to kind's API, the zone we stand in first (`here`, from the zone detector).
/// Inside a devcontainer 127.0.0.1 is the container itself, so it is never dialed there first:
/// another server on that port would have its certificate read as the cluster's.
fn candidates(env: &Env, here: Option<AccessMode>) -> Vec<(String, u16)> {
    access::ordered(env, access::Endpoint::KindApi, env.access.mode, here)
        .iter()
        .filter_map(|r| host_port(&r.server))
        .collect()
}

/// `https://host:port` (IPv6 in brackets) as (host, port).
fn host_port(server: &str) -> Option<(String, u16)> {
    let rest = server.strip_prefix("https://")?;
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_owned(), port.parse().ok()?))
}

/// Fill in the certificate names and node labels of a running cluster. `admin` is a kubeconfig
/// with admin credentials (kind's admin.conf as the node holds it, read through Docker, so
/// observing spawns no process); without it the labels stay unobserved. True when the labels
/// were read: the API accepted those credentials.
pub async fn observe_running(
    env: &Env,
    here: Option<AccessMode>,
    seen: &mut ObservedCluster,
    admin: Option<&str>,
) -> bool {
    let Some(node) = seen
        .control_plane()
        .filter(|n| n.state == NodeState::Running)
        .map(|n| n.name.clone())
    else {
        return false;
    };
    let mut reached = None;
    for (host, port) in candidates(env, here) {
        // kind's certificate always holds `localhost` (its kubeadm template).
        if let Ok(names) =
            crate::drivers::probe::presented_names(&host, port, "localhost", HANDSHAKE).await
        {
            seen.api_cert_names = Some(names);
            reached = Some((host, port));
            break;
        }
    }
    let (Some((host, port)), Some(admin)) = (reached, admin) else {
        return false;
    };
    match node_labels(env, admin, &node, &host, port).await {
        Ok(labels) => {
            seen.node_labels = Some(labels);
            true
        }
        Err(e) => {
            tracing::debug!(
                target: crate::logging::TARGET,
                "node labels of {node} not observed: {e:#}"
            );
            false
        }
    }
}

async fn node_labels(
    env: &Env,
    admin: &str,
    node: &str,
    host: &str,
    port: u16,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    use k8s_openapi::api::core::v1::Node;
    let d = doc::parse(admin)?;
    let current = d["current-context"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the admin kubeconfig names no current context"))?;
    let c = doc::credentials(&d, current)?;
    let context = format!("kind-{}", env.cluster.name);
    let server = match host.parse::<std::net::Ipv6Addr>() {
        Ok(_) => format!("https://[{host}]:{port}"),
        Err(_) => format!("https://{host}:{port}"),
    };
    let entry = Entry {
        context: context.clone(),
        cluster: context.clone(),
        user: context.clone(),
        creds: doc::Credentials { server, ..c },
        tls_server_name: Some("localhost".into()),
        insecure_skip_tls_verify: false,
        namespace: None,
    };
    let mut d = doc::parse("apiVersion: v1\nkind: Config\n")?;
    doc::upsert(&mut d, std::slice::from_ref(&entry), "private")?;
    // In memory: nothing is written to read the node's labels.
    let kubeconfig = doc::standalone_typed(&d, &context)?;
    let client = crate::drivers::kube::client::client_of(
        kubeconfig,
        &context,
        &format!("kind's admin credentials for {node}"),
        None,
    )
    .await?;
    let n = kube::Api::<Node>::all(client).get(node).await?;
    Ok(n.metadata.labels.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

    #[test]
    fn a_devcontainer_never_dials_its_own_loopback_first() {
        let env = load_str("cluster: {name: x}\n", "t", &[]).env.unwrap();
        let dc = candidates(&env, Some(AccessMode::Devcontainer));
        assert_eq!(dc[0], ("host.docker.internal".to_owned(), 6443));
        assert_eq!(dc[1], ("x-control-plane".to_owned(), 6443));
        assert_eq!(dc.last().unwrap().0, "127.0.0.1", "{dc:?}");
        let host = candidates(&env, Some(AccessMode::Host));
        assert_eq!(host[0], ("127.0.0.1".to_owned(), 6443));
        // A pinned mode is the only route.
        let pinned = load_str(
            "cluster: {name: x}\naccess: {mode: kind-network}\n",
            "t",
            &[],
        )
        .env
        .unwrap();
        assert_eq!(
            candidates(&pinned, Some(AccessMode::Host)),
            vec![("x-control-plane".to_owned(), 6443)]
        );
        assert_eq!(host_port("https://[::1]:6443"), Some(("::1".into(), 6443)));
    }
}
