//! The access table: which server and tls-server-name reach an endpoint from where the user
//! stands. Certificates stay verified everywhere; `tls-server-name` carries the name the
//! certificate holds whenever the dialed name is not in it (it sets both SNI and the name checked).

use crate::core::config::{AccessMode, Env, Provider, Vcluster};
use serde::Serialize;

/// The side a route is dialled from: what the access table is indexed by. Not where the user
/// stands (`core::zone::Zone`, the detected verdict), nor what they chose (`AccessMode`, which
/// names the origins to try).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Linux or macOS host, and WSL2 with Docker Desktop (which forwards published ports to it).
    Host,
    /// A container using the host's Docker socket: 127.0.0.1 is the container itself.
    Devcontainer,
    /// A container joined to kind's Docker network: node containers resolve by name.
    KindNetwork,
}

impl Origin {
    /// Zones tried, in order, for an access mode. `auto` tries all; the shell orders them by
    /// the detected zone and keeps the first route that verifies.
    pub fn for_mode(mode: AccessMode) -> Vec<Origin> {
        match mode {
            AccessMode::Host | AccessMode::Wsl2 => vec![Origin::Host],
            AccessMode::Devcontainer => vec![Origin::Devcontainer, Origin::KindNetwork],
            AccessMode::KindNetwork => vec![Origin::KindNetwork],
            AccessMode::Auto => vec![Origin::Host, Origin::Devcontainer, Origin::KindNetwork],
        }
    }
}

/// What a context dials from one origin: the server, and the name its certificate holds when the
/// dialed one is not in it. (A "route" in this tree is the router's object, an Ingress or a
/// TLSRoute; what is behind the server is `verify::diagnose::Via`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dial {
    pub zone: Origin,
    pub server: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a context points at.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    KindApi,
    Vcluster(&'a Vcluster),
}

pub const HOST_GATEWAY: &str = "host.docker.internal";

fn dial(zone: Origin, server: String, tls: Option<&str>, note: Option<&str>) -> Dial {
    Dial {
        zone,
        server,
        tls_server_name: tls.map(str::to_owned),
        note: note.map(str::to_owned),
    }
}

/// The route for one endpoint from one zone; None where that zone has no route to it.
pub fn dial_for(env: &Env, endpoint: Endpoint, zone: Origin) -> Option<Dial> {
    let node = format!("{}-control-plane", env.cluster.name);
    match endpoint {
        Endpoint::KindApi => {
            let port = env.cluster.api_server.port;
            let address = env.cluster.api_server.address.as_str();
            Some(match zone {
                // Where kind publishes it. kind's certificate holds localhost and the address it
                // publishes on: a wildcard is dialed on 127.0.0.1 by the name localhost; any
                // other address (loopback, or one interface such as the docker0 bridge) is
                // dialed itself, since the port is bound there only.
                Origin::Host => match address {
                    "0.0.0.0" | "::" => dial(
                        zone,
                        format!("https://127.0.0.1:{port}"),
                        Some("localhost"),
                        None,
                    ),
                    a if a.contains(':') => dial(zone, format!("https://[{a}]:{port}"), None, None),
                    a => dial(zone, format!("https://{a}:{port}"), None, None),
                },
                Origin::Devcontainer => dial(
                    zone,
                    format!("https://{HOST_GATEWAY}:{port}"),
                    Some("localhost"),
                    Some(if env.cluster.api_server.address == "127.0.0.1" {
                        "works on Docker Desktop; a Linux engine refuses host.docker.internal for ports published on 127.0.0.1 (use kind-network)"
                    } else {
                        "the API is published on a non-loopback address, which containers reach through the host gateway"
                    }),
                ),
                // With several control planes, kind's load balancer is the API's address on its
                // network (kubeadm's controlPlaneEndpoint, so the certificate holds its name).
                Origin::KindNetwork => dial(
                    zone,
                    format!(
                        "https://{}:6443",
                        if env.cluster.control_planes > 1 {
                            crate::core::observed::node_name(
                                &env.cluster.name,
                                crate::core::observed::LOAD_BALANCER_ROLE,
                                0,
                            )
                        } else {
                            node.clone()
                        }
                    ),
                    None,
                    Some("needs this container joined to the `kind` network"),
                ),
            })
        }
        Endpoint::Vcluster(v) => {
            let port = env.router.https_port;
            // A real cluster's router is reached by its hostname from anywhere (its load
            // balancer or its nodes): the same route from every zone.
            if env.cluster.provider == Provider::Existing {
                return Some(dial(
                    zone,
                    format!("https://{}:{port}", v.hostname),
                    None,
                    None,
                ));
            }
            Some(match zone {
                Origin::Host => dial(zone, format!("https://{}:{port}", v.hostname), None, None),
                Origin::Devcontainer => dial(
                    zone,
                    format!("https://{HOST_GATEWAY}:{port}"),
                    Some(&v.hostname),
                    None,
                ),
                Origin::KindNetwork => dial(
                    zone,
                    format!("https://{node}:443"),
                    Some(&v.hostname),
                    Some("needs this container joined to the `kind` network"),
                ),
            })
        }
    }
}

/// Zones to try first: the one we stand in, then the rest in the table's order.
pub fn zone_order(mode: AccessMode, here: Option<AccessMode>) -> AccessMode {
    match (mode, here) {
        (AccessMode::Auto, Some(h)) => h,
        (m, _) => m,
    }
}

/// The candidates in the order they are tried from here: under `auto`, the zone we stand in
/// (`here`, what the zone detector resolved) first. Every route the tool dials, for a context or
/// for a check, comes from this one list.
pub fn ordered(
    env: &Env,
    endpoint: Endpoint,
    mode: AccessMode,
    here: Option<AccessMode>,
) -> Vec<Dial> {
    let mut all = candidates(env, endpoint, mode);
    if mode == AccessMode::Auto {
        let first = Origin::for_mode(zone_order(mode, here));
        all.sort_by_key(|r| {
            first
                .iter()
                .position(|z| *z == r.zone)
                .unwrap_or(usize::MAX)
        });
    }
    all
}

/// Candidate routes for an endpoint under an access mode, in the order they are tried.
pub fn candidates(env: &Env, endpoint: Endpoint, mode: AccessMode) -> Vec<Dial> {
    let mut out: Vec<Dial> = Vec::new();
    for zone in Origin::for_mode(mode) {
        if let Some(r) = dial_for(env, endpoint, zone) {
            if !out
                .iter()
                .any(|o| o.server == r.server && o.tls_server_name == r.tls_server_name)
            {
                out.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

    fn env() -> Env {
        load_str(
            "cluster: {name: localdev}\nrouter: {domain: cnoe.localtest.me}\nvclusters:\n  - name: dev\n  - name: staging\n",
            "t.yaml",
            &[],
        )
        .env
        .unwrap()
    }

    #[test]
    fn the_access_table() {
        let e = env();
        let dev = &e.vclusters[0];
        let r = |ep, z| dial_for(&e, ep, z).unwrap();
        assert_eq!(
            r(Endpoint::KindApi, Origin::Host).server,
            "https://127.0.0.1:6443"
        );
        assert_eq!(r(Endpoint::KindApi, Origin::Host).tls_server_name, None);
        let d = r(Endpoint::KindApi, Origin::Devcontainer);
        assert_eq!(
            (d.server.as_str(), d.tls_server_name.as_deref()),
            ("https://host.docker.internal:6443", Some("localhost"))
        );
        assert_eq!(
            r(Endpoint::KindApi, Origin::KindNetwork).server,
            "https://localdev-control-plane:6443"
        );
        let v = r(Endpoint::Vcluster(dev), Origin::Host);
        assert_eq!(
            (v.server.as_str(), v.tls_server_name),
            ("https://dev-vcluster.cnoe.localtest.me:8443", None)
        );
        let v = r(Endpoint::Vcluster(dev), Origin::Devcontainer);
        assert_eq!(v.server, "https://host.docker.internal:8443");
        // Never localhost on a passthrough route: the router routes on SNI.
        assert_eq!(
            v.tls_server_name.as_deref(),
            Some("dev-vcluster.cnoe.localtest.me")
        );
        let v = r(Endpoint::Vcluster(dev), Origin::KindNetwork);
        assert_eq!(v.server, "https://localdev-control-plane:443");
        assert_eq!(
            v.tls_server_name.as_deref(),
            Some("dev-vcluster.cnoe.localtest.me")
        );
        // Every vcluster is reached through the router, from every zone.
        let staging = &e.vclusters[1];
        for z in [Origin::Host, Origin::Devcontainer, Origin::KindNetwork] {
            let v = r(Endpoint::Vcluster(staging), z);
            assert!(
                v.server.ends_with(":8443") || v.server.ends_with(":443"),
                "{v:?}"
            );
            assert_ne!(v.tls_server_name.as_deref(), Some("localhost"), "{v:?}");
        }
    }

    #[test]
    fn auto_deduplicates_and_orders() {
        let e = env();
        let c = candidates(&e, Endpoint::Vcluster(&e.vclusters[1]), AccessMode::Auto);
        assert_eq!(c.len(), 3, "one route per zone: {c:?}");
        let c = candidates(&e, Endpoint::KindApi, AccessMode::Auto);
        assert_eq!(
            c.iter().map(|r| r.zone).collect::<Vec<_>>(),
            vec![Origin::Host, Origin::Devcontainer, Origin::KindNetwork]
        );
        assert_eq!(candidates(&e, Endpoint::KindApi, AccessMode::Wsl2).len(), 1);
    }

    #[test]
    fn the_host_dials_the_api_where_kind_publishes_it() {
        let route = |address: &str| {
            let e = load_str(
                &format!("cluster: {{apiServer: {{address: '{address}', port: 6443}}}}\n"),
                "t",
                &[],
            )
            .env
            .unwrap();
            let r = dial_for(&e, Endpoint::KindApi, Origin::Host).unwrap();
            (r.server, r.tls_server_name)
        };
        // Bound on one interface only: dialed there; the certificate holds the address.
        assert_eq!(
            route("172.17.0.1"),
            ("https://172.17.0.1:6443".into(), None)
        );
        assert_eq!(route("127.0.0.1"), ("https://127.0.0.1:6443".into(), None));
        assert_eq!(route("::1"), ("https://[::1]:6443".into(), None));
        // All addresses: loopback, by the name the certificate holds.
        assert_eq!(
            route("0.0.0.0"),
            ("https://127.0.0.1:6443".into(), Some("localhost".into()))
        );
    }
}
