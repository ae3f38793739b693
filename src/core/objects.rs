//! Our API objects against what is live (pure): converged when every field we set holds, and
//! changed only when they are ours. Fields others set (status, defaults, other managers') are
//! not ours to compare.

use crate::core::ownership::{self, Holder};
use serde_json::Value;

/// Does `live` hold every field `want` sets? Lists must match whole.
pub fn holds(live: &Value, want: &Value) -> bool {
    match (live, want) {
        (Value::Object(l), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| l.get(k).is_some_and(|lv| holds(lv, wv))),
        (Value::Array(l), Value::Array(w)) => {
            l.len() == w.len() && l.iter().zip(w).all(|(a, b)| holds(a, b))
        }
        _ => live == want,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    Absent,
    Converged,
    /// Ours, and a field we set differs.
    Apply,
    /// Someone else's object under the name we would use.
    Conflict(Holder),
}

/// Pure: what to do about one object we want.
pub fn judge(want: &Value, live: Option<&Value>, cluster: &str) -> Judged {
    match live {
        None => Judged::Absent,
        Some(l) if holds(l, want) => Judged::Converged,
        Some(l) => match ownership::holder(l.pointer("/metadata/labels"), cluster) {
            Holder::Ours => Judged::Apply,
            other => Judged::Conflict(other),
        },
    }
}

/// A typed object (k8s-openapi) as the value the steps apply, compare and print. k8s-openapi
/// writes a struct's fields alphabetically (`metadata.annotations` before `name`) and its maps
/// sorted; ours read the way manifests are written, identity first: `apiVersion`, `kind`,
/// `metadata` with `name`, `namespace`, `labels`, `annotations`, then the rest as serialized.
/// Key order means nothing to the API server nor to `holds`, but `render routes` prints it and
/// the golden files pin it. It omits every field left `None`, so `holds` compares only what we
/// set.
pub fn manifest<T: serde::Serialize>(obj: &T) -> Value {
    // k8s-openapi's objects have string keys only: serializing one cannot fail.
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    lead(&mut v, "", &["apiVersion", "kind", "metadata"]);
    lead(
        &mut v,
        "/metadata",
        &["name", "namespace", "labels", "annotations"],
    );
    v
}

/// Puts `keys` (those present) first in the object at `pointer`, in that order; the others keep
/// theirs after them.
pub fn lead(v: &mut Value, pointer: &str, keys: &[&str]) {
    let Some(m) = v.pointer_mut(pointer).and_then(Value::as_object_mut) else {
        return;
    };
    let mut rest = std::mem::take(m);
    for k in keys {
        if let Some(x) = rest.shift_remove(*k) {
            m.insert((*k).to_owned(), x);
        }
    }
    m.extend(rest);
}

/// `ingress/dev-vcluster/vcluster-dev-helm-api`, as plans name an object.
pub fn target(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or_default().to_lowercase();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// What `down` says of an object with our name but not our mark: it stays, and how to remove it.
pub fn left_in_place(obj: &Value, holder: &str) -> String {
    let kind = obj["kind"].as_str().unwrap_or_default().to_lowercase();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .map(|n| format!(" -n {n}"))
        .unwrap_or_default();
    format!(
        "{}: {holder}: left in place\n  hint: delete it yourself (`kubectl delete {kind} {name}{ns}`), or run `bootstrap down --force`",
        target(obj)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_is_left_says_how_to_remove_it() {
        let o = json!({"kind": "Ingress", "metadata": {"name": "api", "namespace": "dev"}});
        assert_eq!(
            left_in_place(&o, "made by someone else"),
            "ingress/dev/api: made by someone else: left in place\n  hint: delete it yourself (`kubectl delete ingress api -n dev`), or run `bootstrap down --force`"
        );
    }

    #[test]
    fn holds_compares_only_what_we_apply() {
        let live = json!({"metadata": {"name": "a", "uid": "x", "labels": {"k": "v", "other": "w"}}, "spec": {"r": [1, 2]}, "status": {}});
        assert!(holds(
            &live,
            &json!({"metadata": {"name": "a", "labels": {"k": "v"}}, "spec": {"r": [1, 2]}})
        ));
        assert!(!holds(
            &live,
            &json!({"metadata": {"labels": {"k": "changed"}}})
        ));
        assert!(
            !holds(&live, &json!({"spec": {"r": [1]}})),
            "lists must match whole"
        );
        assert!(!holds(&live, &json!({"spec": {"missing": true}})));
    }

    #[test]
    fn only_our_objects_are_changed() {
        let want = json!({"kind": "Ingress", "metadata": {"name": "r", "namespace": "n", "labels": {"bootstrap/env": "dev"}}, "spec": {"x": 1}});
        assert_eq!(judge(&want, None, "dev"), Judged::Absent);
        assert_eq!(judge(&want, Some(&want), "dev"), Judged::Converged);
        let ours_changed = json!({"metadata": {"name": "r", "labels": {"bootstrap/env": "dev"}}, "spec": {"x": 2}});
        assert_eq!(judge(&want, Some(&ours_changed), "dev"), Judged::Apply);
        let theirs = json!({"metadata": {"name": "r"}, "spec": {"x": 1}});
        assert_eq!(
            judge(&want, Some(&theirs), "dev"),
            Judged::Conflict(Holder::Foreign)
        );
        assert_eq!(target(&want), "ingress/n/r");
    }
}
