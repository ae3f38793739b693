//! What runs inside kind's control-plane node, as far as the file sets it: the names the API
//! server's certificate holds (from its TLS handshake, no credentials needed) and the Node's
//! labels (through the kube API, with kind's admin credentials). Both are read only while the
//! node runs; what cannot be read from here is left unobserved (None), never guessed.

use crate::core::config::Env;
use crate::core::kubeconfig::{doc, Entry};
use crate::core::observed::{NodeState, ObservedCluster};
use std::time::Duration;

const HANDSHAKE: Duration = Duration::from_secs(2);

/// Where the API server answers from here, in order: where kind publishes it (the engine's
/// host), the node by name (kind's network), the host gateway (a devcontainer).
fn candidates(env: &Env, node: &str) -> Vec<(String, u16)> {
    let a = &env.cluster.api_server;
    let published = if a.address == "0.0.0.0" || a.address == "::" {
        "127.0.0.1".to_owned()
    } else {
        a.address.clone()
    };
    vec![
        (published, a.port),
        (node.to_owned(), 6443),
        (crate::core::access::HOST_GATEWAY.to_owned(), a.port),
    ]
}

/// Fill in the certificate names and node labels of a running cluster.
/// `admin` is kind's admin kubeconfig as the node holds it (read through Docker, so observing
/// spawns no process); without it the labels stay unobserved.
pub async fn observe_running(env: &Env, seen: &mut ObservedCluster, admin: Option<&str>) {
    let Some(node) = seen
        .nodes
        .iter()
        .find(|n| n.role == "control-plane" && n.state == NodeState::Running)
        .map(|n| n.name.clone())
    else {
        return;
    };
    let mut reached = None;
    for (host, port) in candidates(env, &node) {
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
        return;
    };
    match node_labels(env, admin, &node, &host, port).await {
        Ok(labels) => seen.node_labels = Some(labels),
        Err(e) => tracing::debug!(
            target: crate::logging::TARGET,
            "node labels of {node} not observed: {e:#}"
        ),
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
        server,
        tls_server_name: Some("localhost".into()),
        ca_pem: c.ca_pem,
        client_cert_pem: c.client_cert_pem,
        client_key_pem: c.client_key_pem,
        token: c.token,
        insecure_skip_tls_verify: false,
        namespace: None,
    };
    let mut d = doc::parse("apiVersion: v1\nkind: Config\n")?;
    doc::upsert(&mut d, std::slice::from_ref(&entry), "private")?;
    let dir = tempfile::Builder::new()
        .prefix("bootstrap-node-")
        .tempdir()?;
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, doc::to_yaml(&d)?)?;
    let client = crate::drivers::kube::client_for_context(&path, &context).await?;
    let n = kube::Api::<Node>::all(client).get(node).await?;
    Ok(n.metadata.labels.unwrap_or_default())
}
