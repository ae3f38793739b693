//! The local registry through Docker: the registry container (created as kind's guide runs it:
//! `docker run -d --restart=always -p 127.0.0.1:5001:5000 --name <name> registry:3`, then
//! `docker network connect kind <name>`), and each node's `hosts.toml`, written through Docker's
//! archive API (what `docker cp` uses: the file lands whole, its folders are made) and read back
//! the same way. What to do is decided in `core::render::registry`; this only observes and acts.

use super::connect::{Conn, DockerError};
use super::network::KIND_NETWORK;
use super::observe::{observe_cluster, NodeState};
use crate::core::config::Registry;
use crate::core::render::registry::{self as render, Seen, SeenContainer, SeenNode};
use bollard::models::{
    ContainerCreateBody, HostConfig, NetworkConnectRequest, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, DownloadFromContainerOptions,
    InspectContainerOptions, RemoveContainerOptions, StartContainerOptions,
    UploadToContainerOptions,
};
use futures::StreamExt;
use std::collections::HashMap;

/// The label recording which environment made the container: `env/<cluster>`.
pub const OWNER_LABEL: &str = "dev.bootstrap.owner";
pub const ROLE_LABEL: &str = "dev.bootstrap.role";
const PORT_KEY: &str = "5000/tcp";

pub(super) fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Read-only: the container, kind's network, and every node's host file for our registry.
pub async fn observe(conn: &Conn, r: &Registry, cluster: &str) -> Result<Seen, DockerError> {
    let container = match conn
        .docker
        .inspect_container(&r.name, None::<InspectContainerOptions>)
        .await
    {
        Ok(i) => Some(container_from_inspect(i)),
        Err(e) if not_found(&e) => None,
        Err(e) => return Err(conn.error(&format!("inspecting container {}", r.name), e)),
    };
    let kind_network = match conn
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
    let mut nodes = Vec::new();
    // Every node's containerd; kind's load balancer (haproxy) pulls nothing.
    for n in observe_cluster(conn, cluster)
        .await?
        .nodes
        .into_iter()
        .filter(|n| n.role != crate::core::observed::LOAD_BALANCER_ROLE)
    {
        let running = n.state == NodeState::Running;
        let hosts_toml = if running {
            read_file(conn, &n.id, &format!("{}/hosts.toml", render::hosts_dir(r))).await?
        } else {
            None
        };
        nodes.push(SeenNode {
            name: n.name,
            id: n.id,
            running,
            hosts_toml,
        });
    }
    Ok(Seen {
        container,
        kind_network,
        nodes,
    })
}

/// Pure: what the diff needs from `docker inspect`.
pub fn container_from_inspect(i: bollard::models::ContainerInspectResponse) -> SeenContainer {
    let config = i.config.unwrap_or_default();
    let labels = config.labels.unwrap_or_default();
    let mut published: Vec<(String, u16)> = i
        .host_config
        .and_then(|h| h.port_bindings)
        .and_then(|mut b| b.remove(PORT_KEY))
        .flatten()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|b| {
            let port = b.host_port?.parse().ok()?;
            Some((
                b.host_ip
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                port,
            ))
        })
        .collect();
    published.sort();
    let mut networks: Vec<String> = i
        .network_settings
        .and_then(|n| n.networks)
        .map(|n| n.into_keys().collect())
        .unwrap_or_default();
    networks.sort();
    SeenContainer {
        id: i.id.unwrap_or_default(),
        running: i.state.and_then(|s| s.running).unwrap_or(false),
        owner: labels.get(OWNER_LABEL).cloned(),
        image: config.image.unwrap_or_default(),
        published,
        networks,
    }
}

/// One file out of a container, or None when it is not there.
pub(super) async fn read_file(
    conn: &Conn,
    id: &str,
    path: &str,
) -> Result<Option<String>, DockerError> {
    let mut stream = conn.docker.download_from_container(
        id,
        Some(DownloadFromContainerOptions {
            path: path.to_owned(),
        }),
    );
    let mut tar_bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => tar_bytes.extend_from_slice(&b),
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(conn.error(&format!("reading {path} in {id}"), e)),
        }
    }
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let entries = archive.entries().map_err(|e| tar_error(conn, path, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| tar_error(conn, path, e))?;
        if entry.header().entry_type().is_file() {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text)
                .map_err(|e| tar_error(conn, path, e))?;
            return Ok(Some(text));
        }
    }
    Ok(None)
}

fn tar_error(conn: &Conn, path: &str, e: std::io::Error) -> DockerError {
    DockerError::Api {
        uri: conn.endpoint.uri.clone(),
        during: format!("reading {path}"),
        status: 0,
        message: e.to_string(),
    }
}

/// Write one file into a container through the archive API; Docker makes its folders.
pub(super) async fn write_file(
    conn: &Conn,
    id: &str,
    path: &str,
    text: &str,
) -> Result<(), DockerError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    h.set_cksum();
    let rel = path.trim_start_matches('/');
    let body = tar
        .append_data(&mut h, rel, text.as_bytes())
        .and_then(|_| tar.into_inner())
        .map_err(|e| tar_error(conn, path, e))?;
    conn.docker
        .upload_to_container(
            id,
            Some(UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            }),
            bollard::body_full(body.into()),
        )
        .await
        .map_err(|e| conn.error(&format!("writing {path} in {id}"), e))
}

/// Remove one containerd host file (and its folder when empty) from a running node; the line
/// `down` reports.
pub(super) async fn remove_host_file(
    conn: &Conn,
    node_id: &str,
    node: &str,
    dir: &str,
) -> Result<String, DockerError> {
    let script = format!("rm -f '{dir}/hosts.toml' && rmdir '{dir}' 2>/dev/null; true");
    let code = exec(conn, node_id, &["sh", "-c", &script]).await?;
    if code != 0 {
        return Err(DockerError::Api {
            uri: conn.endpoint.uri.clone(),
            during: format!("removing {dir}/hosts.toml from node {node}"),
            status: 0,
            message: format!("`sh -c rm` exited {code} in the node"),
        });
    }
    Ok(format!("removed {dir}/hosts.toml from node {node}"))
}

/// Run a command in a container and wait for it; its exit code.
pub(super) async fn exec(conn: &Conn, id: &str, cmd: &[&str]) -> Result<i64, DockerError> {
    let created = conn
        .docker
        .create_exec(
            id,
            bollard::models::ExecConfig {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| conn.error(&format!("exec in {id}"), e))?;
    if let bollard::exec::StartExecResults::Attached { mut output, .. } = conn
        .docker
        .start_exec(&created.id, None::<bollard::exec::StartExecOptions>)
        .await
        .map_err(|e| conn.error(&format!("exec in {id}"), e))?
    {
        while output.next().await.is_some() {}
    }
    let info = conn
        .docker
        .inspect_exec(&created.id)
        .await
        .map_err(|e| conn.error(&format!("exec in {id}"), e))?;
    Ok(info.exit_code.unwrap_or(-1))
}

/// The image in Docker's store, pulled when it is not (`up` calls this before its first change).
pub async fn ensure_image(
    conn: &Conn,
    image: &str,
    note: &dyn Fn(&str),
) -> Result<(), DockerError> {
    match conn.docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(e) if not_found(&e) => {}
        Err(e) => return Err(conn.error(&format!("inspecting image {image}"), e)),
    }
    note(&format!("pulling {image}"));
    let (name, tag) = match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (image, "latest"),
    };
    let mut pull = conn.docker.create_image(
        Some(CreateImageOptions {
            from_image: Some(name.to_owned()),
            tag: Some(tag.to_owned()),
            ..Default::default()
        }),
        None,
        None,
    );
    while let Some(step) = pull.next().await {
        step.map_err(|e| {
            conn.error(
                &format!("pulling {image} (set registry.image to one Docker can get)"),
                e,
            )
        })?;
    }
    Ok(())
}

/// Carry out the diff's actions, in order. Returns one line per change.
pub async fn apply(
    conn: &Conn,
    r: &Registry,
    owner: &str,
    seen: &Seen,
    actions: &[render::Action],
    note: &dyn Fn(&str),
) -> Result<Vec<String>, DockerError> {
    let mut changes = Vec::new();
    let mut id = seen.container.as_ref().map(|c| c.id.clone());
    for a in actions {
        match a {
            render::Action::Create => {
                ensure_image(conn, &r.image, note).await?;
                let body = ContainerCreateBody {
                    image: Some(r.image.clone()),
                    labels: Some(HashMap::from([
                        (OWNER_LABEL.to_owned(), owner.to_owned()),
                        (ROLE_LABEL.to_owned(), "registry".to_owned()),
                    ])),
                    exposed_ports: Some(vec![PORT_KEY.to_owned()]),
                    host_config: Some(HostConfig {
                        port_bindings: Some(HashMap::from([(
                            PORT_KEY.to_owned(),
                            Some(vec![PortBinding {
                                host_ip: Some(r.listen_address.clone()),
                                host_port: Some(r.port.to_string()),
                            }]),
                        )])),
                        restart_policy: Some(RestartPolicy {
                            name: Some(RestartPolicyNameEnum::ALWAYS),
                            maximum_retry_count: None,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let created = conn
                    .docker
                    .create_container(
                        Some(CreateContainerOptions {
                            name: Some(r.name.clone()),
                            ..Default::default()
                        }),
                        body,
                    )
                    .await
                    .map_err(|e| {
                        conn.error(&format!("creating registry container {}", r.name), e)
                    })?;
                conn.docker
                    .start_container(&created.id, None::<StartContainerOptions>)
                    .await
                    .map_err(|e| {
                        conn.error(
                            &format!(
                                "starting registry container {} (is host port {}:{} free?)",
                                r.name, r.listen_address, r.port
                            ),
                            e,
                        )
                    })?;
                id = Some(created.id);
            }
            render::Action::Start => {
                let cid = id.as_deref().unwrap_or(&r.name);
                conn.docker
                    .start_container(cid, None::<StartContainerOptions>)
                    .await
                    .map_err(|e| {
                        conn.error(&format!("starting registry container {}", r.name), e)
                    })?;
            }
            render::Action::Connect => {
                conn.docker
                    .connect_network(
                        KIND_NETWORK,
                        NetworkConnectRequest {
                            container: id.clone().unwrap_or_else(|| r.name.clone()),
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| {
                        conn.error(
                            &format!("connecting {} to network {KIND_NETWORK}", r.name),
                            e,
                        )
                    })?;
            }
            render::Action::WriteHosts { node } => {
                let n = seen
                    .nodes
                    .iter()
                    .find(|n| &n.name == node)
                    .map(|n| n.id.clone())
                    .unwrap_or_else(|| node.clone());
                write_file(
                    conn,
                    &n,
                    &format!("{}/hosts.toml", render::hosts_dir(r)),
                    &render::hosts_toml(r, owner),
                )
                .await?;
            }
        }
        changes.push(a.describe(r));
    }
    Ok(changes)
}

/// Registry containers carrying our owner label, by id: found by the mark, not the name, so one
/// made under a name the file no longer says (or with the section since removed) still goes.
async fn owned_containers(conn: &Conn, owner: &str) -> Result<Vec<String>, DockerError> {
    let list = conn
        .docker
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![
                    format!("{OWNER_LABEL}={owner}"),
                    format!("{ROLE_LABEL}=registry"),
                ],
            )])),
            ..Default::default()
        }))
        .await
        .map_err(|e| conn.error("listing registry containers", e))?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

/// Remove what carries our mark: host files on running nodes, then the container (and its
/// anonymous storage volume, as `docker rm -v` does).
pub async fn remove(
    conn: &Conn,
    r: &Registry,
    owner: &str,
    seen: &Seen,
) -> Result<Vec<String>, DockerError> {
    let mut out = Vec::new();
    let mut removals = render::removals(r, owner, seen);
    if !r.shared {
        for id in owned_containers(conn, owner).await? {
            let rm = render::Removal::Container { id };
            if !removals.contains(&rm) {
                removals.push(rm);
            }
        }
    }
    for rm in removals {
        match rm {
            render::Removal::Hosts { node } => {
                let Some(n) = seen.nodes.iter().find(|n| n.name == node) else {
                    continue;
                };
                out.push(remove_host_file(conn, &n.id, &node, &render::hosts_dir(r)).await?);
            }
            render::Removal::Container { id } => {
                // Checked again right before: a name can change hands between look and delete.
                let (name, current) = match conn
                    .docker
                    .inspect_container(&id, None::<InspectContainerOptions>)
                    .await
                {
                    Ok(c) => (
                        c.name
                            .as_deref()
                            .map(|n| n.trim_start_matches('/').to_owned())
                            .unwrap_or_else(|| r.name.clone()),
                        container_from_inspect(c),
                    ),
                    Err(e) if not_found(&e) => continue,
                    Err(e) => return Err(conn.error(&format!("inspecting {}", r.name), e)),
                };
                if current.owner.as_deref() != Some(owner) {
                    continue;
                }
                match conn
                    .docker
                    .remove_container(
                        &id,
                        Some(RemoveContainerOptions {
                            force: true,
                            v: true,
                            ..Default::default()
                        }),
                    )
                    .await
                {
                    Ok(()) => out.push(format!("registry container {name} removed")),
                    Err(e) if not_found(&e) => {}
                    Err(e) => return Err(conn.error(&format!("removing {name}"), e)),
                }
            }
        }
    }
    Ok(out)
}
