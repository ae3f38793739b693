//! The writes we make to Docker ourselves: start a stopped node, and remove a cluster's nodes when
//! no kind executable is there to do it. Everything else is kind's job.

use super::connect::{Conn, DockerError};
use super::observe::{NodeState, ObservedCluster, CLUSTER_LABEL};
use bollard::query_parameters::{
    InspectContainerOptions, RemoveContainerOptions, StartContainerOptions,
};

/// Start (or unpause) every node that is not running; returns the names acted on.
pub async fn start_nodes(
    conn: &Conn,
    cluster: &ObservedCluster,
) -> Result<Vec<String>, DockerError> {
    let mut started = Vec::new();
    for n in &cluster.nodes {
        let r = match n.state {
            NodeState::Running => continue,
            NodeState::Paused => conn.docker.unpause_container(&n.id).await,
            NodeState::Stopped | NodeState::Other => {
                conn.docker
                    .start_container(&n.id, None::<StartContainerOptions>)
                    .await
            }
        };
        r.map_err(|e| conn.error(&format!("starting {}", n.name), e))?;
        started.push(n.name.clone());
    }
    Ok(started)
}

/// Remove the observed nodes, each checked again to carry this cluster's label right before it
/// goes: a name can be reused by someone else between our look and our delete.
pub async fn remove_nodes(
    conn: &Conn,
    cluster: &ObservedCluster,
) -> Result<Vec<String>, DockerError> {
    let mut removed = Vec::new();
    for n in &cluster.nodes {
        let current = match conn
            .docker
            .inspect_container(&n.id, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => c,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => continue,
            Err(e) => return Err(conn.error(&format!("inspecting {}", n.name), e)),
        };
        let label = current
            .config
            .and_then(|c| c.labels)
            .and_then(|l| l.get(CLUSTER_LABEL).cloned());
        if label.as_deref() != Some(cluster.name.as_str()) {
            continue;
        }
        let opts = RemoveContainerOptions {
            force: true,
            // kind's nodes keep /var in an anonymous volume; kind removes it with the node.
            v: true,
            ..Default::default()
        };
        match conn.docker.remove_container(&n.id, Some(opts)).await {
            Ok(()) => removed.push(n.name.clone()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(conn.error(&format!("removing {}", n.name), e)),
        }
    }
    Ok(removed)
}
