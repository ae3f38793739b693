//! Pure renderers: what the file implies, as the documents other tools consume.

pub mod cache;
pub mod contexts;
pub mod gateway;
pub mod kind;
pub mod registry;
pub mod router;
pub mod routes;
pub mod vcluster;

pub use contexts::contexts;
pub use kind::kind_config;
pub use router::router_values;
pub use routes::routes;
pub use vcluster::vcluster_values;

use serde::Serialize;

/// YAML as we print it: block style, two-space indent, strings quoted only where YAML needs it.
pub fn to_yaml<T: Serialize>(value: &T) -> String {
    serde_saphyr::to_string(value).unwrap_or_else(|e| format!("# could not render: {e}\n"))
}

/// Deep-merge `over` into `base`: mappings merge key by key, anything else is replaced.
pub fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_is_deep_and_replaces_scalars_and_lists() {
        let mut a = json!({"a": {"b": 1, "c": [1, 2]}, "d": 1});
        merge(&mut a, &json!({"a": {"c": [3], "e": true}, "d": {"x": 1}}));
        assert_eq!(
            a,
            json!({"a": {"b": 1, "c": [3], "e": true}, "d": {"x": 1}})
        );
    }
}
