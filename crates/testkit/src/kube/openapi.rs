//! OpenAPI v3 from the resource table, enough for kubectl and helm (client-go, cli-runtime):
//! the root lists every group/version; each group/version document has the paths of its
//! resources with the PATCH operation's `x-kubernetes-group-version-kind` and the
//! `fieldValidation` query parameter. With it, cli-runtime's `queryParamVerifierV3`
//! (k8s.io/cli-runtime `pkg/resource/query_param_verifier_v3.go`) finds that the server
//! validates fields itself and skips the client-side schema validation that would download
//! OpenAPI v2 (protobuf only, not served here: `/openapi/v2` answers 404).
//!
//! What it lacks: component schemas. The double stores what it is sent without checking
//! built-in fields against a schema; and the PATCH request body lists no
//! strategic-merge-patch type, so kubectl's client-side apply computes its patch from the
//! types compiled into it, as it does when a server publishes no OpenAPI.

use super::discovery::group_versions;
use super::kinds::Resource;
use serde_json::{json, Map, Value};

fn hash(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

pub fn root(resources: &[Resource]) -> Value {
    let mut paths = Map::new();
    for (path, (g, v)) in group_versions(resources) {
        let doc = group_version(resources, &g, &v).unwrap_or_default();
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", hash(&doc.to_string()))}),
        );
    }
    json!({"paths": paths})
}

fn query(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(r: &Resource, action: &str, id: &str) -> Value {
    let mut op = json!({
        "operationId": id,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
    });
    let mut params = vec![];
    if matches!(action, "patch" | "put" | "post") {
        params.push(query(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ));
        params.push(query("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."));
        params.push(query("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields."));
    }
    if action == "patch" {
        params.push(json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}));
        op["requestBody"] = json!({"content": {
            "application/apply-patch+yaml": {"schema": {"type": "object"}},
            "application/json-patch+json": {"schema": {"type": "object"}},
            "application/merge-patch+json": {"schema": {"type": "object"}},
        }});
    }
    op["parameters"] = Value::Array(params);
    op
}

/// The document of one group/version, or None when nothing is served there.
pub fn group_version(resources: &[Resource], group: &str, version: &str) -> Option<Value> {
    let in_gv: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if in_gv.is_empty() {
        return None;
    }
    let base = format!("/{}", gv_path(group, version));
    let mut paths = Map::new();
    for r in in_gv {
        let id = format!("{}{}", r.kind, version);
        if r.is_review() {
            paths.insert(
                format!("{base}/{}", r.plural),
                json!({"post": operation(r, "post", &format!("create{id}"))}),
            );
            continue;
        }
        let (collection, item) = if r.namespaced {
            (
                format!("{base}/namespaces/{{namespace}}/{}", r.plural),
                format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural),
            )
        } else {
            (
                format!("{base}/{}", r.plural),
                format!("{base}/{}/{{name}}", r.plural),
            )
        };
        paths.insert(
            collection,
            json!({"get": operation(r, "list", &format!("list{id}")), "post": operation(r, "post", &format!("create{id}"))}),
        );
        paths.insert(
            item,
            json!({"get": operation(r, "get", &format!("read{id}")), "put": operation(r, "put", &format!("replace{id}")),
                   "patch": operation(r, "patch", &format!("patch{id}")), "delete": operation(r, "delete", &format!("delete{id}"))}),
        );
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.35.0"},
        "paths": paths, "components": {}}),
    )
}

/// `api/v1` or `apis/<g>/<v>` from an `/openapi/v3/...` request path.
pub fn parse_path(rest: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", v] => Some((String::new(), (*v).to_owned())),
        ["apis", g, v] => Some(((*g).to_owned(), (*v).to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::kinds::built_in;

    #[test]
    fn every_patch_names_its_kind_and_takes_field_validation() {
        let all = built_in();
        let root = root(&all);
        assert!(root["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/apis/apps/v1?hash="));
        let apps = group_version(&all, "apps", "v1").unwrap();
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
        let core = group_version(&all, "", "v1").unwrap();
        assert!(core["paths"].get("/api/v1/namespaces/{name}").is_some());
        assert_eq!(
            parse_path("apis/apps/v1"),
            Some(("apps".into(), "v1".into()))
        );
        assert!(group_version(&all, "nope", "v1").is_none());
    }
}
