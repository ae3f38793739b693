//! Gathers the facts the environment checks judge (`environment::docker_checks`,
//! `environment::secret_checks`): the kind node container through the docker module, and the
//! host cluster's secrets through kube. Each look is bounded by the verify timeout.

use crate::core::verify::environment::{DockerFacts, NodeFacts, Seen};
use k8s_openapi::api::core::v1::Secret;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The engine and the control-plane container of kind cluster `cluster`, through the docker
/// module (which finds Docker Desktop's socket and negotiates the API version), or through
/// `conn` when the caller is already connected.
pub async fn docker_facts(
    cluster: &str,
    timeout: Duration,
    conn: Option<crate::drivers::docker::Conn>,
) -> DockerFacts {
    let look = async {
        let conn = match conn {
            Some(c) => c,
            None => crate::drivers::docker::connect()
                .await
                .map_err(|e| e.to_string())?,
        };
        let observed = crate::drivers::docker::observe::observe_cluster(&conn, cluster)
            .await
            .map_err(|e| e.to_string())?;
        // With several control planes kind's load balancer publishes the API: its ports count
        // as the cluster's, beside the first control plane's (the router's host ports).
        let lb_ports = observed
            .load_balancer()
            .map(|lb| lb.ports.clone())
            .unwrap_or_default();
        let node = observed.control_plane().cloned().map(|n| NodeFacts {
            name: n.name,
            state: n.status,
            published: n
                .ports
                .into_iter()
                .chain(lb_ports)
                .filter(|p| p.protocol == "tcp")
                .map(|p| (p.container_port, p.host_ip, p.host_port))
                .collect(),
        });
        Ok::<_, String>((
            format!("{} (API {})", conn.endpoint.uri, conn.api_version),
            node,
        ))
    };
    match tokio::time::timeout(timeout, look).await {
        Ok(Ok((engine, node))) => DockerFacts {
            daemon: Ok(engine),
            node,
        },
        Ok(Err(e)) => DockerFacts {
            daemon: Err(e),
            node: None,
        },
        Err(_) => DockerFacts {
            daemon: Err(format!("no answer within {} ms", timeout.as_millis())),
            node: None,
        },
    }
}

/// Who publishes each of `ports` (TCP) on the engine, per port; None when Docker did not answer
/// within the timeout. Asked only after a refusal through the host gateway.
pub async fn publishers(
    ports: &[u16],
    timeout: Duration,
) -> Option<HashMap<u16, Vec<crate::core::verify::diagnose::Publisher>>> {
    let look = async {
        let conn = crate::drivers::docker::connect().await.ok()?;
        crate::drivers::docker::observe::port_holders(&conn)
            .await
            .ok()
    };
    let holders = tokio::time::timeout(timeout, look).await.ok().flatten()?;
    Some(
        ports
            .iter()
            .map(|port| {
                let mut found: Vec<crate::core::verify::diagnose::Publisher> = holders
                    .iter()
                    .filter(|h| h.host_port == *port && h.protocol == "tcp")
                    .map(|h| crate::core::verify::diagnose::Publisher {
                        container: h.container.clone(),
                        host_ip: h.host_ip.clone(),
                    })
                    .collect();
                found.dedup();
                (*port, found)
            })
            .collect(),
    )
}

/// Read each (namespace, name) secret through `context`. The client dials no proxy unless the
/// kubeconfig names one: kube would otherwise take HTTPS_PROXY for loopback traffic.
pub async fn secrets_seen(
    kc: &serde_json::Value,
    context: &str,
    wanted: &[(String, String)],
    timeout: Duration,
    client: Option<kube::Client>,
) -> Result<HashMap<(String, String), Seen>, String> {
    let client = match client {
        Some(c) => c,
        None => {
            let one = crate::core::kubeconfig::doc::standalone_typed(kc, context)
                .map_err(|e| e.to_string())?;
            crate::drivers::kube::client::client_of(
                one,
                context,
                &format!("context `{context}`"),
                Some(timeout),
            )
            .await
            .map_err(|e| format!("{e:#}"))?
        }
    };
    let reads = wanted.iter().map(|(ns, name)| {
        let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), ns);
        async move {
            let seen = match tokio::time::timeout(timeout, api.get_opt(name)).await {
                Ok(Ok(Some(s))) => Seen::Present {
                    labels: s
                        .metadata
                        .labels
                        .unwrap_or_default()
                        .into_iter()
                        .collect::<BTreeMap<_, _>>(),
                },
                Ok(Ok(None)) => Seen::Missing,
                Ok(Err(e)) => Seen::Error(error_chain(&e)),
                Err(_) => Seen::Error(format!("no answer within {} ms", timeout.as_millis())),
            };
            ((ns.clone(), name.clone()), seen)
        }
    });
    Ok(futures::future::join_all(reads).await.into_iter().collect())
}

/// kube says `client error (Connect)`; the cause is further down.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        cur = s.source();
    }
    out
}
