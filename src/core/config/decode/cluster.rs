//! The `cluster` section: provider, name, API server, nodes and port mappings.

use super::*;

const CLUSTER: &[&str] = &[
    "provider",
    "name",
    "context",
    "nodeImage",
    "apiServer",
    "portMappings",
    "nodeLabels",
    "extraCertSANs",
    "workers",
    "controlPlanes",
];
const API_SERVER: &[&str] = &["address", "port"];
const PORT_MAPPING: &[&str] = &["containerPort", "hostPort", "listenAddress", "protocol"];

impl Decoder<'_> {
    pub(super) fn cluster(&mut self, n: Option<&Node>) -> Cluster {
        let f = self.fields(n, "cluster", CLUSTER);
        let provider = self
            .pick(f.get("provider"), "cluster.provider")
            .unwrap_or(Provider::Kind);
        let name = self
            .string(f.get("name"), "cluster.name")
            .unwrap_or_else(|| DEFAULT_CLUSTER_NAME.into());
        let context = self
            .string(f.get("context"), "cluster.context")
            .unwrap_or_else(|| format!("kind-{name}"));
        if f.get("context").is_none() {
            self.derived_from("cluster.context", &["cluster.name"]);
        }
        let api = self.fields(f.get("apiServer"), "cluster.apiServer", API_SERVER);
        let api_server = ApiServer {
            address: self
                .string(api.get("address"), "cluster.apiServer.address")
                .unwrap_or_else(|| "127.0.0.1".into()),
            port: self
                .port(api.get("port"), "cluster.apiServer.port")
                .unwrap_or(6443),
        };
        let mut port_mappings = Vec::new();
        let mut mapping_index = Vec::new();
        for (i, item) in self
            .list(f.get("portMappings"), "cluster.portMappings")
            .iter()
            .enumerate()
        {
            let p = format!("cluster.portMappings[{i}]");
            let m = self.fields(Some(item), &p, PORT_MAPPING);
            let container_port = self.port(m.get("containerPort"), &format!("{p}.containerPort"));
            let host_port = self.port(m.get("hostPort"), &format!("{p}.hostPort"));
            let listen_address = self
                .string(m.get("listenAddress"), &format!("{p}.listenAddress"))
                .unwrap_or_else(|| "0.0.0.0".into());
            let protocol = self
                .pick(m.get("protocol"), &format!("{p}.protocol"))
                .unwrap_or(Protocol::Tcp);
            for (key, v) in [("containerPort", container_port), ("hostPort", host_port)] {
                if v.is_none() && m.get(key).is_none() {
                    self.reject(
                        &at(item),
                        &format!("{p}.{key}"),
                        format!("`{key}` is required"),
                        Some("a port mapping needs containerPort and hostPort".into()),
                    );
                }
            }
            if let (Some(container_port), Some(host_port)) = (container_port, host_port) {
                port_mappings.push(PortMapping {
                    container_port,
                    host_port,
                    listen_address,
                    protocol,
                });
                mapping_index.push(i);
            } else {
                self.origins.rejected.insert(p);
            }
        }
        self.origins
            .items
            .insert("cluster.portMappings".into(), mapping_index);
        Cluster {
            provider,
            context,
            node_image: self.string(f.get("nodeImage"), "cluster.nodeImage"),
            api_server,
            port_mappings,
            node_labels: self.string_map(f.get("nodeLabels"), "cluster.nodeLabels"),
            extra_cert_sans: self.string_list(f.get("extraCertSANs"), "cluster.extraCertSANs"),
            workers: self
                .node_count(
                    f.get("workers"),
                    "cluster.workers",
                    0,
                    MAX_WORKERS,
                    "0 lets the control plane run everything (kind's default); each node is a container with its own kubelet and containerd",
                )
                .unwrap_or(0),
            control_planes: self
                .node_count(
                    f.get("controlPlanes"),
                    "cluster.controlPlanes",
                    1,
                    MAX_CONTROL_PLANES,
                    "1 is kind's default; more run behind kind's load balancer container, and an odd number keeps etcd's quorum",
                )
                .unwrap_or(1),
            name,
        }
    }
}
