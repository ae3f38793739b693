//! The local registry, as the documents other programs read: the containerd patch kind applies
//! when it creates the nodes, the `hosts.toml` each node's containerd reads, and the
//! `LocalRegistryHosting` ConfigMap of KEP-1755 that Tilt, Skaffold and ctlptl look for.
//!
//! All three follow kind's local-registry guide at v0.32.0 (kubernetes-sigs/kind,
//! site/content/docs/user/local-registry.md and site/static/examples/kind-with-registry.sh):
//! 1. `config_path = "/etc/containerd/certs.d"` under
//!    `[plugins."io.containerd.grpc.v1.cri".registry]` (kind notes node images from v0.27.0 on,
//!    with containerd 2, already look there; the patch keeps older images working);
//! 2. `/etc/containerd/certs.d/localhost:<port>/hosts.toml` holding
//!    `[host."http://<registry container>:5000"]`, so `localhost:<port>/...` in a pod spec is
//!    pulled from the registry container over kind's network;
//! 3. ConfigMap `local-registry-hosting` in `kube-public`, key `localRegistryHosting.v1`, with
//!    `host: "localhost:<port>"` and `help:` (KEP-1755,
//!    kubernetes/enhancements keps/sig-cluster-lifecycle/generic/1755-communicating-a-local-registry).
//!
//! The v0.32 change: kind now reads the `version` of a containerd config patch and skips a patch
//! whose version differs from the node's config (kubernetes-sigs/kind commit 0de9b108, "add
//! limited support for containerd config patch version-awareness", in v0.32.0;
//! pkg/internal/patch/toml.go `ContainerdTOML`). kind's own guide patch has no version, so it
//! would be merged into any config; ours says `version = 2`, the format of kind's base image
//! config (images/base/files/etc/containerd/config.toml: `version = 2`), so a node whose
//! containerd config is version 3 or 4 (containerd 2's own formats, where the table above is
//! not where the registry settings live) is left as it is rather than given a section it does
//! not read; containerd 2 already defaults `config_path` to `/etc/containerd/certs.d`.

use crate::core::config::Registry;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use std::collections::BTreeMap;

/// Where containerd looks for per-registry host files (the `config_path` we set).
pub const CERTS_DIR: &str = "/etc/containerd/certs.d";
pub const CONFIGMAP_NAME: &str = "local-registry-hosting";
pub const CONFIGMAP_NAMESPACE: &str = "kube-public";
pub const CONFIGMAP_KEY: &str = "localRegistryHosting.v1";
pub const HELP_URL: &str = "https://kind.sigs.k8s.io/docs/user/local-registry/";

/// The containerd config patch for `containerdConfigPatches` in kind's cluster config.
pub fn containerd_patch() -> String {
    format!(
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"{CERTS_DIR}\"\n"
    )
}

/// The folder of the host file on each node: `/etc/containerd/certs.d/localhost:<port>`.
pub fn hosts_dir(r: &Registry) -> String {
    format!("{CERTS_DIR}/{}", r.host())
}

/// `hosts.toml` for `localhost:<port>`: pull from the registry container by its name on kind's
/// network, over plain HTTP, as kind's guide writes it. The first line is our mark (a TOML
/// comment containerd ignores), read back so `down` removes only a file `up` wrote.
pub fn hosts_toml(r: &Registry, owner: &str) -> String {
    format!(
        "{}\n[host.\"http://{}:{}\"]\n",
        hosts_mark(owner),
        r.name,
        Registry::CONTAINER_PORT
    )
}

pub fn hosts_mark(owner: &str) -> String {
    format!("# written by bootstrap for {owner}")
}

/// Whether a host file's first line is `owner`'s mark: only such a file is ever removed.
pub fn carries_mark(text: Option<&str>, owner: &str) -> bool {
    text.is_some_and(|t| t.lines().next() == Some(hosts_mark(owner).as_str()))
}

/// The `localRegistryHosting.v1` value: kind's documented `host` and `help`, plus KEP-1755's
/// `hostFromClusterNetwork` (where a pod that builds and pushes images reaches the registry:
/// kind's guide says `kind-registry:5000`). `hostFromContainerRuntime` is left out on purpose:
/// tools rewrite image names to it, and the nodes pull `localhost:<port>` through hosts.toml
/// already, while `<name>:5000` has no host file and would be tried over HTTPS.
pub fn hosting_v1(r: &Registry) -> String {
    format!(
        "host: \"{}\"\nhostFromClusterNetwork: \"{}:{}\"\nhelp: \"{HELP_URL}\"\n",
        r.host(),
        r.name,
        Registry::CONTAINER_PORT
    )
}

/// What Docker shows of the registry container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeenContainer {
    pub id: String,
    pub running: bool,
    /// Our owner label's value, when it carries one.
    pub owner: Option<String>,
    pub image: String,
    /// Host address and port bound to the registry's port 5000/tcp.
    pub published: Vec<(String, u16)>,
    pub networks: Vec<String>,
}

/// One kind node and the host file its containerd would read for our registry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeenNode {
    pub name: String,
    pub id: String,
    pub running: bool,
    pub hosts_toml: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    pub container: Option<SeenContainer>,
    pub kind_network: bool,
    pub nodes: Vec<SeenNode>,
}

/// What `up` does about the registry, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create and start the container (pulling the image when Docker lacks it).
    Create,
    Start,
    /// Attach the container to kind's network, where the nodes resolve it by name.
    Connect,
    /// Write hosts.toml on this node.
    WriteHosts {
        node: String,
    },
}

impl Action {
    pub fn describe(&self, r: &Registry) -> String {
        match self {
            Action::Create => format!(
                "create registry container {} ({}, {}:{} -> {})",
                r.name,
                r.image,
                r.listen_address,
                r.port,
                Registry::CONTAINER_PORT
            ),
            Action::Start => format!("start registry container {}", r.name),
            Action::Connect => format!("connect registry container {} to network kind", r.name),
            Action::WriteHosts { node } => {
                format!("write {}/hosts.toml on node {node}", hosts_dir(r))
            }
        }
    }
}

/// Pure: what `up` must do for the registry, or why it will not.
pub fn diff(r: &Registry, owner: &str, seen: &Seen) -> Result<Vec<Action>, String> {
    let mut out = Vec::new();
    if !r.enabled {
        return Ok(out);
    }
    match &seen.container {
        None if r.shared => {
            return Err(format!(
                "registry.shared is true but no container named `{}` exists\n  hint: start your registry under that name, or remove `shared` and bootstrap runs one",
                r.name
            ))
        }
        None => out.push(Action::Create),
        Some(c) => {
            match (&c.owner, r.shared) {
                (Some(o), _) if o != owner => {
                    return Err(format!(
                        "container `{}` is the registry of {o}, not of {owner}\n  hint: give this environment its own `registry.name`",
                        r.name
                    ))
                }
                (None, false) => {
                    return Err(format!(
                        "a container named `{}` exists that bootstrap did not create\n  hint: set `registry.shared: true` to use it as this environment's registry (down leaves it), or choose another `registry.name`",
                        r.name
                    ))
                }
                _ => {}
            }
            if c.owner.is_some() {
                let mut drift = Vec::new();
                if c.image != r.image {
                    drift.push(format!("image {} (file: {})", c.image, r.image));
                }
                let want = (r.listen_address.clone(), r.port);
                if c.published != [want.clone()] {
                    let have: Vec<String> = c.published.iter().map(|(a, p)| format!("{a}:{p}")).collect();
                    drift.push(format!(
                        "published on {} (file: {}:{})",
                        if have.is_empty() { "nothing".into() } else { have.join(", ") },
                        want.0,
                        want.1
                    ));
                }
                if !drift.is_empty() {
                    return Err(format!(
                        "registry container `{}` differs from the file: {}\n  hint: `docker rm -f {}` (its pushed images go with it) and run `bootstrap up` again, or change the file back",
                        r.name,
                        drift.join("; "),
                        r.name
                    ));
                }
            }
            if !c.running {
                out.push(Action::Start);
            }
        }
    }
    let on_kind = seen
        .container
        .as_ref()
        .is_some_and(|c| c.networks.iter().any(|n| n == "kind"));
    if seen.kind_network && !on_kind {
        out.push(Action::Connect);
    }
    let want = hosts_toml(r, owner);
    for n in &seen.nodes {
        if n.hosts_toml.as_deref() != Some(want.as_str()) {
            out.push(Action::WriteHosts {
                node: n.name.clone(),
            });
        }
    }
    Ok(out)
}

/// What `down` removes: the container only when it carries our mark (never a shared one), and
/// each node's host file only when it carries our mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Container { id: String },
    Hosts { node: String },
}

pub fn removals(r: &Registry, owner: &str, seen: &Seen) -> Vec<Removal> {
    let mut out = Vec::new();
    for n in &seen.nodes {
        if carries_mark(n.hosts_toml.as_deref(), owner) {
            out.push(Removal::Hosts {
                node: n.name.clone(),
            });
        }
    }
    if let Some(c) = &seen.container {
        if c.owner.as_deref() == Some(owner) && !r.shared {
            out.push(Removal::Container { id: c.id.clone() });
        }
    }
    out
}

/// The ConfigMap, labelled as ours so `down` removes only what `up` made.
pub fn configmap(r: &Registry, owner_label: (&str, &str)) -> Value {
    crate::core::objects::manifest(&ConfigMap {
        metadata: ObjectMeta {
            name: Some(CONFIGMAP_NAME.into()),
            namespace: Some(CONFIGMAP_NAMESPACE.into()),
            labels: Some(BTreeMap::from([(
                owner_label.0.into(),
                owner_label.1.into(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(CONFIGMAP_KEY.into(), hosting_v1(r))])),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;
    use serde_json::json;

    fn reg(text: &str) -> Registry {
        let l = load_str(text, "t.yaml", &[]);
        assert!(l.diags.errors().count() == 0, "{:?}", l.diags.items);
        l.env.unwrap().registry
    }

    #[test]
    fn defaults_follow_kinds_guide() {
        let r = reg("cluster: {name: localdev}\nregistry: {}\n");
        assert!(r.enabled);
        assert_eq!(r.name, "localdev-registry");
        assert_eq!(r.port, 5001);
        assert_eq!(r.listen_address, "127.0.0.1");
        assert_eq!(r.image, "registry:3");
        assert!(!r.shared);
        assert!(!reg("cluster: {name: x}\n").enabled);
        assert!(!reg("registry: {enabled: false}\n").enabled);
    }

    #[test]
    fn the_containerd_patch_is_kinds_with_its_version() {
        // kind-with-registry.sh at v0.32.0, step 2, plus `version = 2`.
        assert_eq!(
            containerd_patch(),
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"
        );
    }

    #[test]
    fn hosts_toml_points_localhost_at_the_container() {
        let r = reg("registry: {name: kind-registry, port: 5001}\n");
        // kind-with-registry.sh at v0.32.0, step 3.
        assert_eq!(hosts_dir(&r), "/etc/containerd/certs.d/localhost:5001");
        // Our mark, then exactly the line kind's script writes.
        assert_eq!(
            hosts_toml(&r, "env/localdev"),
            "# written by bootstrap for env/localdev\n[host.\"http://kind-registry:5000\"]\n"
        );
    }

    #[test]
    fn configmap_is_kep_1755s() {
        let r = reg("registry: {name: kind-registry, port: 5001}\n");
        let cm = configmap(&r, ("app.kubernetes.io/managed-by", "bootstrap"));
        assert_eq!(cm["metadata"]["name"], "local-registry-hosting");
        assert_eq!(cm["metadata"]["namespace"], "kube-public");
        let v1: Value =
            serde_saphyr::from_str(cm["data"]["localRegistryHosting.v1"].as_str().unwrap())
                .unwrap();
        assert_eq!(v1["host"], "localhost:5001");
        assert_eq!(
            v1["help"],
            "https://kind.sigs.k8s.io/docs/user/local-registry/"
        );
        assert!(v1.get("hostFromContainerRuntime").is_none());
        assert_eq!(v1["hostFromClusterNetwork"], "kind-registry:5000");
    }

    fn errors(text: &str) -> Vec<String> {
        let l = load_str(text, "envs.yaml", &[]);
        l.diags.errors().map(|d| d.to_string()).collect()
    }

    #[test]
    fn mistakes_are_named_with_file_line_and_column() {
        // Semantic checks run once the file decodes: a bad name on its own.
        let e = errors("cluster: {name: x}\nregistry:\n  name: My_Registry\n");
        assert!(e.iter().any(|e| e.starts_with("error: envs.yaml:3:9: registry.name: `My_Registry` is not a valid registry container name") && e.contains("for example `my-registry`")), "{e:?}");
        let e = errors(
            "cluster: {name: x}\nregistry:\n  port: 0\n  name: ok\n  prot: 5001\n  shared: yes\n",
        );
        assert!(
            e.iter()
                .any(|e| e
                    .starts_with("error: envs.yaml:3:9: registry.port: port 0 is out of range")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|e| e
                .starts_with("error: envs.yaml:5:3: registry.prot: unknown key `prot`")
                && e.contains("did you mean `port`?")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|e| e
                    .starts_with("error: envs.yaml:6:11: registry.shared: expected true or false")),
            "{e:?}"
        );
    }

    #[test]
    fn the_registry_port_is_a_host_port_like_the_others() {
        let e = errors("cluster: {apiServer: {port: 5001}}\nregistry: {enabled: true}\n");
        assert!(e.iter().any(|e| e.contains("registry.port: duplicate host port `5001/TCP`, already used by cluster.apiServer.port")), "{e:?}");
        // A shared registry is the user's: its port is not ours to bind.
        assert!(
            errors("cluster: {apiServer: {port: 5001}}\nregistry: {shared: true}\n").is_empty()
        );
        let e = errors("cluster: {provider: existing, context: c}\nregistry: {}\n");
        assert!(
            e.iter()
                .any(|e| e
                    .contains("registry.enabled: a local registry needs `cluster.provider: kind`")),
            "{e:?}"
        );
    }

    #[test]
    fn kinds_config_carries_the_patch_only_with_a_registry() {
        let with = load_str("registry: {}\n", "t", &[]).env.unwrap();
        let v = crate::core::render::kind::kind_config_value(&with);
        assert_eq!(v["containerdConfigPatches"], json!([containerd_patch()]));
        let without = load_str("cluster: {name: a}\n", "t", &[]).env.unwrap();
        assert!(crate::core::render::kind::kind_config_value(&without)
            .get("containerdConfigPatches")
            .is_none());
    }

    fn seen_owned(owner: Option<&str>) -> Seen {
        Seen {
            container: Some(SeenContainer {
                id: "c1".into(),
                running: true,
                owner: owner.map(str::to_owned),
                image: "registry:3".into(),
                published: vec![("127.0.0.1".into(), 5001)],
                networks: vec!["bridge".into(), "kind".into()],
            }),
            kind_network: true,
            nodes: vec![SeenNode {
                name: "localdev-control-plane".into(),
                id: "n1".into(),
                running: true,
                hosts_toml: None,
            }],
        }
    }

    #[test]
    fn up_creates_connects_and_writes_only_what_is_missing() {
        let r = reg("cluster: {name: localdev}\nregistry: {}\n");
        let owner = "env/localdev";
        let absent = Seen {
            container: None,
            kind_network: true,
            nodes: seen_owned(None).nodes,
        };
        assert_eq!(
            diff(&r, owner, &absent).unwrap(),
            vec![
                Action::Create,
                Action::Connect,
                Action::WriteHosts {
                    node: "localdev-control-plane".into()
                }
            ]
        );
        let mut converged = seen_owned(Some(owner));
        converged.nodes[0].hosts_toml = Some(hosts_toml(&r, owner));
        assert_eq!(diff(&r, owner, &converged).unwrap(), vec![]);
        let mut stopped = converged.clone();
        stopped.container.as_mut().unwrap().running = false;
        assert_eq!(diff(&r, owner, &stopped).unwrap(), vec![Action::Start]);
        // Disabled: nothing, whatever is there.
        let off = reg("registry: {enabled: false}\n");
        assert_eq!(diff(&off, owner, &absent).unwrap(), vec![]);
    }

    #[test]
    fn a_container_that_is_not_ours_is_used_only_when_shared() {
        let owner = "env/localdev";
        let r = reg("cluster: {name: localdev}\nregistry: {}\n");
        let e = diff(&r, owner, &seen_owned(None)).unwrap_err();
        assert!(
            e.contains("bootstrap did not create") && e.contains("registry.shared: true"),
            "{e}"
        );
        let e = diff(&r, owner, &seen_owned(Some("env/other"))).unwrap_err();
        assert!(e.contains("is the registry of env/other"), "{e}");
        let shared = reg("cluster: {name: localdev}\nregistry: {shared: true}\n");
        // Used as it is: its image and ports are the user's business.
        let mut theirs = seen_owned(None);
        theirs.container.as_mut().unwrap().image = "registry:2".into();
        assert_eq!(
            diff(&shared, owner, &theirs).unwrap(),
            vec![Action::WriteHosts {
                node: "localdev-control-plane".into()
            }]
        );
        let none = Seen {
            container: None,
            ..theirs
        };
        assert!(diff(&shared, owner, &none)
            .unwrap_err()
            .contains("no container named `localdev-registry`"));
    }

    #[test]
    fn drift_in_our_container_is_named_not_silently_replaced() {
        let owner = "env/localdev";
        let r = reg("cluster: {name: localdev}\nregistry: {port: 5002}\n");
        let e = diff(&r, owner, &seen_owned(Some(owner))).unwrap_err();
        assert!(
            e.contains("published on 127.0.0.1:5001 (file: 127.0.0.1:5002)"),
            "{e}"
        );
    }

    #[test]
    fn down_removes_only_what_carries_our_mark() {
        let owner = "env/localdev";
        let r = reg("cluster: {name: localdev}\nregistry: {}\n");
        let mut s = seen_owned(Some(owner));
        s.nodes.push(SeenNode {
            name: "other-node".into(),
            hosts_toml: Some("[host.\"http://theirs:5000\"]\n".into()),
            ..Default::default()
        });
        s.nodes[0].hosts_toml = Some(hosts_toml(&r, owner));
        assert_eq!(
            removals(&r, owner, &s),
            vec![
                Removal::Hosts {
                    node: "localdev-control-plane".into()
                },
                Removal::Container { id: "c1".into() }
            ]
        );
        assert_eq!(removals(&r, owner, &seen_owned(None)), vec![]);
        let shared = reg("cluster: {name: localdev}\nregistry: {shared: true}\n");
        assert_eq!(removals(&shared, owner, &seen_owned(Some(owner))), vec![]);
    }
}
