//! The resolved environment: what `envs.yaml` means once defaults, the file, variables and flags
//! are layered. Everything downstream (render, plan, drivers) reads only this.

use serde::Serialize;
use std::collections::BTreeMap;
// strum derives the names the file accepts (`VariantNames`, `FromStr`) and prints
// (`IntoStaticStr`) from the same variants serde writes; `core::tests` ties the two.
use strum::{EnumString, IntoStaticStr, VariantNames};

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Env {
    pub cluster: Cluster,
    pub router: Router,
    pub vclusters: Vec<Vcluster>,
    pub access: Access,
    pub kubeconfig: KubeconfigTarget,
    pub argocd: Argocd,
    pub registry: Registry,
    pub cache: Cache,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, EnumString, IntoStaticStr, VariantNames)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Provider {
    Kind,
    Existing,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub provider: Provider,
    pub name: String,
    /// The kube context of the host cluster: `kind-<name>` for kind, the user's own for existing.
    pub context: String,
    pub node_image: Option<String>,
    pub api_server: ApiServer,
    pub port_mappings: Vec<PortMapping>,
    pub node_labels: BTreeMap<String, String>,
    pub extra_cert_sans: Vec<String>,
    /// kind worker nodes beside the control planes (kind's `nodes` with `role: worker`).
    pub workers: u32,
    /// kind control-plane nodes; more than one puts kind's load balancer in front of them.
    pub control_planes: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    pub address: String,
    pub port: u16,
}

#[derive(
    Debug,
    Clone,
    Copy,
    Serialize,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    EnumString,
    IntoStaticStr,
    VariantNames,
)]
#[serde(rename_all = "UPPERCASE")]
#[strum(serialize_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub container_port: u16,
    pub host_port: u16,
    pub listen_address: String,
    pub protocol: Protocol,
}

/// A router kind, by the name the file gives it (`ingress-nginx`, `gateway-api`): always one of
/// `core::router::KINDS`, where each kind's behaviour lives. A name rather than an enum, so that
/// a new kind is a file of `core::router` and its entry in that list, not also a variant here
/// (the config cannot hold the kinds themselves: they read the config).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct RouterKind(&'static str);

impl RouterKind {
    /// Only `core::router` makes one, from a name in its list of kinds.
    pub(in crate::core) const fn named(name: &'static str) -> Self {
        RouterKind(name)
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Router {
    pub kind: RouterKind,
    pub passthrough: bool,
    pub domain: String,
    /// Host port that reaches the router's 443 (through a kind port mapping).
    pub https_port: u16,
    pub namespace: String,
    pub release: String,
    pub chart: Chart,
    pub values: serde_json::Value,
    /// How the router is exposed on `provider: existing` (kind publishes the node's 443).
    pub service: RouterService,
    /// `sslip.io` or `nip.io`: the domain is derived from the load balancer's address
    /// (`<a-b-c-d>.sslip.io`), known once the router's Service has one.
    pub domain_from_address: Option<String>,
}

/// The router's Service type on a cluster bootstrap did not create.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, EnumString, IntoStaticStr, VariantNames)]
pub enum RouterService {
    LoadBalancer,
    NodePort,
}

impl RouterService {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Wildcard DNS services that answer `<a-b-c-d>.<service>` with the address a.b.c.d.
pub const ADDRESS_DOMAINS: [&str; 2] = ["sslip.io", "nip.io"];

/// The domain `router.domainFromAddress` stands for until the load balancer has an address:
/// what `plan` shows, replaced before anything is applied.
pub fn pending_address_domain(service: &str) -> String {
    format!("load-balancer-address.{service}")
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Chart {
    pub repo: Option<String>,
    pub name: String,
    pub version: Option<String>,
    /// A local chart folder or archive, for offline use; wins over repo and name.
    pub path: Option<String>,
}

/// How a vcluster is reached. Only through the router: `port-forward` was removed, because
/// nothing supervises a forward (it dies with the terminal that started it and with the
/// laptop's sleep), while the passthrough route works from every zone with certificates verified.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, EnumString, IntoStaticStr, VariantNames)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum VclusterAccess {
    Ingress,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Vcluster {
    pub name: String,
    pub namespace: String,
    pub release: String,
    pub chart: Chart,
    pub hostname: String,
    pub context: String,
    pub access: VclusterAccess,
    /// Extra chart values, merged under ours (ours win only where access depends on them).
    pub values: serde_json::Value,
}

impl Vcluster {
    /// The secret vcluster writes its kubeconfig to.
    pub fn secret_name(&self) -> String {
        format!("vc-{}", self.release)
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, EnumString, IntoStaticStr, VariantNames)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum AccessMode {
    Auto,
    Host,
    Devcontainer,
    Wsl2,
    KindNetwork,
}

impl AccessMode {
    /// What `access.mode`, `--access` and `BOOTSTRAP_ACCESS` accept (strum's names).
    pub const NAMES: &'static [&'static str] = <Self as VariantNames>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    pub mode: AccessMode,
    /// Only ever true when the user wrote it; reported as a warning on every run.
    pub insecure_skip_tls_verify: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigTarget {
    /// None: the first existing file of $KUBECONFIG, else ~/.kube/config (as kind does).
    pub path: Option<String>,
    /// Context to make current after `up`; None leaves current-context alone.
    pub current_context: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Argocd {
    pub register: bool,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

/// A local image registry beside the cluster (the one kind documents in
/// docs/user/local-registry): a container on kind's network, published on a host port, that
/// the nodes' containerd pulls `localhost:<port>/...` from.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    pub enabled: bool,
    /// The container's name, which the nodes reach it by on the `kind` network.
    pub name: String,
    /// Host port: images are pushed to and pulled from `localhost:<port>/...`.
    pub port: u16,
    pub listen_address: String,
    pub image: String,
    /// Use a registry container the user already runs under `name` instead of creating one;
    /// `down` then leaves it alone.
    pub shared: bool,
}

impl Registry {
    /// The port the registry listens on inside its container (distribution's default).
    pub const CONTAINER_PORT: u16 = 5000;

    /// What images are tagged with on the host and in pod specs.
    pub fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }
}

/// Pull-through caches: one registry container in proxy mode per upstream registry, shared by
/// every environment on the machine and kept across clusters, so a recreated cluster pulls from
/// them instead of the internet.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cache {
    pub enabled: bool,
    pub image: String,
    pub upstreams: Vec<Upstream>,
    /// A Docker config file (`auths`) with credentials for the upstreams; None: the user's own
    /// (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), when it exists.
    pub credentials: Option<String>,
}

/// One upstream registry: the name images carry (`docker.io`), and the URL its API answers at.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Upstream {
    pub host: String,
    pub remote: String,
}

impl Upstream {
    /// The API URL of a well-known registry host; Docker Hub's API is not at `docker.io`.
    pub fn known(host: &str) -> Upstream {
        let remote = match host {
            "docker.io" => "https://registry-1.docker.io".to_owned(),
            h => format!("https://{h}"),
        };
        Upstream {
            host: host.to_owned(),
            remote,
        }
    }
}
