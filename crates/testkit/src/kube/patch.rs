//! How a write changes a stored object, as pure functions: server-side apply with field
//! managers (`application/apply-patch+yaml`), JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and strategic merge patch as far as kubectl uses it.
//!
//! Server-side apply follows sigs.k8s.io/structured-merge-diff: each manager owns a set of
//! field paths, recorded in `metadata.managedFields` (FieldsV1); an apply merges the applied
//! configuration, removes the fields the manager applied before and no longer applies (unless
//! another manager owns them), and a changed value owned by another manager is a conflict
//! unless `force`. Simplified: every list is atomic (the real server merges lists of the
//! `map` list type by their keys), so a field path ends at the list.

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

pub type Path = Vec<String>;

/// Fields the server owns: never part of a manager's set.
fn server_field(path: &[String]) -> bool {
    match path {
        [k] => matches!(k.as_str(), "apiVersion" | "kind" | "status"),
        [m, k] if m == "metadata" => matches!(
            k.as_str(),
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "selfLink"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
        ),
        _ => false,
    }
}

/// The leaf paths of an object: every non-map value (lists included, atomically) and every
/// empty map.
pub fn leaves(obj: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        if server_field(path) {
            return;
        }
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            Value::Null => {}
            _ if !path.is_empty() => {
                out.insert(path.clone());
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(obj, &mut Vec::new(), &mut out);
    out
}

/// A path set in the FieldsV1 shape the real server writes (`f:` keys, `{}` leaves).
pub fn to_fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut node = &mut root;
        for k in p {
            node = node
                .entry(format!("f:{k}"))
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("fieldsV1 nodes are maps");
        }
    }
    Value::Object(root)
}

/// Back from FieldsV1; list-item keys (`k:`, `v:`, `i:`) end a path at the list.
pub fn from_fields_v1(fields: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let Some(m) = v.as_object() else { return };
        let children: Vec<(&String, &Value)> =
            m.iter().filter(|(k, _)| k.as_str() != ".").collect();
        if children.is_empty() || children.iter().any(|(k, _)| !k.starts_with("f:")) {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            return;
        }
        for (k, child) in children {
            path.push(k[2..].to_owned());
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(fields, &mut Vec::new(), &mut out);
    out
}

pub fn get<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, k| v.as_object()?.get(k))
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub fields: BTreeSet<Path>,
}

pub fn owners(obj: &Value) -> Vec<Owner> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Owner {
            manager: e["manager"].as_str().unwrap_or_default().to_owned(),
            operation: e["operation"].as_str().unwrap_or("Update").to_owned(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_owned(),
            time: e["time"].as_str().unwrap_or_default().to_owned(),
            fields: from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

pub fn set_owners(obj: &mut Value, owners: &[Owner]) {
    let entries: Vec<Value> = owners
        .iter()
        .filter(|o| !o.fields.is_empty())
        .map(|o| {
            json!({"manager": o.manager, "operation": o.operation, "apiVersion": o.api_version,
                   "time": o.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&o.fields)})
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(entries));
        }
    }
}

/// Maps merge key by key, anything else (lists included) is replaced; null removes.
pub fn merge_replace_lists(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(slot) = b.get_mut(k) {
                    merge_replace_lists(slot, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn remove_path(obj: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = obj;
    for k in parents {
        match node.get_mut(k) {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Some(m) = node.as_object_mut() {
        m.remove(last);
    }
}

/// Remove maps left empty under `path`'s parents that no manager's set reaches into.
fn prune_empty(obj: &mut Value, path: &[String], owned: &BTreeSet<Path>) {
    for depth in (1..path.len()).rev() {
        let parent = &path[..depth];
        let empty = get(obj, parent).is_some_and(|v| v.as_object().is_some_and(Map::is_empty));
        let reached = owned.iter().any(|p| p.starts_with(parent));
        if empty && !reached {
            remove_path(obj, parent);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    pub path: Path,
}

impl Conflict {
    pub fn field(&self) -> String {
        format!(".{}", self.path.join("."))
    }
}

/// The message the real server gives for apply conflicts.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    let n = conflicts.len();
    let lines: Vec<String> = conflicts
        .iter()
        .map(|c| {
            format!(
                "conflict with \"{}\" using {}: {}",
                c.manager,
                c.api_version,
                c.field()
            )
        })
        .collect();
    if n == 1 {
        format!("Apply failed with 1 conflict: {}", lines[0])
    } else {
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    }
}

/// Server-side apply of `config` by `manager` onto `live` (None: the object is created).
/// Returns the new object with its managedFields, or the conflicts.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, Vec<Conflict>> {
    let api_version = config["apiVersion"].as_str().unwrap_or_default().to_owned();
    let applied = leaves(config);
    let Some(live) = live else {
        let mut obj = config.clone();
        strip_nulls(&mut obj);
        set_owners(
            &mut obj,
            &[Owner {
                manager: manager.into(),
                operation: "Apply".into(),
                api_version,
                time: now.into(),
                fields: applied,
            }],
        );
        return Ok(obj);
    };
    let mut all = owners(live);
    let mut conflicts = Vec::new();
    for o in all.iter_mut() {
        if o.manager == manager && o.operation == "Apply" {
            continue;
        }
        // Maps are granular: only a value that replaces another manager's value (or a
        // non-map replacing the subtree it owns into) clashes.
        let clashes = |p: &Path| {
            applied.iter().any(|a| {
                let atomic = |v: Option<&Value>| v.is_some_and(|v| !v.is_object());
                (a == p
                    || (a.starts_with(p) && atomic(get(live, p)))
                    || (p.starts_with(a) && atomic(get(config, a))))
                    && get(live, p) != get(config, p)
            })
        };
        let clashing: Vec<Path> = o.fields.iter().filter(|p| clashes(p)).cloned().collect();
        if force {
            for p in &clashing {
                o.fields.remove(p);
            }
        } else {
            conflicts.extend(clashing.into_iter().map(|path| Conflict {
                manager: o.manager.clone(),
                api_version: o.api_version.clone(),
                path,
            }));
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let before: BTreeSet<Path> = all
        .iter()
        .find(|o| o.manager == manager && o.operation == "Apply")
        .map(|o| o.fields.clone())
        .unwrap_or_default();
    let others: BTreeSet<Path> = all
        .iter()
        .filter(|o| !(o.manager == manager && o.operation == "Apply"))
        .flat_map(|o| o.fields.iter().cloned())
        .collect();
    let mut obj = live.clone();
    for gone in before.difference(&applied) {
        if !others.contains(gone) {
            remove_path(&mut obj, gone);
            let keep: BTreeSet<Path> = others.union(&applied).cloned().collect();
            prune_empty(&mut obj, gone, &keep);
        }
    }
    merge_replace_lists(&mut obj, config);
    match all
        .iter_mut()
        .find(|o| o.manager == manager && o.operation == "Apply")
    {
        Some(o) => {
            if o.fields != applied {
                o.time = now.into();
            }
            o.fields = applied;
            o.api_version = api_version;
        }
        None => all.push(Owner {
            manager: manager.into(),
            operation: "Apply".into(),
            api_version,
            time: now.into(),
            fields: applied,
        }),
    }
    set_owners(&mut obj, &all);
    Ok(obj)
}

/// Ownership after a non-apply write (create, update, patch) by `manager`: it takes the
/// fields whose value it set or changed; fields removed leave every set.
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, now: &str) {
    let api_version = new["apiVersion"].as_str().unwrap_or_default().to_owned();
    let mut all = old.map(owners).unwrap_or_default();
    let new_leaves = leaves(new);
    let old_leaves = old.map(leaves).unwrap_or_default();
    let changed: BTreeSet<Path> = new_leaves
        .iter()
        .filter(|p| old.and_then(|o| get(o, p)) != get(new, p))
        .cloned()
        .collect();
    let removed: BTreeSet<Path> = old_leaves.difference(&new_leaves).cloned().collect();
    for o in all.iter_mut() {
        o.fields.retain(|p| {
            let taken = o.manager != manager
                && changed.iter().any(|c| c.starts_with(p) || p.starts_with(c));
            !(removed.contains(p) || taken)
        });
    }
    if !changed.is_empty() {
        match all
            .iter_mut()
            .find(|o| o.manager == manager && o.operation == "Update")
        {
            Some(o) => {
                o.fields.extend(changed);
                o.time = now.into();
                o.api_version = api_version;
            }
            None => all.push(Owner {
                manager: manager.into(),
                operation: "Update".into(),
                api_version,
                time: now.into(),
                fields: changed,
            }),
        }
    }
    set_owners(new, &all);
}

fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, c| !c.is_null());
        for c in m.values_mut() {
            strip_nulls(c);
        }
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    json_patch::merge(&mut out, patch);
    out
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, String> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| e.to_string())?;
    let mut out = target.clone();
    json_patch::patch(&mut out, &ops).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The merge key of a list field in the built-in types (`patchMergeKey` in k8s.io/api), for
/// strategic merge patch. Lists not named here are replaced whole, as for atomic lists.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        // Container ports merge by containerPort, Service ports by port.
        "ports" if items.iter().any(|i| i.get("containerPort").is_some()) => "containerPort",
        "ports" => "port",
        _ => return None,
    })
}

/// Primitive lists with patchStrategy merge: patches add to them.
fn merges_primitives(field: &str) -> bool {
    field == "finalizers"
}

/// Strategic merge patch (k8s.io/apimachinery `pkg/util/strategicpatch`) with the directives
/// kubectl sends: `$patch` (replace/delete/merge), `$retainKeys`, `$setElementOrder/<list>`,
/// `$deleteFromPrimitiveList/<list>`, and null to delete.
pub fn strategic_merge(target: &Value, patch: &Value) -> Result<Value, String> {
    fn merge_map(t: &mut Map<String, Value>, p: &Map<String, Value>) -> Result<(), String> {
        if p.get("$patch").and_then(Value::as_str) == Some("replace") {
            *t = p.clone();
            t.remove("$patch");
            return Ok(());
        }
        for (k, v) in p {
            if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
                continue;
            }
            if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
                if let (Some(Value::Array(have)), Some(drop)) = (t.get_mut(list), v.as_array()) {
                    have.retain(|x| !drop.contains(x));
                }
                continue;
            }
            if v.is_null() {
                t.remove(k);
                continue;
            }
            match (t.get_mut(k), v) {
                (Some(Value::Object(tm)), Value::Object(pm)) => {
                    if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                        t.remove(k);
                    } else {
                        merge_map(tm, pm)?;
                    }
                }
                (Some(Value::Array(ta)), Value::Array(pa)) => merge_list(k, ta, pa)?,
                (_, Value::Object(pm)) => {
                    let mut fresh = Map::new();
                    merge_map(&mut fresh, pm)?;
                    t.insert(k.clone(), Value::Object(fresh));
                }
                _ => {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
            t.retain(|k, _| keep.iter().any(|x| x == k));
        }
        Ok(())
    }
    fn merge_list(field: &str, t: &mut Vec<Value>, p: &[Value]) -> Result<(), String> {
        if merges_primitives(field) {
            for v in p {
                if !t.contains(v) {
                    t.push(v.clone());
                }
            }
            return Ok(());
        }
        let all: Vec<Value> = t.iter().chain(p).cloned().collect();
        let Some(key) = merge_key(field, &all) else {
            *t = p.to_vec();
            return Ok(());
        };
        if p.iter()
            .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
        {
            *t = p
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect();
            return Ok(());
        }
        for item in p {
            let Some(id) = item.get(key) else {
                return Err(format!(
                    "map list {field} needs merge key {key} in every item"
                ));
            };
            let pos = t.iter().position(|x| x.get(key) == Some(id));
            let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
            match (pos, delete) {
                (Some(i), true) => {
                    t.remove(i);
                }
                (None, true) => {}
                (Some(i), false) => {
                    if let (Value::Object(tm), Value::Object(pm)) = (&mut t[i], item) {
                        merge_map(tm, pm)?;
                    }
                }
                (None, false) => {
                    let mut fresh = Map::new();
                    if let Value::Object(pm) = item {
                        merge_map(&mut fresh, pm)?;
                    }
                    t.push(Value::Object(fresh));
                }
            }
        }
        Ok(())
    }
    let mut out = target.clone();
    match (out.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => merge_map(t, p)?,
        _ => return Err("a strategic merge patch must be a JSON object".into()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-01-01T00:00:00Z";

    #[test]
    fn apply_creates_then_removes_what_the_manager_stopped_applying() {
        let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}});
        let obj = apply(None, &first, "helm", false, NOW).unwrap();
        assert_eq!(obj["metadata"]["managedFields"][0]["manager"], "helm");
        assert_eq!(
            obj["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {"f:x": {}}, "f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}}})
        );
        let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "2"}});
        let obj = apply(Some(&obj), &second, "helm", false, NOW).unwrap();
        assert_eq!(obj["metadata"]["labels"], json!({"a": "1"}));
        assert_eq!(obj["data"]["x"], "2");
    }

    #[test]
    fn another_managers_field_is_a_conflict_unless_forced_and_is_kept_when_shared() {
        let helm = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1, "paused": false}});
        let obj = apply(None, &helm, "helm", false, NOW).unwrap();
        let kubectl = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 3}});
        let err = apply(Some(&obj), &kubectl, "kubectl", false, NOW).unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"helm\" using apps/v1: .spec.replicas"
        );
        let forced = apply(Some(&obj), &kubectl, "kubectl", true, NOW).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        // helm stops applying paused; nobody else owns it, so it goes.
        let helm2 = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}});
        let after = apply(Some(&forced), &helm2, "helm", false, NOW).unwrap();
        assert!(after["spec"].get("paused").is_none(), "{after}");
        assert_eq!(after["spec"]["replicas"], 3, "kubectl still owns replicas");
    }

    #[test]
    fn an_update_takes_ownership_of_what_it_changed() {
        let obj = apply(None, &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "YQ=="}}), "bootstrap", false, NOW).unwrap();
        let mut edited = obj.clone();
        edited["data"]["k"] = json!("Yg==");
        record_update(Some(&obj), &mut edited, "kubectl-edit", NOW);
        let o = owners(&edited);
        assert!(o.iter().all(|o| o.manager != "bootstrap"), "{o:?}");
        assert_eq!(o[0].manager, "kubectl-edit");
        assert_eq!(o[0].operation, "Update");
    }

    #[test]
    fn fields_v1_round_trips() {
        let paths: BTreeSet<Path> = [
            vec!["spec".into(), "replicas".into()],
            vec!["metadata".into(), "labels".into(), "a".into()],
        ]
        .into();
        assert_eq!(from_fields_v1(&to_fields_v1(&paths)), paths);
        let real =
            json!({"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}}}}});
        assert_eq!(
            from_fields_v1(&real),
            [vec!["spec".to_owned(), "containers".to_owned()]].into()
        );
    }

    #[test]
    fn strategic_merge_merges_containers_by_name_and_honours_directives() {
        let live = json!({"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}],
            "tolerations": [{"key": "k"}], "finalizers": ["f1"]}, "metadata": {"labels": {"a": "1", "b": "2"}}});
        let patch = json!({"spec": {"containers": [{"name": "a", "image": "x:2"}, {"name": "b", "$patch": "delete"}],
            "tolerations": [{"key": "j"}], "finalizers": ["f2"], "$setElementOrder/containers": [{"name": "a"}]},
            "metadata": {"labels": {"b": null, "c": "3"}}});
        let out = strategic_merge(&live, &patch).unwrap();
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "a", "image": "x:2"}])
        );
        assert_eq!(
            out["spec"]["tolerations"],
            json!([{"key": "j"}]),
            "no merge key: replaced"
        );
        assert_eq!(out["spec"]["finalizers"], json!(["f1", "f2"]));
        assert_eq!(out["metadata"]["labels"], json!({"a": "1", "c": "3"}));
        let replaced = strategic_merge(
            &live,
            &json!({"metadata": {"labels": {"$patch": "replace", "z": "9"}}}),
        )
        .unwrap();
        assert_eq!(replaced["metadata"]["labels"], json!({"z": "9"}));
    }

    #[test]
    fn merge_and_json_patches() {
        let t = json!({"a": {"b": 1, "c": 2}});
        assert_eq!(
            merge_patch(&t, &json!({"a": {"b": null, "d": 3}})),
            json!({"a": {"c": 2, "d": 3}})
        );
        let p = json!([{"op": "replace", "path": "/a/b", "value": 5}]);
        assert_eq!(json_patch(&t, &p).unwrap(), json!({"a": {"b": 5, "c": 2}}));
        assert!(json_patch(&t, &json!([{"op": "remove", "path": "/x"}])).is_err());
    }
}
