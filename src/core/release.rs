//! Helm releases as we want them, as helm stored them, and whether the stored one already is what
//! we want (pure), so a converged `up` runs no `helm` at all: releases are read through the kube
//! API from helm's own records (Secrets `sh.helm.release.v1.<name>.v<revision>`), decoded here.

use crate::core::config::Chart;
use crate::core::ownership::{self, Holder};
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

/// The latest revision of a release, as helm's storage driver keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub name: String,
    pub namespace: String,
    pub revision: u64,
    /// helm's status word: deployed, failed, pending-install, pending-upgrade, pending-rollback,
    /// superseded, uninstalling, uninstalled.
    pub status: String,
    pub chart: String,
    pub chart_version: String,
    /// The user-supplied values (`helm get values`).
    pub values: Value,
    /// Release labels (`helm --labels`, helm 3.13+): where our mark lives.
    pub labels: Value,
}

/// Decode the `release` field of a helm release Secret (already base64-decoded by the API
/// client): helm writes base64(gzip(json)), or base64(json) for records older than compression.
/// Format: helm/helm pkg/storage/driver/util.go (encodeRelease/decodeRelease), v3 and v4.
pub fn decode_record(field: &[u8]) -> Result<Value, String> {
    use base64::Engine;
    use std::io::Read;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(field.trim_ascii())
        .map_err(|e| format!("not base64: {e}"))?;
    let json = if raw.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format!("not gzip: {e}"))?;
        out
    } else {
        raw
    };
    serde_json::from_slice(&json).map_err(|e| format!("not a release: {e}"))
}

/// Pure: the fields we judge by, from a decoded record and the Secret's labels (helm copies
/// release labels onto the Secret; older helm keeps them only there).
pub fn stored(record: &Value, secret_labels: Option<&Value>) -> Stored {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut labels = secret_labels
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(own) = record["labels"].as_object() {
        labels.extend(own.clone());
    }
    Stored {
        name: s(&record["name"]),
        namespace: s(&record["namespace"]),
        revision: record["version"].as_u64().unwrap_or(0),
        status: s(&record["info"]["status"]),
        chart: s(&record["chart"]["metadata"]["name"]),
        chart_version: s(&record["chart"]["metadata"]["version"]),
        values: match &record["config"] {
            Value::Null => Value::Object(Default::default()),
            v => v.clone(),
        },
        labels: Value::Object(labels),
    }
}

/// What `up` must do about one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Absent,
    Converged,
    /// Ours, and it differs: the reasons, for the plan.
    Upgrade(Vec<String>),
    /// Ours, left `pending-*` by an interrupted helm: it must be recovered before helm will
    /// touch it again (helm refuses with "another operation is in progress"); or left
    /// `uninstalling` by an interrupted uninstall (helm's upgrade refuses it: "has no deployed
    /// releases").
    Recover(String),
    /// Not ours, and exactly what we want: used as is, never changed or removed.
    Adopt,
    /// Not ours, and it differs: we stop before any change.
    Conflict(Holder, Vec<String>),
}

/// Pure: a status only an interrupted helm leaves behind: helm/helm v4.2.3 pkg/action stores
/// `pending-*` before it applies (install.go, upgrade.go, rollback.go) and `uninstalling` before
/// it deletes (uninstall.go), and replaces them once done.
pub fn interrupted(status: &str) -> bool {
    status.starts_with("pending-") || status == "uninstalling"
}

/// Pure: compare what helm stored with what we want, and whose it is.
pub fn judge(want: &Release, seen: Option<&Stored>, cluster: &str) -> Verdict {
    let Some(seen) = seen else {
        return Verdict::Absent;
    };
    let mut differs = Vec::new();
    let chart_ok = match (&want.chart.path, &want.chart.version) {
        (None, Some(v)) => seen.chart == want.chart.name && &seen.chart_version == v,
        // a chart from a local path is compared by name only: its content is not versioned
        _ => seen.chart == want.chart.name,
    };
    if !chart_ok {
        differs.push(format!(
            "chart {} {} is deployed, the file wants {} {}",
            seen.chart,
            seen.chart_version,
            want.chart.name,
            want.chart.version.as_deref().unwrap_or("(local)")
        ));
    }
    if seen.values != want.values {
        differs.push("its values differ from the file's".into());
    }
    if seen.status != "deployed" {
        differs.push(format!("its status is {}", seen.status));
    }
    match ownership::holder(Some(&seen.labels), cluster) {
        Holder::Ours if interrupted(&seen.status) => Verdict::Recover(seen.status.clone()),
        Holder::Ours if differs.is_empty() => Verdict::Converged,
        Holder::Ours => Verdict::Upgrade(differs),
        _ if differs.is_empty() => Verdict::Adopt,
        other => Verdict::Conflict(other, differs),
    }
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

#[cfg(test)]
mod record_tests {
    use super::*;
    use serde_json::json;

    fn want() -> Release {
        Release {
            name: "ingress-nginx".into(),
            namespace: "ingress-nginx".into(),
            chart: Chart {
                repo: Some("https://kubernetes.github.io/ingress-nginx".into()),
                name: "ingress-nginx".into(),
                version: Some("4.14.1".into()),
                path: None,
            },
            values: json!({"controller": {"x": 1}}),
        }
    }

    fn record(status: &str, labels: Value) -> Value {
        json!({"name": "ingress-nginx", "namespace": "ingress-nginx", "version": 2,
               "info": {"status": status},
               "chart": {"metadata": {"name": "ingress-nginx", "version": "4.14.1"}},
               "config": {"controller": {"x": 1}}, "labels": labels})
    }

    fn gzip_b64(v: &Value) -> Vec<u8> {
        use base64::Engine;
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(v.to_string().as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD
            .encode(gz.finish().unwrap())
            .into_bytes()
    }

    #[test]
    fn records_decode_compressed_and_plain() {
        use base64::Engine;
        let r = record("deployed", json!({}));
        assert_eq!(decode_record(&gzip_b64(&r)).unwrap(), r);
        let plain = base64::engine::general_purpose::STANDARD.encode(r.to_string());
        assert_eq!(decode_record(plain.as_bytes()).unwrap(), r);
        assert!(decode_record(b"!!not base64").is_err());
    }

    #[test]
    fn verdicts_follow_status_values_and_the_mark() {
        let ours = json!({"bootstrap/env": "localdev"});
        let s = stored(&record("deployed", json!({})), Some(&ours));
        assert_eq!(judge(&want(), Some(&s), "localdev"), Verdict::Converged);
        assert_eq!(judge(&want(), None, "localdev"), Verdict::Absent);
        let mut w = want();
        w.values = json!({"controller": {"x": 2}});
        assert!(
            matches!(judge(&w, Some(&s), "localdev"), Verdict::Upgrade(r) if r[0].contains("values"))
        );
        let pending = stored(&record("pending-install", json!({})), Some(&ours));
        assert_eq!(
            judge(&want(), Some(&pending), "localdev"),
            Verdict::Recover("pending-install".into())
        );
        let uninstalling = stored(&record("uninstalling", json!({})), Some(&ours));
        assert_eq!(
            judge(&want(), Some(&uninstalling), "localdev"),
            Verdict::Recover("uninstalling".into())
        );
        let failed = stored(&record("failed", json!({})), Some(&ours));
        assert!(matches!(
            judge(&want(), Some(&failed), "localdev"),
            Verdict::Upgrade(_)
        ));
        // The user's own release: used when it is exactly ours, a conflict otherwise.
        let theirs = stored(&record("deployed", json!({})), None);
        assert_eq!(judge(&want(), Some(&theirs), "localdev"), Verdict::Adopt);
        assert!(matches!(
            judge(&w, Some(&theirs), "localdev"),
            Verdict::Conflict(Holder::Foreign, _)
        ));
        // Labels recorded in the release body count as well as those on the Secret.
        let in_body = stored(&record("deployed", ours.clone()), None);
        assert_eq!(
            judge(&want(), Some(&in_body), "localdev"),
            Verdict::Converged
        );
    }
}
