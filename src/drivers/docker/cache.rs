//! The pull-through caches through Docker: one registry container per upstream, in proxy mode,
//! its storage in a named volume, on kind's network; each node's `hosts.toml` for that upstream
//! through Docker's archive API (as the local registry's). What to do is decided in
//! `core::render::cache`; this only observes and acts, and touches only what carries the cache's
//! mark.

use super::connect::{Conn, DockerError};
use super::network::KIND_NETWORK;
use super::observe::{observe_cluster, NodeState};
use super::registry::{ensure_image, not_found, read_file, remove_host_file, write_file};
use crate::core::config::Cache;
use crate::core::render::cache::{
    self as render, container_name, Action, Credentials, Seen, SeenCache, SeenNode, Status,
    CACHE_LABEL, CREDENTIALS_LABEL, REMOTE_LABEL,
};
use bollard::models::{
    ContainerCreateBody, HostConfig, NetworkConnectRequest, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveVolumeOptions, StartContainerOptions,
};
use std::collections::{BTreeMap, HashMap};

const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "bootstrap");

fn seen_container(i: bollard::models::ContainerInspectResponse) -> SeenCache {
    let labels = i
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    SeenCache {
        name: i
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        id: i.id.unwrap_or_default(),
        running: i.state.and_then(|s| s.running).unwrap_or(false),
        image: i.config.and_then(|c| c.image).unwrap_or_default(),
        upstream: labels.get(CACHE_LABEL).cloned(),
        remote: labels.get(REMOTE_LABEL).cloned(),
        credentials: labels.get(CREDENTIALS_LABEL).cloned(),
        networks: i
            .network_settings
            .and_then(|n| n.networks)
            .map(|n| n.into_keys().collect())
            .unwrap_or_default(),
    }
}

/// Read-only: each upstream's cache container, kind's network, and (with `nodes`) every node's
/// host files.
pub async fn observe(
    conn: &Conn,
    cache: &Cache,
    cluster: &str,
    nodes: bool,
) -> Result<Seen, DockerError> {
    let mut seen = Seen::default();
    for u in &cache.upstreams {
        let name = container_name(&u.host);
        match conn
            .docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
        {
            Ok(i) => {
                seen.containers.insert(u.host.clone(), seen_container(i));
            }
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(conn.error(&format!("inspecting container {name}"), e)),
        }
    }
    seen.kind_network = match conn
        .docker
        .inspect_network(
            KIND_NETWORK,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
    {
        Ok(_) => true,
        Err(e) if not_found(&e) => false,
        Err(e) => return Err(conn.error("inspecting the kind network", e)),
    };
    if !nodes {
        return Ok(seen);
    }
    for n in observe_cluster(conn, cluster)
        .await?
        .nodes
        .into_iter()
        .filter(|n| n.role != crate::core::observed::LOAD_BALANCER_ROLE)
    {
        let running = n.state == NodeState::Running;
        let mut hosts = BTreeMap::new();
        if running {
            for u in &cache.upstreams {
                let path = format!("{}/hosts.toml", render::hosts_dir(&u.host));
                hosts.insert(u.host.clone(), read_file(conn, &n.id, &path).await?);
            }
        }
        seen.nodes.push(SeenNode {
            name: n.name,
            id: n.id,
            running,
            hosts,
        });
    }
    Ok(seen)
}

fn api_error(conn: &Conn, during: String, message: String) -> DockerError {
    DockerError::Api {
        uri: conn.endpoint.uri.clone(),
        during,
        status: 0,
        message,
    }
}

async fn create(
    conn: &Conn,
    cache: &Cache,
    host: &str,
    credentials: &BTreeMap<String, Credentials>,
    on_kind: bool,
    note: &dyn Fn(&str),
) -> Result<(), DockerError> {
    let Some(u) = cache.upstreams.iter().find(|u| u.host == host) else {
        return Ok(());
    };
    let name = container_name(host);
    let creds = credentials.get(host);
    let labels = |extra: &[(&str, String)]| {
        let mut m = HashMap::from([
            (CACHE_LABEL.to_owned(), host.to_owned()),
            (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        ]);
        for (k, v) in extra {
            m.insert((*k).to_owned(), v.clone());
        }
        m
    };
    // The volume first: one already there (a replaced container's) keeps what was pulled.
    match conn.docker.inspect_volume(&name).await {
        Ok(v) if v.labels.get(CACHE_LABEL).map(String::as_str) == Some(host) => {}
        Ok(_) => {
            return Err(api_error(
                conn,
                format!("creating volume {name}"),
                format!("a volume named {name} exists that is not bootstrap's cache for {host}: remove or rename it"),
            ))
        }
        Err(e) if not_found(&e) => {
            conn.docker
                .create_volume(VolumeCreateRequest {
                    name: Some(name.clone()),
                    labels: Some(labels(&[])),
                    ..Default::default()
                })
                .await
                .map_err(|e| conn.error(&format!("creating volume {name}"), e))?;
        }
        Err(e) => return Err(conn.error(&format!("inspecting volume {name}"), e)),
    }
    ensure_image(conn, &cache.image, note).await?;
    let body = ContainerCreateBody {
        image: Some(cache.image.clone()),
        env: Some(render::container_env(u, creds)),
        labels: Some(labels(&[
            (REMOTE_LABEL, u.remote.clone()),
            (
                CREDENTIALS_LABEL,
                creds.map_or_else(|| "none".to_owned(), Credentials::digest),
            ),
        ])),
        host_config: Some(HostConfig {
            binds: Some(vec![format!("{name}:{}", render::STORAGE)]),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            network_mode: on_kind.then(|| KIND_NETWORK.to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = conn
        .docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| conn.error(&format!("creating cache container {name}"), e))?;
    conn.docker
        .start_container(&created.id, None::<StartContainerOptions>)
        .await
        .map_err(|e| conn.error(&format!("starting cache container {name}"), e))?;
    Ok(())
}

/// Carry out the diff's actions, in order. One line per change.
pub async fn apply(
    conn: &Conn,
    cache: &Cache,
    owner: &str,
    credentials: &BTreeMap<String, Credentials>,
    seen: &Seen,
    actions: &[Action],
    note: &dyn Fn(&str),
) -> Result<Vec<String>, DockerError> {
    let mut changes = Vec::new();
    for a in actions {
        match a {
            Action::Create { host } => {
                create(conn, cache, host, credentials, seen.kind_network, note).await?;
            }
            Action::Replace { host, .. } => {
                let name = container_name(host);
                // Checked again right before: only a container carrying the cache's mark goes.
                match conn
                    .docker
                    .inspect_container(&name, None::<InspectContainerOptions>)
                    .await
                {
                    Ok(i)
                        if seen_container(i.clone()).upstream.as_deref() == Some(host.as_str()) =>
                    {
                        conn.docker
                            .remove_container(
                                &name,
                                Some(RemoveContainerOptions {
                                    force: true,
                                    ..Default::default()
                                }),
                            )
                            .await
                            .map_err(|e| conn.error(&format!("removing {name}"), e))?;
                    }
                    Ok(_) => {
                        return Err(api_error(
                            conn,
                            format!("replacing {name}"),
                            "it no longer carries bootstrap's cache mark".into(),
                        ))
                    }
                    Err(e) if not_found(&e) => {}
                    Err(e) => return Err(conn.error(&format!("inspecting {name}"), e)),
                }
                create(conn, cache, host, credentials, seen.kind_network, note).await?;
            }
            Action::Start { host } => {
                let name = container_name(host);
                conn.docker
                    .start_container(&name, None::<StartContainerOptions>)
                    .await
                    .map_err(|e| conn.error(&format!("starting cache container {name}"), e))?;
            }
            Action::Connect { host } => {
                let name = container_name(host);
                conn.docker
                    .connect_network(
                        KIND_NETWORK,
                        NetworkConnectRequest {
                            container: name.clone(),
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| {
                        conn.error(&format!("connecting {name} to network {KIND_NETWORK}"), e)
                    })?;
            }
            Action::WriteHosts { node, host } => {
                let Some(u) = cache.upstreams.iter().find(|u| &u.host == host) else {
                    continue;
                };
                let id = seen
                    .nodes
                    .iter()
                    .find(|n| &n.name == node)
                    .map(|n| n.id.clone())
                    .unwrap_or_else(|| node.clone());
                write_file(
                    conn,
                    &id,
                    &format!("{}/hosts.toml", render::hosts_dir(host)),
                    &render::hosts_toml(u, owner),
                )
                .await?;
            }
        }
        changes.push(a.describe(cache));
    }
    Ok(changes)
}

/// `down` with the nodes staying: this environment's host files go; the caches stay.
pub async fn remove_hosts(
    conn: &Conn,
    owner: &str,
    seen: &Seen,
) -> Result<Vec<String>, DockerError> {
    let mut out = Vec::new();
    for (node, host) in render::removals(owner, seen) {
        let Some(n) = seen.nodes.iter().find(|n| n.name == node) else {
            continue;
        };
        out.push(remove_host_file(conn, &n.id, &node, &render::hosts_dir(&host)).await?);
    }
    Ok(out)
}

/// Every container and volume carrying the cache's mark, whatever environment made them.
async fn marked(conn: &Conn) -> Result<(Vec<SeenCache>, Vec<(String, String)>), DockerError> {
    let filter = HashMap::from([("label".to_owned(), vec![CACHE_LABEL.to_owned()])]);
    let list = conn
        .docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filter.clone()),
            ..Default::default()
        }))
        .await
        .map_err(|e| conn.error("listing cache containers", e))?;
    let mut containers = Vec::new();
    for c in list {
        let Some(id) = c.id else { continue };
        match conn
            .docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
        {
            Ok(i) => containers.push(seen_container(i)),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(conn.error(&format!("inspecting {id}"), e)),
        }
    }
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let volumes = conn
        .docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filter),
        }))
        .await
        .map_err(|e| conn.error("listing cache volumes", e))?
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            let host = v.labels.get(CACHE_LABEL).cloned().unwrap_or_default();
            (v.name, host)
        })
        .collect();
    Ok((containers, volumes))
}

/// `bootstrap cache status`: each cache's state, its volume's size and its proxy counters.
pub async fn status(conn: &Conn) -> Result<Vec<Status>, DockerError> {
    let (containers, volumes) = marked(conn).await?;
    let sizes = super::df::volume_sizes(conn).await.unwrap_or_default();
    let mut out = Vec::new();
    for c in &containers {
        let host = c.upstream.clone().unwrap_or_default();
        let counters = if c.running {
            counters(conn, &c.name).await
        } else {
            None
        };
        out.push(Status {
            upstream: host,
            container: c.name.clone(),
            state: if c.running { "running" } else { "stopped" }.into(),
            bytes: sizes.get(&c.name).copied(),
            blobs: counters.map(|c| c.0),
            manifests: counters.map(|c| c.1),
        });
    }
    // A volume whose container is gone still holds what was pulled.
    for (name, host) in volumes {
        if !containers.iter().any(|c| c.name == name) {
            out.push(Status {
                upstream: host,
                container: name.clone(),
                state: "volume only".into(),
                bytes: sizes.get(&name).copied(),
                blobs: None,
                manifests: None,
            });
        }
    }
    Ok(out)
}

/// distribution's counters at its debug server, dialled at the container's address on kind's
/// network (reachable from a Linux host and from a container on that network; elsewhere the
/// counters are simply not shown).
async fn counters(conn: &Conn, name: &str) -> Option<(render::Counters, render::Counters)> {
    let i = conn
        .docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .ok()?;
    let ip = i
        .network_settings?
        .networks?
        .get(KIND_NETWORK)?
        .ip_address
        .clone()
        .filter(|ip| !ip.is_empty())?;
    let url = format!("http://{ip}:{}/debug/vars", render::DEBUG_PORT);
    let text = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(2)))
            .build()
            .into();
        agent
            .get(&url)
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()
    })
    .await
    .ok()??;
    render::counters_from_expvar(&text)
}

/// The cache's registry API (`ip:5000`) on kind's network, or on the network it is on before
/// kind's exists (a cold `up` makes the caches while kind makes its network).
pub async fn address(conn: &Conn, host: &str) -> Option<String> {
    let i = conn
        .docker
        .inspect_container(&container_name(host), None::<InspectContainerOptions>)
        .await
        .ok()?;
    let networks = i.network_settings?.networks?;
    let ip = networks
        .get(KIND_NETWORK)
        .into_iter()
        .chain(networks.values())
        .filter_map(|n| n.ip_address.clone())
        .find(|ip| !ip.is_empty())?;
    Some(format!("{ip}:{}", render::CONTAINER_PORT))
}

/// Whether the cache for `host` holds the image's manifest: the link distribution writes into
/// its storage once stored, read through the container (running or stopped), so nothing is
/// asked of the cache, which would ask its upstream.
pub async fn holds(
    conn: &Conn,
    host: &str,
    image: &oci_client::Reference,
) -> Result<bool, DockerError> {
    let path = format!(
        "{}/{}",
        render::STORAGE,
        crate::core::images::stored_link(image)
    );
    match read_file(conn, &container_name(host), &path).await {
        Ok(found) => Ok(found.is_some_and(|l| l.trim().starts_with("sha256:"))),
        Err(e) => Err(e),
    }
}

/// `bootstrap cache prune`: every container and volume carrying the cache's mark (for `only`'s
/// upstreams, when given); nothing else.
pub async fn prune(conn: &Conn, only: &[String]) -> Result<Vec<String>, DockerError> {
    let (mut containers, mut volumes) = marked(conn).await?;
    if !only.is_empty() {
        containers.retain(|c| c.upstream.as_ref().is_some_and(|u| only.contains(u)));
        volumes.retain(|(_, host)| only.contains(host));
    }
    let mut out = Vec::new();
    for c in containers {
        match conn
            .docker
            .remove_container(
                &c.id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(()) => out.push(format!("removed cache container {}", c.name)),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(conn.error(&format!("removing {}", c.name), e)),
        }
    }
    for (name, _) in volumes {
        match conn
            .docker
            .remove_volume(&name, None::<RemoveVolumeOptions>)
            .await
        {
            Ok(()) => out.push(format!("removed cache volume {name}")),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(conn.error(&format!("removing volume {name}"), e)),
        }
    }
    Ok(out)
}
