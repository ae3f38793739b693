//! Discovery documents from the resource table: the legacy ones (`/api`, `/apis`, `/apis/G`,
//! `/api/v1`, `/apis/G/V`) and the aggregated `apidiscovery.k8s.io/v2` lists that kubectl and
//! client-go ask for first (Accept `...;as=APIGroupDiscoveryList`).

use super::kinds::Resource;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Does the client accept the aggregated form (client-go sends it first in Accept)?
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|a| {
        a.contains("as=APIGroupDiscoveryList") && a.contains("v=v2") && !a.contains("v=v2beta1")
    })
}

/// Groups in order of first appearance, each with its versions in order.
fn groups(resources: &[Resource]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in resources.iter().filter(|r| !r.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, vs)) => {
                if !vs.contains(&r.version) {
                    vs.push(r.version.clone());
                }
            }
            None => out.push((r.group.clone(), vec![r.version.clone()])),
        }
    }
    out
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0]})
}

pub fn api_group_list(resources: &[Resource]) -> Value {
    let gs: Vec<Value> = groups(resources)
        .iter()
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

pub fn api_group(resources: &[Resource], group: &str) -> Option<Value> {
    let (g, vs) = groups(resources).into_iter().find(|(g, _)| g == group)?;
    let mut doc = group_doc(&g, &vs);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

fn in_gv<'a>(
    resources: &'a [Resource],
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'a Resource> {
    resources
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

pub fn resource_list(resources: &[Resource], group: &str, version: &str) -> Option<Value> {
    let rows: Vec<Value> = in_gv(resources, group, version)
        .map(|r| {
            let mut row = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                "kind": r.kind, "verbs": r.verbs});
            if !r.short_names.is_empty() {
                row["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                row["categories"] = json!(r.categories);
            }
            row
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": rows}),
    )
}

fn aggregated_group(resources: &[Resource], group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| {
            let rs: Vec<Value> = in_gv(resources, group, v)
                .map(|r| {
                    let mut row = json!({"resource": r.plural,
                        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": r.singular, "verbs": r.verbs});
                    if !r.short_names.is_empty() {
                        row["shortNames"] = json!(r.short_names);
                    }
                    if !r.categories.is_empty() {
                        row["categories"] = json!(r.categories);
                    }
                    row
                })
                .collect();
            json!({"version": v, "resources": rs, "freshness": "Current"})
        })
        .collect();
    let mut item = json!({"metadata": {"creationTimestamp": null}, "versions": vs});
    if !group.is_empty() {
        item["metadata"]["name"] = json!(group);
    }
    item
}

/// `/api` (core: true) or `/apis` in the aggregated form.
pub fn aggregated(resources: &[Resource], core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![aggregated_group(resources, "", &["v1".to_owned()])]
    } else {
        groups(resources)
            .iter()
            .map(|(g, vs)| aggregated_group(resources, g, vs))
            .collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {}, "items": items})
}

/// Every group/version served, for the OpenAPI v3 root: `api/v1`, `apis/<g>/<v>`.
pub fn group_versions(resources: &[Resource]) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for r in resources {
        let path = if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        };
        out.insert(path, (r.group.clone(), r.version.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::kinds::built_in;

    #[test]
    fn legacy_and_aggregated_discovery_agree() {
        let all = built_in();
        let core = resource_list(&all, "", "v1").unwrap();
        let ns = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "namespaces")
            .unwrap();
        assert_eq!(ns["shortNames"], json!(["ns"]));
        assert_eq!(ns["namespaced"], false);
        let agg = aggregated(&all, false);
        let apps = agg["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metadata"]["name"] == "apps")
            .unwrap();
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["scope"], "Namespaced");
        assert!(api_group_list(&all)["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "networking.k8s.io"));
        assert!(resource_list(&all, "nope", "v1").is_none());
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated("application/json, */*"));
    }
}
