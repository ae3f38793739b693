//! Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for (Accept
//! `application/json;as=Table;v=v1;g=meta.k8s.io`), with the columns the real server prints for
//! a kind without special printers (NAME, AGE), plus the few every user reads (a Namespace's
//! STATUS, a Secret's TYPE and DATA, a Service's TYPE and CLUSTER-IP, workloads' READY).
//! Each row carries the object's metadata, so `kubectl get -A` adds the NAMESPACE column.

use super::kinds::Resource;
use serde_json::{json, Value};

pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table") && first.contains("g=meta.k8s.io"))
}

/// k8s.io/apimachinery `pkg/util/duration.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        match s % 60 {
            0 => format!("{m}m"),
            r => format!("{m}m{r}s"),
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            r => format!("{h}h{r}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        match h % 24 {
            0 => format!("{d}d"),
            r => format!("{d}d{r}h"),
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        match d % 365 {
            0 => format!("{}y", d / 365),
            r => format!("{}y{r}d", d / 365),
        }
    } else {
        format!("{}y", d / 365)
    }
}

fn parse_rfc3339(t: &str) -> Option<i64> {
    // YYYY-MM-DDTHH:MM:SSZ, as the store writes it.
    let b = t.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let (y2, m2) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn age(obj: &Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    obj["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(parse_rfc3339)
        .map(|t| human_duration(now - t))
        .unwrap_or_else(|| "<unknown>".into())
}

fn column(name: &str, kind: &str, format: &str) -> Value {
    json!({"name": name, "type": kind, "format": format, "description": "", "priority": 0})
}

fn extra_columns(res: &Resource) -> Vec<Value> {
    match (res.group.as_str(), res.kind.as_str()) {
        ("", "Namespace") => vec![column("Status", "string", "")],
        ("", "Secret") => vec![column("Type", "string", ""), column("Data", "string", "")],
        ("", "Service") => vec![
            column("Type", "string", ""),
            column("Cluster-IP", "string", ""),
        ],
        ("apps", "Deployment" | "StatefulSet") => vec![column("Ready", "string", "")],
        _ => vec![],
    }
}

fn extra_cells(res: &Resource, obj: &Value) -> Vec<Value> {
    let s = |v: &Value| json!(v.as_str().unwrap_or("<none>"));
    match (res.group.as_str(), res.kind.as_str()) {
        ("", "Namespace") => vec![s(&obj["status"]["phase"])],
        ("", "Secret") => vec![
            s(&obj["type"]),
            json!(obj["data"].as_object().map(|d| d.len()).unwrap_or(0)),
        ],
        ("", "Service") => vec![s(&obj["spec"]["type"]), s(&obj["spec"]["clusterIP"])],
        ("apps", "Deployment" | "StatefulSet") => vec![json!(format!(
            "{}/{}",
            obj["status"]["readyReplicas"].as_i64().unwrap_or(0),
            obj["spec"]["replicas"].as_i64().unwrap_or(1)
        ))],
        _ => vec![],
    }
}

pub fn table(res: &Resource, items: &[Value], rv: u64, _all_namespaces: bool) -> Value {
    let mut columns = vec![column("Name", "string", "name")];
    columns.extend(extra_columns(res));
    columns.push(column("Age", "string", ""));
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            cells.extend(extra_cells(res, o));
            cells.push(json!(age(o)));
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_kubectl_prints_them() {
        for (s, want) in [
            (5, "5s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86_400, "3d"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
        assert_eq!(parse_rfc3339("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(
            parse_rfc3339(&crate::kube::store::rfc3339(1_800_000_000)),
            Some(1_800_000_000)
        );
    }

    #[test]
    fn a_table_has_a_row_per_object_with_its_metadata() {
        let res = crate::kube::kinds::built_in()
            .into_iter()
            .find(|r| r.kind == "Namespace")
            .unwrap();
        let t = table(
            &res,
            &[
                json!({"metadata": {"name": "dev", "creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Active"}}),
            ],
            7,
            false,
        );
        assert_eq!(t["rows"][0]["cells"][0], "dev");
        assert_eq!(t["rows"][0]["cells"][1], "Active");
        assert_eq!(t["columnDefinitions"][2]["name"], "Age");
        assert!(wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
    }
}
