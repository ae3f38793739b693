//! Helm releases as we want them, and whether a deployed release already is that (pure), so a
//! converged `up` runs no `helm upgrade` at all.

use crate::core::config::Chart;
use serde_json::Value;

/// One release as we want it.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub chart: Chart,
    pub values: Value,
}

/// Is the deployed release what we want? Compares its `helm list -o json` row (status and
/// `<chart>-<version>`) and its user-supplied values (`helm get values -o json`) with ours.
/// Nothing is stored on the release for this: vcluster's values schema rejects unknown keys, so
/// a marker in the values would fail at install. A failed or pending release is never converged.
/// A chart from a local path is compared by name only: its content is not versioned.
pub fn is_converged(r: &Release, listed: Option<&Value>, deployed_values: Option<&Value>) -> bool {
    let Some(row) = listed else { return false };
    if row.get("status").and_then(Value::as_str) != Some("deployed") {
        return false;
    }
    let chart = row.get("chart").and_then(Value::as_str).unwrap_or("");
    let chart_ok = match (&r.chart.path, &r.chart.version) {
        (None, Some(v)) => chart == format!("{}-{v}", r.chart.name),
        _ => chart.starts_with(&format!("{}-", r.chart.name)),
    };
    // helm reports "no user values" as null.
    let empty = Value::Object(Default::default());
    let deployed = deployed_values.filter(|v| !v.is_null()).unwrap_or(&empty);
    chart_ok && deployed == &r.values
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rel() -> Release {
        Release {
            name: "vcluster-dev-helm".into(),
            namespace: "dev-vcluster".into(),
            chart: Chart {
                repo: Some("https://charts.loft.sh".into()),
                name: "vcluster".into(),
                version: Some("0.26.0".into()),
                path: None,
            },
            values: json!({"a": 1}),
        }
    }

    #[test]
    fn converged_only_when_deployed_with_our_chart_and_values() {
        let r = rel();
        let row =
            json!({"name": "vcluster-dev-helm", "status": "deployed", "chart": "vcluster-0.26.0"});
        assert!(is_converged(&r, Some(&row), Some(&json!({"a": 1}))));
        assert!(!is_converged(&r, None, Some(&json!({"a": 1}))), "absent");
        let failed = json!({"status": "failed", "chart": "vcluster-0.26.0"});
        assert!(
            !is_converged(&r, Some(&failed), Some(&json!({"a": 1}))),
            "failed release"
        );
        assert!(
            !is_converged(&r, Some(&row), Some(&json!({"a": 2}))),
            "values changed"
        );
        let mut bumped = r.clone();
        bumped.chart.version = Some("0.26.1".into());
        assert!(
            !is_converged(&bumped, Some(&row), Some(&json!({"a": 1}))),
            "chart bumped"
        );
        let mut empty = r.clone();
        empty.values = json!({});
        assert!(
            is_converged(&empty, Some(&row), Some(&Value::Null)),
            "helm prints null for no values"
        );
    }
}
