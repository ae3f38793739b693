//! Pure renderers: what the file implies, as the documents other tools consume.

pub mod cache;
pub mod contexts;
pub mod gateway;
pub mod kind;
pub mod registry;
pub mod values;
pub mod vcluster;

pub use contexts::contexts;
pub use kind::kind_config;
pub use values::merge;
pub use vcluster::vcluster_values;

use serde::Serialize;

/// YAML as we print it: block style, two-space indent, strings quoted only where YAML needs it.
pub fn to_yaml<T: Serialize>(value: &T) -> String {
    serde_saphyr::to_string(value).unwrap_or_else(|e| format!("# could not render: {e}\n"))
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
