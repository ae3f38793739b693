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
use serde_json::{json, Value};

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
/// network, over plain HTTP, as kind's guide writes it.
pub fn hosts_toml(r: &Registry) -> String {
    format!(
        "[host.\"http://{}:{}\"]\n",
        r.name,
        Registry::CONTAINER_PORT
    )
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

/// The ConfigMap, labelled as ours so `down` removes only what `up` made.
pub fn configmap(r: &Registry, owner_label: (&str, &str)) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIGMAP_NAME,
            "namespace": CONFIGMAP_NAMESPACE,
            "labels": { owner_label.0: owner_label.1 },
        },
        "data": { CONFIGMAP_KEY: hosting_v1(r) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

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
        assert_eq!(hosts_toml(&r), "[host.\"http://kind-registry:5000\"]\n");
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
}
