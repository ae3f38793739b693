//! The kind API server's certificate names are the same whichever way kind merges our kubeadm
//! patch. Facts from kubernetes-sigs/kind's source:
//! - the kubeadm templates set `apiServer.certSANs: [localhost, "{{.APIServerAddress}}"]`, in
//!   v1beta3 and in v1beta4 alike (`pkg/cluster/internal/kubeadm/config.go` at v0.32.0);
//! - kind v0.32.0 renders v1beta4 for Kubernetes 1.36+ and v1beta3 below (commit 22573271,
//!   "start using v1beta4 in v1.36.0+");
//! - up to v0.31.0 a merge patch is RFC 7386 (`jsonpatch.MergePatch` in
//!   `pkg/internal/patch/resource.go`): a list in the patch replaces the template's;
//! - from v0.32.0 (commit df0d56c5) `mergeAndStrip` first appends the patch's `certSANs` to the
//!   template's, skipping names already there (`mergeCertSANs` in
//!   `pkg/internal/patch/kubeadm_merge.go`), whatever the kubeadm API version;
//! - a patch without `apiVersion` matches any version of its kind (`resource.matches`).
//!
//! Each rule is applied here to the patch `render kind-config` gives; the names must be equal.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

/// kind's template list for this API server address (v1beta3 and v1beta4 alike).
fn template(address: &str) -> Vec<Value> {
    vec![json!("localhost"), json!(address)]
}

/// kind v0.31.0 and older (v1beta3): the patch's list replaces the template's.
fn replace_rule(target: Vec<Value>, patch: Option<&Vec<Value>>) -> Vec<Value> {
    patch.cloned().unwrap_or(target)
}

/// kind v0.32.0 (v1beta3 below Kubernetes 1.36, v1beta4 from it): the template's names, then
/// each of the patch's not already present, in order.
fn merge_rule(mut target: Vec<Value>, patch: Option<&Vec<Value>>) -> Vec<Value> {
    for p in patch.into_iter().flatten() {
        if !target.contains(p) {
            target.push(p.clone());
        }
    }
    target
}

fn kind_config(yaml: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("envs.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .env_remove("BOOTSTRAP_NODE_IMAGE")
        .args(["render", "kind-config", "-o", "json", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The certSANs of our ClusterConfiguration patch, if the config carries one.
fn patched_sans(config: &Value) -> Option<Vec<Value>> {
    let patches = config["nodes"][0]["kubeadmConfigPatches"].as_array()?;
    let mut found = None;
    for p in patches {
        let doc: Value = serde_saphyr::from_str(p.as_str().unwrap()).unwrap();
        if doc["kind"] == "ClusterConfiguration" {
            assert!(
                doc.get("apiVersion").is_none(),
                "a patch naming an apiVersion would apply to one kubeadm API only"
            );
            found = doc["apiServer"]["certSANs"].as_array().cloned();
        }
    }
    found
}

#[test]
fn certificate_names_are_the_same_under_both_merge_rules() {
    let cases: &[(&str, &[&str])] = &[
        ("cluster: {name: a}\n", &["localhost", "127.0.0.1"]),
        (
            "cluster:\n  extraCertSANs: [host.docker.internal, 172.17.0.1]\n",
            &["localhost", "127.0.0.1", "host.docker.internal", "172.17.0.1"],
        ),
        (
            // Names kind adds anyway, and a duplicate, are not listed twice under either rule.
            "cluster:\n  extraCertSANs: [localhost, host.docker.internal, 127.0.0.1, host.docker.internal]\n",
            &["localhost", "127.0.0.1", "host.docker.internal"],
        ),
        (
            "cluster:\n  apiServer: {address: 0.0.0.0}\n  extraCertSANs: [dev.example.test]\n",
            &["localhost", "0.0.0.0", "dev.example.test"],
        ),
    ];
    for (yaml, want) in cases {
        let config = kind_config(yaml);
        let address = config["networking"]["apiServerAddress"].as_str().unwrap();
        let patch = patched_sans(&config);
        let old = replace_rule(template(address), patch.as_ref());
        let new = merge_rule(template(address), patch.as_ref());
        let want: Vec<Value> = want.iter().map(|s| json!(s)).collect();
        assert_eq!(old, want, "kind <= v0.31 (replace) for {yaml}");
        assert_eq!(new, want, "kind v0.32 (merge) for {yaml}");
    }
}

#[test]
fn the_rules_differ_for_a_patch_that_drops_kinds_defaults() {
    // Were the patch to list only the extra names (as a naive patch would), the two kinds would
    // give different certificates: the replace rule loses `localhost` and the API address.
    let naive = vec![json!("host.docker.internal")];
    assert_ne!(
        replace_rule(template("127.0.0.1"), Some(&naive)),
        merge_rule(template("127.0.0.1"), Some(&naive))
    );
}
