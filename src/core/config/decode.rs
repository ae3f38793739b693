//! Typed decoding of the spanned tree into `Env`, with defaults, collecting every error.

use super::diag::{suggest, At, Diags};
use super::model::*;
use super::node::{Key, Node, Pos, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const API_VERSION: &str = "bootstrap/v1alpha1";
pub const DEFAULT_CLUSTER_NAME: &str = "bootstrap";
pub const DEFAULT_DOMAIN: &str = "localtest.me";
/// The most `cluster.workers` accepted: each node is a container with its own kubelet and
/// containerd (some 300 MiB of memory idle), so more is a typo far more often than a plan.
pub const MAX_WORKERS: u32 = 16;
/// The most `cluster.controlPlanes` accepted: kind stacks etcd on each, and five tolerate two
/// failures; more only slows a laptop.
pub const MAX_CONTROL_PLANES: u32 = 5;
// Versions for a file that names none: the current pins, with where each was checked.
pub use super::pins::{
    INGRESS_NGINX_REPO, INGRESS_NGINX_VERSION, TRAEFIK_CHART, TRAEFIK_REPO, TRAEFIK_VERSION,
    VCLUSTER_REPO, VCLUSTER_VERSION,
};

const TOP: &[&str] = &[
    "apiVersion",
    "cluster",
    "router",
    "vclusters",
    "access",
    "kubeconfig",
    "argocd",
    "registry",
    "cache",
];
const CACHE: &[&str] = &["enabled", "image", "upstreams", "credentials"];
const UPSTREAM: &[&str] = &["host", "remote"];
/// The upstreams a `cache:` section without `upstreams` proxies: where the router's, vcluster's
/// and ArgoCD's images come from.
pub const DEFAULT_UPSTREAMS: &[&str] = &["docker.io", "ghcr.io", "registry.k8s.io", "quay.io"];
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
const ROUTER: &[&str] = &[
    "kind",
    "passthrough",
    "domain",
    "httpsPort",
    "namespace",
    "release",
    "chart",
    "values",
    "service",
    "domainFromAddress",
];
const CHART: &[&str] = &["repo", "name", "version", "path"];
const VCLUSTER: &[&str] = &[
    "name",
    "namespace",
    "release",
    "chart",
    "hostname",
    "context",
    "access",
    "values",
];
/// Keys that were valid once, each with why it went and what to write instead; reported by the
/// section that owned them rather than as unknown keys.
const VCLUSTER_REMOVED: &[&str] = &["localPort"];

/// Why `access: port-forward` (and its `localPort`) went, said wherever a file still uses it.
const PORT_FORWARD_GONE: &str = "nothing supervises a port-forward: it dies with the terminal that started it and with the laptop's sleep";
const ACCESS: &[&str] = &["mode", "insecureSkipTLSVerify"];
const KUBECONFIG: &[&str] = &["path", "currentContext"];
const ARGOCD: &[&str] = &["register", "namespace", "labels"];
const REGISTRY: &[&str] = &[
    "enabled",
    "name",
    "port",
    "listenAddress",
    "image",
    "shared",
];
/// The image kind's local-registry guide runs at v0.32.0 (site/static/examples/kind-with-registry.sh).
pub const REGISTRY_IMAGE: &str = "registry:3";
pub const REGISTRY_PORT: u16 = 5001;

/// Where each decoded field came from, so semantic checks can point at it; and which fields
/// hold a default only because the value written was rejected, so the checks that run after a
/// failed decode do not report the default's consequences as mistakes of their own.
#[derive(Debug, Default, Clone)]
pub struct Origins {
    map: BTreeMap<String, At>,
    rejected: BTreeSet<String>,
    /// For each list (`vclusters`), the file index of each decoded item: an item that could not
    /// be decoded is left out of `Env`, which must not shift the names of the ones after it.
    items: BTreeMap<String, Vec<usize>>,
}

impl Origins {
    /// The field path of the `i`th decoded item of `list`, as the file numbers it.
    pub fn item(&self, list: &str, i: usize) -> String {
        let n = self
            .items
            .get(list)
            .and_then(|idx| idx.get(i))
            .copied()
            .unwrap_or(i);
        format!("{list}[{n}]")
    }

    /// Whether the file (or a variable or flag) wrote this field, rather than a default.
    pub fn written(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    /// Whether the field, or a section holding it, was rejected: its value is a stand-in.
    pub fn rejected(&self, field: &str) -> bool {
        let mut f = field;
        loop {
            if self.rejected.contains(f) {
                return true;
            }
            match f.rfind(['.', '[']) {
                Some(i) => f = &f[..i],
                None => return false,
            }
        }
    }

    /// Whether an item of `list` was left out, or a field named `leaf` of one was rejected.
    pub fn any_rejected_in(&self, list: &str, leaf: &str) -> bool {
        self.rejected.iter().any(|r| {
            r.strip_prefix(list)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.split_once(']'))
                .is_some_and(|(_, tail)| tail.is_empty() || tail == format!(".{leaf}"))
        }) || self.rejected(list)
    }

    pub fn get(&self, field: &str) -> At {
        // A defaulted field points at its closest written parent, so the user sees where to add it.
        let mut f = field;
        loop {
            if let Some(at) = self.map.get(f) {
                return at.clone();
            }
            match f.rfind(['.', '[']) {
                Some(i) => f = &f[..i],
                None => return At::default(),
            }
        }
    }
}

pub(crate) fn at(n: &Node) -> At {
    At {
        pos: n.pos,
        from: n.from.clone(),
    }
}

struct Fields<'n> {
    entries: &'n [(Key, Node)],
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
            .filter(|v| v.value != Value::Null)
    }
}

struct Decoder<'d> {
    d: &'d mut Diags,
    origins: Origins,
}

use super::node::join;

impl Decoder<'_> {
    fn note(&mut self, path: &str, n: &Node) {
        self.origins.map.insert(path.to_owned(), at(n));
    }

    /// An error that leaves `path` at its default: later checks must not trust that default.
    fn reject(&mut self, at: &At, path: &str, message: impl Into<String>, hint: Option<String>) {
        self.origins.rejected.insert(path.to_owned());
        self.d.error(at, path, message, hint);
    }

    /// `path` is derived from fields that were rejected, so it is a stand-in too.
    fn derived_from(&mut self, path: &str, sources: &[&str]) {
        if sources.iter().any(|s| self.origins.rejected(s)) {
            self.origins.rejected.insert(path.to_owned());
        }
    }

    fn type_error(&mut self, n: &Node, path: &str, expected: &str) {
        self.reject(
            &at(n),
            path,
            format!("expected {expected}, found {}", n.value.type_name()),
            None,
        );
    }

    /// A mapping with only the given keys; a missing or empty section reads as empty.
    fn fields<'n>(&mut self, n: Option<&'n Node>, path: &str, keys: &[&str]) -> Fields<'n> {
        self.fields_except(n, path, keys, &[])
    }

    /// As `fields`, leaving `removed` keys to the caller, which explains each.
    fn fields_except<'n>(
        &mut self,
        n: Option<&'n Node>,
        path: &str,
        keys: &[&str],
        removed: &[&str],
    ) -> Fields<'n> {
        let Some(n) = n else {
            return Fields { entries: &[] };
        };
        self.note(path, n);
        match &n.value {
            Value::Map(entries) => {
                for (k, _) in entries {
                    if !keys.contains(&k.name.as_str()) && !removed.contains(&k.name.as_str()) {
                        let hint = match suggest(&k.name, keys) {
                            Some(s) => {
                                format!("did you mean `{s}`? valid keys here: {}", keys.join(", "))
                            }
                            None => format!("valid keys here: {}", keys.join(", ")),
                        };
                        let message = if k.name.is_empty() {
                            "an empty key is not valid here".to_owned()
                        } else {
                            format!("unknown key `{}`", k.name)
                        };
                        self.d
                            .error(&At::file(k.pos), &join(path, &k.name), message, Some(hint));
                    }
                }
                Fields { entries }
            }
            Value::Null => Fields { entries: &[] },
            _ => {
                self.type_error(
                    n,
                    if path.is_empty() { "(top level)" } else { path },
                    "a mapping",
                );
                Fields { entries: &[] }
            }
        }
    }

    fn string(&mut self, n: Option<&Node>, path: &str) -> Option<String> {
        let n = n?;
        self.note(path, n);
        match &n.value {
            Value::Str(s) if s.trim().is_empty() => {
                self.reject(&at(n), path, "must not be empty", None);
                None
            }
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.type_error(n, path, "a string");
                None
            }
        }
    }

    /// Label values and the like: Kubernetes wants strings, but `true` or `3` is what was meant.
    fn scalar_string(&mut self, n: &Node, path: &str) -> Option<String> {
        self.note(path, n);
        match &n.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            _ => {
                self.type_error(n, path, "a string");
                None
            }
        }
    }

    fn port(&mut self, n: Option<&Node>, path: &str) -> Option<u16> {
        let n = n?;
        self.note(path, n);
        let v = match &n.value {
            Value::Int(i) => *i,
            // Variables arrive as text; a quoted number in the file is still a number to a person.
            Value::Str(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().unwrap_or(-1),
            _ => {
                self.type_error(n, path, "a port number (1-65535)");
                return None;
            }
        };
        if !(1..=65535).contains(&v) {
            self.reject(
                &at(n),
                path,
                format!("port {v} is out of range"),
                Some("a port is a whole number from 1 to 65535".into()),
            );
            return None;
        }
        Some(v as u16)
    }

    /// A node count: a whole number in `min..=max` (a quoted one is a number to a person).
    fn node_count(
        &mut self,
        n: Option<&Node>,
        path: &str,
        min: u32,
        max: u32,
        hint: &str,
    ) -> Option<u32> {
        let n = n?;
        self.note(path, n);
        let v = match &n.value {
            Value::Int(i) => *i,
            Value::Str(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().unwrap_or(-1),
            _ => {
                self.type_error(n, path, &format!("a whole number from {min} to {max}"));
                return None;
            }
        };
        if !(i64::from(min)..=i64::from(max)).contains(&v) {
            self.reject(
                &at(n),
                path,
                format!("{v} is out of range"),
                Some(format!("from {min} to {max}: {hint}")),
            );
            return None;
        }
        Some(v as u32)
    }

    fn boolean(&mut self, n: Option<&Node>, path: &str) -> Option<bool> {
        let n = n?;
        self.note(path, n);
        match &n.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if n.from.is_some() && (s == "true" || s == "false") => Some(s == "true"),
            Value::Str(s) => {
                self.reject(
                    &at(n),
                    path,
                    format!("expected true or false, found the string `{s}`"),
                    Some("only `true` and `false` are booleans here (not yes/no/on/off)".into()),
                );
                None
            }
            _ => {
                self.type_error(n, path, "true or false");
                None
            }
        }
    }

    fn choice(
        &mut self,
        n: Option<&Node>,
        path: &str,
        valid: &[&'static str],
    ) -> Option<&'static str> {
        let n = n?;
        let s = self.string(Some(n), path)?;
        if let Some(v) = valid.iter().find(|v| **v == s) {
            return Some(v);
        }
        let hint = match suggest(&s, valid) {
            Some(g) => format!("did you mean `{g}`? valid values: {}", valid.join(", ")),
            None => format!("valid values: {}", valid.join(", ")),
        };
        self.reject(
            &at(n),
            path,
            format!("`{s}` is not a valid value"),
            Some(hint),
        );
        None
    }

    fn list<'n>(&mut self, n: Option<&'n Node>, path: &str) -> &'n [Node] {
        let Some(n) = n else { return &[] };
        self.note(path, n);
        match &n.value {
            Value::Seq(items) => items,
            _ => {
                self.type_error(n, path, "a list");
                &[]
            }
        }
    }

    fn string_list(&mut self, n: Option<&Node>, path: &str) -> Vec<String> {
        let items = self.list(n, path);
        let mut out = Vec::new();
        let mut index = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.string(Some(item), &format!("{path}[{i}]")) {
                out.push(s);
                index.push(i);
            }
        }
        self.origins.items.insert(path.to_owned(), index);
        out
    }

    fn string_map(&mut self, n: Option<&Node>, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(n) = n else { return out };
        self.note(path, n);
        match &n.value {
            Value::Map(entries) => {
                for (k, v) in entries {
                    if let Some(s) = self.scalar_string(v, &join(path, &k.name)) {
                        out.insert(k.name.clone(), s);
                    }
                }
            }
            _ => self.type_error(n, path, "a mapping of strings"),
        }
        out
    }

    fn values(&mut self, n: Option<&Node>, path: &str) -> serde_json::Value {
        let Some(n) = n else {
            return serde_json::Value::Object(Default::default());
        };
        self.note(path, n);
        match &n.value {
            Value::Map(_) => n.to_json(),
            _ => {
                self.type_error(n, path, "a mapping of chart values");
                serde_json::Value::Object(Default::default())
            }
        }
    }

    fn chart(
        &mut self,
        n: Option<&Node>,
        path: &str,
        repo: &str,
        name: &str,
        version: &str,
    ) -> Chart {
        let f = self.fields(n, path, CHART);
        let path_ = self.string(f.get("path"), &join(path, "path"));
        let explicit_repo = self.string(f.get("repo"), &join(path, "repo"));
        Chart {
            repo: if path_.is_some() {
                explicit_repo
            } else {
                explicit_repo.or(Some(repo.into()))
            },
            name: self
                .string(f.get("name"), &join(path, "name"))
                .unwrap_or_else(|| name.into()),
            version: match self.string(f.get("version"), &join(path, "version")) {
                Some(v) => Some(v),
                None if path_.is_some() => None,
                None => Some(version.into()),
            },
            path: path_,
        }
    }

    fn cluster(&mut self, n: Option<&Node>) -> Cluster {
        let f = self.fields(n, "cluster", CLUSTER);
        let provider =
            match self.choice(f.get("provider"), "cluster.provider", &["kind", "existing"]) {
                Some("existing") => Provider::Existing,
                _ => Provider::Kind,
            };
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
            let protocol = match self.choice(
                m.get("protocol"),
                &format!("{p}.protocol"),
                &["TCP", "UDP", "SCTP"],
            ) {
                Some("UDP") => Protocol::Udp,
                Some("SCTP") => Protocol::Sctp,
                _ => Protocol::Tcp,
            };
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

    fn router(&mut self, n: Option<&Node>, provider: Provider) -> Router {
        let f = self.fields(n, "router", ROUTER);
        let kind = match self.choice(
            f.get("kind"),
            "router.kind",
            &["ingress-nginx", "gateway-api"],
        ) {
            Some("gateway-api") => RouterKind::GatewayApi,
            _ => RouterKind::IngressNginx,
        };
        // Each router kind installs its own chart, into its own namespace and release by default.
        let (default_name, repo, chart, version) = match kind {
            RouterKind::IngressNginx => (
                "ingress-nginx",
                INGRESS_NGINX_REPO,
                "ingress-nginx",
                INGRESS_NGINX_VERSION,
            ),
            RouterKind::GatewayApi => ("traefik", TRAEFIK_REPO, TRAEFIK_CHART, TRAEFIK_VERSION),
        };
        let service = match self.choice(
            f.get("service"),
            "router.service",
            &["LoadBalancer", "NodePort"],
        ) {
            Some("NodePort") => RouterService::NodePort,
            _ => RouterService::LoadBalancer,
        };
        let domain_from_address = self
            .choice(
                f.get("domainFromAddress"),
                "router.domainFromAddress",
                &ADDRESS_DOMAINS,
            )
            .map(str::to_owned);
        // A load balancer listens on the usual 443; kind publishes the node's 443 on 8443.
        let default_https_port =
            if provider == Provider::Existing && service == RouterService::LoadBalancer {
                443
            } else {
                8443
            };
        Router {
            kind,
            passthrough: self
                .boolean(f.get("passthrough"), "router.passthrough")
                .unwrap_or(true),
            domain: self
                .string(f.get("domain"), "router.domain")
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                .or_else(|| domain_from_address.as_deref().map(pending_address_domain))
                .unwrap_or_else(|| DEFAULT_DOMAIN.into()),
            https_port: self
                .port(f.get("httpsPort"), "router.httpsPort")
                .unwrap_or(default_https_port),
            service,
            domain_from_address,
            namespace: self
                .string(f.get("namespace"), "router.namespace")
                .unwrap_or_else(|| default_name.into()),
            release: self
                .string(f.get("release"), "router.release")
                .unwrap_or_else(|| default_name.into()),
            chart: self.chart(f.get("chart"), "router.chart", repo, chart, version),
            values: self.values(f.get("values"), "router.values"),
        }
    }

    fn vcluster(
        &mut self,
        i: usize,
        item: &Node,
        domain: &str,
        https_port: u16,
    ) -> Option<Vcluster> {
        let p = format!("vclusters[{i}]");
        let f = self.fields_except(Some(item), &p, VCLUSTER, VCLUSTER_REMOVED);
        if !matches!(item.value, Value::Map(_)) {
            return None;
        }
        let name = self.string(f.get("name"), &format!("{p}.name"));
        if name.is_none() && f.get("name").is_none() {
            self.d.error(
                &at(item),
                &format!("{p}.name"),
                "`name` is required",
                Some("every vcluster needs a name, such as `dev`".into()),
            );
        }
        let Some(name) = name else {
            // Left out of the environment: what depends on the whole list must know.
            self.origins.rejected.insert(p);
            return None;
        };
        let context = self
            .string(f.get("context"), &format!("{p}.context"))
            .unwrap_or_else(|| format!("{name}-vcluster"));
        let access_node = f.get("access");
        let port_forward = access_node.filter(|n| n.value == Value::Str("port-forward".into()));
        if port_forward.is_none() {
            self.choice(access_node, &format!("{p}.access"), &["ingress"]);
        }
        let access = VclusterAccess::Ingress;
        let local_port = f.get("localPort");
        let hostname = self
            .string(f.get("hostname"), &format!("{p}.hostname"))
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_else(|| format!("{context}.{domain}"));
        if f.get("hostname").is_none() {
            self.derived_from(
                &format!("{p}.hostname"),
                &[&format!("{p}.context"), "router.domain"],
            );
        }
        let instead = format!(
            "the vcluster is reached through the passthrough router at https://{hostname}:{https_port} from the host, a devcontainer, WSL2 and kind's network, with its certificate verified"
        );
        if let Some(n) = port_forward {
            self.d.error(
                &at(n),
                &format!("{p}.access"),
                format!("`access: port-forward` is no longer supported: {PORT_FORWARD_GONE}"),
                Some(format!(
                    "delete this line (the default is `ingress`): {instead}"
                )),
            );
        }
        if let Some(n) = local_port {
            self.d.error(
                &at(n),
                &format!("{p}.localPort"),
                format!("`localPort` is no longer supported: it belonged to `access: port-forward`, and {PORT_FORWARD_GONE}"),
                Some(format!("delete this line: {instead}")),
            );
        }
        Some(Vcluster {
            namespace: self
                .string(f.get("namespace"), &format!("{p}.namespace"))
                .unwrap_or_else(|| format!("{name}-vcluster")),
            release: self
                .string(f.get("release"), &format!("{p}.release"))
                .unwrap_or_else(|| format!("vcluster-{name}")),
            chart: self.chart(
                f.get("chart"),
                &format!("{p}.chart"),
                VCLUSTER_REPO,
                "vcluster",
                VCLUSTER_VERSION,
            ),
            hostname,
            context,
            access,
            values: self.values(f.get("values"), &format!("{p}.values")),
            name,
        })
    }

    fn registry(&mut self, n: Option<&Node>, cluster: &str) -> Registry {
        let f = self.fields(n, "registry", REGISTRY);
        Registry {
            // Writing a registry section means wanting one, unless it says `enabled: false`.
            enabled: self
                .boolean(f.get("enabled"), "registry.enabled")
                .unwrap_or(n.is_some_and(|n| matches!(n.value, Value::Map(_)))),
            name: self
                .string(f.get("name"), "registry.name")
                .unwrap_or_else(|| format!("{cluster}-registry")),
            port: self
                .port(f.get("port"), "registry.port")
                .unwrap_or(REGISTRY_PORT),
            listen_address: self
                .string(f.get("listenAddress"), "registry.listenAddress")
                .unwrap_or_else(|| "127.0.0.1".into()),
            image: self
                .string(f.get("image"), "registry.image")
                .unwrap_or_else(|| REGISTRY_IMAGE.into()),
            shared: self
                .boolean(f.get("shared"), "registry.shared")
                .unwrap_or(false),
        }
    }

    fn env(&mut self, root: &Node) -> Env {
        let top = self.fields(Some(root), "", TOP);
        if let Some(v) = top.get("apiVersion") {
            self.choice(Some(v), "apiVersion", &[API_VERSION]);
        }
        let cluster = self.cluster(top.get("cluster"));
        let router = self.router(top.get("router"), cluster.provider);
        let items = self.list(top.get("vclusters"), "vclusters");
        let mut vclusters = Vec::new();
        let mut index = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(v) = self.vcluster(i, item, &router.domain, router.https_port) {
                vclusters.push(v);
                index.push(i);
            }
        }
        self.origins.items.insert("vclusters".into(), index);
        let a = self.fields(top.get("access"), "access", ACCESS);
        let mode = self
            .choice(a.get("mode"), "access.mode", &AccessMode::ALL)
            .and_then(AccessMode::parse)
            .unwrap_or(AccessMode::Auto);
        let access = Access {
            mode,
            insecure_skip_tls_verify: self
                .boolean(
                    a.get("insecureSkipTLSVerify"),
                    "access.insecureSkipTLSVerify",
                )
                .unwrap_or(false),
        };
        let k = self.fields(top.get("kubeconfig"), "kubeconfig", KUBECONFIG);
        let kubeconfig = KubeconfigTarget {
            path: self.string(k.get("path"), "kubeconfig.path"),
            current_context: self.string(k.get("currentContext"), "kubeconfig.currentContext"),
        };
        let g = self.fields(top.get("argocd"), "argocd", ARGOCD);
        let argocd = Argocd {
            register: self
                .boolean(g.get("register"), "argocd.register")
                .unwrap_or(false),
            namespace: self
                .string(g.get("namespace"), "argocd.namespace")
                .unwrap_or_else(|| "argocd".into()),
            labels: self.string_map(g.get("labels"), "argocd.labels"),
        };
        let registry = self.registry(top.get("registry"), &cluster.name);
        let cache = self.cache(top.get("cache"));
        Env {
            cluster,
            router,
            vclusters,
            access,
            kubeconfig,
            argocd,
            registry,
            cache,
        }
    }

    fn cache(&mut self, n: Option<&Node>) -> Cache {
        let f = self.fields(n, "cache", CACHE);
        let mut upstreams = Vec::new();
        match f.get("upstreams") {
            None => upstreams.extend(DEFAULT_UPSTREAMS.iter().map(|h| Upstream::known(h))),
            Some(list) => {
                let mut index = Vec::new();
                for (i, item) in self.list(Some(list), "cache.upstreams").iter().enumerate() {
                    let p = format!("cache.upstreams[{i}]");
                    // `- docker.io`, or `- {host: registry.example.com, remote: https://...}`.
                    if let Value::Str(host) = &item.value {
                        self.note(&p, item);
                        upstreams.push(Upstream::known(host));
                        index.push(i);
                        continue;
                    }
                    let u = self.fields(Some(item), &p, UPSTREAM);
                    let Some(host) = self.string(u.get("host"), &format!("{p}.host")) else {
                        if u.get("host").is_none() {
                            self.reject(
                                &at(item),
                                &format!("{p}.host"),
                                "`host` is required",
                                Some("the registry name images carry, such as `docker.io` or `registry.example.com:5000`".into()),
                            );
                        }
                        continue;
                    };
                    let remote = self.string(u.get("remote"), &format!("{p}.remote"));
                    upstreams.push(match remote {
                        Some(remote) => Upstream { host, remote },
                        None => Upstream::known(&host),
                    });
                    index.push(i);
                }
                self.origins.items.insert("cache.upstreams".into(), index);
            }
        }
        Cache {
            // Writing a cache section means wanting one, unless it says `enabled: false`.
            enabled: self
                .boolean(f.get("enabled"), "cache.enabled")
                .unwrap_or(n.is_some_and(|n| matches!(n.value, Value::Map(_)))),
            image: self
                .string(f.get("image"), "cache.image")
                .unwrap_or_else(|| REGISTRY_IMAGE.into()),
            upstreams,
            credentials: self.string(f.get("credentials"), "cache.credentials"),
        }
    }
}

/// Decode the whole tree; type and key errors land in `diags`, defaults fill the rest.
/// `rejected` names fields already refused before decoding (a key written twice).
pub fn decode(root: &Node, diags: &mut Diags, rejected: BTreeSet<String>) -> (Env, Origins) {
    let mut d = Decoder {
        d: diags,
        origins: Origins {
            rejected,
            ..Origins::default()
        },
    };
    let env = d.env(root);
    (env, d.origins)
}

/// Set `path` in the tree to a value from a variable or flag, creating sections as needed.
pub fn set_override(root: &mut Node, path: &[&str], value: Value, from: &str) {
    let mut cur = root;
    for (i, key) in path.iter().enumerate() {
        if !matches!(cur.value, Value::Map(_)) {
            cur.value = Value::Map(Vec::new());
        }
        let Value::Map(entries) = &mut cur.value else {
            unreachable!()
        };
        let idx = match entries.iter().position(|(k, _)| k.name == *key) {
            Some(idx) => idx,
            None => {
                entries.push((
                    Key {
                        name: (*key).to_owned(),
                        pos: Pos::default(),
                    },
                    Node {
                        value: Value::Null,
                        pos: Pos::default(),
                        from: None,
                    },
                ));
                entries.len() - 1
            }
        };
        cur = &mut entries[idx].1;
        if i == path.len() - 1 {
            *cur = Node {
                value,
                pos: Pos::default(),
                from: Some(from.to_owned()),
            };
            return;
        }
    }
}
