//! What verify found, and its two renderings: a table for people, JSON for scripts.

use super::diagnose::{Diagnosis, Layer};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub contexts: Vec<ContextReport>,
    /// Environment checks (Docker, router, secrets); empty with `--context`.
    pub checks: Vec<EnvCheck>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContextReport {
    pub name: String,
    pub server: String,
    pub ok: bool,
    pub layers: Vec<LayerReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_layer: Option<Layer>,
    pub diagnosis: Option<String>,
    pub hint: Option<String>,
    pub ms: f64,
    /// The context whose connection this one used (same server, CA, name checked and
    /// credentials): its dns, tcp and tls layers were paid there, once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_with: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub name: Layer,
    pub ok: bool,
    /// What this context paid for the layer: 0 for a layer of a shared connection.
    pub ms: f64,
    pub detail: String,
    /// The layer was done once for the connection this context shared.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Pass,
    Fail,
    /// The check could not be made (what it depends on failed first); never counted as passed.
    NotChecked,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvCheck {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    pub hint: Option<String>,
}

impl ContextReport {
    pub fn new(
        name: String,
        server: String,
        layers: Vec<LayerReport>,
        diagnosis: Option<Diagnosis>,
        ms: f64,
    ) -> Self {
        let shared_with = layers
            .iter()
            .find(|l| l.shared)
            .and_then(|l| l.detail.strip_prefix(SHARED_PREFIX))
            .map(|c| c.trim_matches('`').to_owned());
        ContextReport {
            shared_with,
            name,
            server,
            ok: diagnosis.is_none() && layers.iter().all(|l| l.ok),
            layers,
            failed_layer: diagnosis.as_ref().map(|d| d.layer),
            hint: diagnosis.as_ref().map(|d| d.hint.clone()),
            diagnosis: diagnosis.map(|d| d.diagnosis),
            ms,
        }
    }
}

impl Report {
    pub fn new(contexts: Vec<ContextReport>, checks: Vec<EnvCheck>) -> Self {
        let ok =
            contexts.iter().all(|c| c.ok) && checks.iter().all(|c| c.status != CheckStatus::Fail);
        Report {
            ok,
            contexts,
            checks,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

const COLUMNS: [Layer; 5] = [Layer::Dns, Layer::Tcp, Layer::Tls, Layer::Auth, Layer::Api];

/// The detail of a layer done once for a shared connection: `shared with `<context>``.
pub const SHARED_PREFIX: &str = "shared with ";

/// A layer of a shared connection, as its other contexts report it.
pub fn shared_layer(of: &LayerReport, leader: &str) -> LayerReport {
    LayerReport {
        name: of.name,
        ok: of.ok,
        ms: 0.0,
        detail: format!("{SHARED_PREFIX}`{leader}`"),
        shared: true,
    }
}

fn cell(c: &ContextReport, layer: Layer) -> String {
    match c.layers.iter().find(|l| l.name == layer) {
        Some(l) if l.shared => "shared".into(),
        Some(l) if l.ok => format!("{:.1}ms", l.ms),
        Some(l) => format!("FAIL {:.0}ms", l.ms),
        None if c.failed_layer == Some(Layer::Config) && layer == Layer::Dns => {
            "FAIL config".into()
        }
        None => "-".into(),
    }
}

/// A line per context with each layer's latency, then the diagnosis and hint of each failure.
pub fn render_table(r: &Report) -> String {
    let mut rows: Vec<Vec<String>> = vec![[
        "CONTEXT", "SERVER", "DNS", "TCP", "TLS", "AUTH", "API", "RESULT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()];
    for c in &r.contexts {
        let mut row = vec![c.name.clone(), c.server.clone()];
        row.extend(COLUMNS.iter().map(|l| cell(c, *l)));
        row.push(match (c.ok, c.failed_layer) {
            (true, _) => "ok".into(),
            (false, Some(l)) => format!("FAILED at {}", l.as_str()),
            (false, None) => "FAILED".into(),
        });
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{v:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let shared = r
        .contexts
        .iter()
        .filter(|c| c.shared_with.is_some())
        .count();
    if shared > 0 {
        out.push_str(&format!(
            "({shared} of {} contexts `shared` the connection of the context above them with the same server, CA, name and credentials: one handshake for all; each made its own requests)\n",
            r.contexts.len()
        ));
    }
    for c in r.contexts.iter().filter(|c| !c.ok) {
        out.push('\n');
        let layer = c.failed_layer.map(|l| l.as_str()).unwrap_or("?");
        let server = if c.server.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.server)
        };
        out.push_str(&format!(
            "{}{server}: {layer}: {}\n",
            c.name,
            c.diagnosis.as_deref().unwrap_or("failed")
        ));
        if let Some(h) = &c.hint {
            out.push_str(&format!("  hint: {h}\n"));
        }
    }
    if !r.checks.is_empty() {
        out.push_str("\nENVIRONMENT\n");
        for ch in &r.checks {
            let status = match ch.status {
                CheckStatus::Pass => "ok",
                CheckStatus::Fail => "FAILED",
                CheckStatus::NotChecked => "not checked",
            };
            out.push_str(&format!("  {}: {status}: {}\n", ch.name, ch.detail));
            if let Some(h) = &ch.hint {
                out.push_str(&format!("    hint: {h}\n"));
            }
        }
    }
    let failed = r.contexts.iter().filter(|c| !c.ok).count();
    let failed_checks = r
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .count();
    out.push_str(&format!(
        "\n{} of {} context{} verified{}\n",
        r.contexts.len() - failed,
        r.contexts.len(),
        if r.contexts.len() == 1 { "" } else { "s" },
        if failed_checks > 0 {
            format!("; {failed_checks} environment check(s) failed")
        } else {
            String::new()
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: Layer, ok: bool, ms: f64) -> LayerReport {
        LayerReport {
            shared: false,
            name,
            ok,
            ms,
            detail: String::new(),
        }
    }

    fn sample() -> Report {
        let good = ContextReport::new(
            "kind-localdev".into(),
            "https://127.0.0.1:6443".into(),
            COLUMNS.iter().map(|l| layer(*l, true, 1.25)).collect(),
            None,
            6.0,
        );
        let bad = ContextReport::new(
            "dev-vcluster".into(),
            "https://dev-vcluster.cnoe.localtest.me:8443".into(),
            vec![
                layer(Layer::Dns, true, 0.5),
                layer(Layer::Tcp, false, 2000.0),
            ],
            Some(Diagnosis {
                layer: Layer::Tcp,
                diagnosis: "refused".into(),
                hint: "start it".into(),
            }),
            2000.5,
        );
        Report::new(
            vec![good, bad],
            vec![EnvCheck {
                name: "docker".into(),
                status: CheckStatus::NotChecked,
                detail: "Docker is not reachable".into(),
                hint: None,
            }],
        )
    }

    #[test]
    fn table_has_a_line_per_context_then_diagnoses() {
        let t = render_table(&sample());
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("CONTEXT"));
        assert!(
            lines[1].starts_with("kind-localdev")
                && lines[1].contains("1.2ms")
                && lines[1].ends_with("ok"),
            "{t}"
        );
        assert!(
            lines[2].contains("FAIL 2000ms") && lines[2].ends_with("FAILED at tcp"),
            "{t}"
        );
        assert!(t.contains("dev-vcluster (https://dev-vcluster.cnoe.localtest.me:8443): tcp: refused\n  hint: start it"), "{t}");
        assert!(
            t.contains("docker: not checked: Docker is not reachable"),
            "{t}"
        );
        assert!(t.contains("1 of 2 contexts verified"), "{t}");
    }

    #[test]
    fn json_shape_and_not_checked_is_not_a_pass() {
        let r = sample();
        assert!(!r.ok);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["contexts"][0]["layers"][0]["name"], "dns");
        assert_eq!(v["contexts"][0]["layers"][4]["ms"], 1.25);
        assert_eq!(v["contexts"][1]["diagnosis"], "refused");
        assert_eq!(v["contexts"][1]["hint"], "start it");
        assert_eq!(v["contexts"][1]["failed_layer"], "tcp");
        assert_eq!(v["checks"][0]["status"], "not-checked");
        let only_good = Report::new(vec![r.contexts[0].clone()], r.checks.clone());
        assert!(
            only_good.ok,
            "a not-checked environment item neither passes nor fails the run"
        );
    }
}
