//! Ownership, recorded and read back: everything bootstrap creates carries a mark naming the
//! environment that made it, and nothing is changed or removed on the strength of a name alone.
//!
//! Where each mark lives (each is read back before a change or a removal):
//! - kind cluster: kind gives node containers no labels of ours, so `up` writes a small record
//!   into the control-plane node it created (`/kind/bootstrap.json`, beside kind's own files),
//!   naming the environment and that container's id; a container recreated by hand lacks it.
//! - Docker network join: an endpoint driver option (`bootstrap.joined-by=env/<cluster>`).
//! - helm release: a release label (`helm --labels`), stored by helm on every release record.
//! - API objects (routes, ArgoCD secrets, namespaces we create): labels.
//! - kubeconfig entries: an `extensions` entry (see `core::kubeconfig::doc`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Label key and value every object we make carries (the Kubernetes recommended label).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "bootstrap");
/// Label naming the environment (its cluster name) an object or release belongs to.
pub const ENV_LABEL: &str = "bootstrap/env";
/// Label naming the vcluster an object is for (its route, its Argo CD Secret): the vcluster's
/// step makes and removes those, not the router's.
pub const VCLUSTER_LABEL: &str = "bootstrap/vcluster";
/// Where the cluster record lives inside the control-plane node.
pub const NODE_RECORD: &str = "/kind/bootstrap.json";

/// The owner string of kubeconfig entries: `env/<cluster>`.
pub fn owner(cluster: &str) -> String {
    format!("env/{cluster}")
}

/// The labels that mark an object as this environment's, as k8s-openapi's `ObjectMeta` holds
/// them.
pub fn labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.into(), MANAGED_BY.1.into()),
        (ENV_LABEL.into(), cluster.into()),
    ])
}

/// `k=v,k=v` for `helm --labels`.
pub fn helm_labels(cluster: &str) -> String {
    format!("{ENV_LABEL}={cluster}")
}

/// Whose an object is, from its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// This environment's.
    Ours,
    /// Made by bootstrap for another environment (another file on the same cluster).
    OtherEnv(String),
    /// No mark of ours: the user's, or another tool's.
    Foreign,
}

/// Pure: read the mark from a label map (an API object's or a helm release's labels).
pub fn holder(labels: Option<&Value>, cluster: &str) -> Holder {
    match labels
        .and_then(|l| l.get(ENV_LABEL))
        .and_then(Value::as_str)
    {
        Some(env) if env == cluster => Holder::Ours,
        Some(env) => Holder::OtherEnv(env.to_owned()),
        None => Holder::Foreign,
    }
}

impl Holder {
    pub fn describe(&self) -> String {
        match self {
            Holder::Ours => "this environment's".into(),
            Holder::OtherEnv(e) => format!("bootstrap's for environment `{e}`"),
            Holder::Foreign => "not bootstrap's (no `bootstrap/env` label)".into(),
        }
    }
}

/// The record written into a kind node bootstrap created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub tool: String,
    /// The environment: its cluster name.
    pub env: String,
    /// The id of the container the record was written into: a record copied into another
    /// container (or a node recreated by hand from a commit) does not count.
    pub node: String,
    /// RFC 3339, for people reading it.
    pub created: String,
}

impl NodeRecord {
    pub fn new(cluster: &str, node_id: &str, created: String) -> Self {
        NodeRecord {
            tool: "bootstrap".into(),
            env: cluster.into(),
            node: node_id.into(),
            created,
        }
    }

    /// Pure: does this record make the container `node_id` of cluster `cluster` ours?
    pub fn owns(&self, cluster: &str, node_id: &str) -> bool {
        self.tool == "bootstrap" && self.env == cluster && self.node == node_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn holder_reads_the_env_label_only() {
        let ours =
            json!({"bootstrap/env": "localdev", "app.kubernetes.io/managed-by": "bootstrap"});
        assert_eq!(holder(Some(&ours), "localdev"), Holder::Ours);
        assert_eq!(
            holder(Some(&ours), "other"),
            Holder::OtherEnv("localdev".into())
        );
        // managed-by alone is a claim anyone can make; it does not name the environment.
        let claim = json!({"app.kubernetes.io/managed-by": "bootstrap"});
        assert_eq!(holder(Some(&claim), "localdev"), Holder::Foreign);
        assert_eq!(holder(None, "localdev"), Holder::Foreign);
    }

    #[test]
    fn a_node_record_owns_only_its_own_container() {
        let r = NodeRecord::new("localdev", "abc123", "2026-11-30T00:00:00Z".into());
        assert!(r.owns("localdev", "abc123"));
        assert!(!r.owns("localdev", "def456"), "copied into another node");
        assert!(!r.owns("other", "abc123"));
        let text = serde_json::to_string(&r).unwrap();
        let back: NodeRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn helm_labels_are_valid_label_syntax() {
        assert_eq!(helm_labels("localdev"), "bootstrap/env=localdev");
        assert_eq!(labels("x")["bootstrap/env"], "x");
    }
}
