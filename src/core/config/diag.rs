//! Findings about a configuration: where (file, line, column or the variable/flag), which field,
//! what is wrong and what would be valid.

use super::node::Pos;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diag {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Set when the value came from a BOOTSTRAP_* variable or a flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Field path such as `vclusters[1].hostname`.
    pub field: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match &self.from {
            Some(from) => write!(f, "{sev}: {from}: {}: {}", self.field, self.message)?,
            None if self.line == 0 => {
                write!(f, "{sev}: {}: {}: {}", self.file, self.field, self.message)?
            }
            None => write!(
                f,
                "{sev}: {}:{}:{}: {}: {}",
                self.file, self.line, self.column, self.field, self.message
            )?,
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Collects findings in file order; decoding and validation both append here.
#[derive(Debug, Default, Clone)]
pub struct Diags {
    pub file: String,
    pub items: Vec<Diag>,
}

/// Where a finding points: a place in the file, or the variable/flag a value came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct At {
    pub pos: Pos,
    pub from: Option<String>,
}

impl At {
    pub fn file(pos: Pos) -> Self {
        At { pos, from: None }
    }
}

impl Diags {
    pub fn new(file: impl Into<String>) -> Self {
        Diags {
            file: file.into(),
            items: Vec::new(),
        }
    }

    pub fn error(
        &mut self,
        at: &At,
        field: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Severity::Error, at, field, message.into(), hint);
    }

    pub fn warn(&mut self, at: &At, field: &str, message: impl Into<String>, hint: Option<String>) {
        self.push(Severity::Warning, at, field, message.into(), hint);
    }

    fn push(
        &mut self,
        severity: Severity,
        at: &At,
        field: &str,
        message: String,
        hint: Option<String>,
    ) {
        self.items.push(Diag {
            severity,
            file: self.file.clone(),
            line: at.pos.line,
            column: at.pos.column,
            from: at.from.clone(),
            field: field.to_owned(),
            message,
            hint,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diag> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diag> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// File order: the order a person fixes them in.
    pub fn sort(&mut self) {
        self.items
            .sort_by_key(|d| (d.from.is_some(), d.line, d.column, d.field.clone()));
    }
}

/// "did you mean" for a misspelt key or value.
pub fn suggest<'a>(got: &str, valid: &[&'a str]) -> Option<&'a str> {
    let lower = got.to_ascii_lowercase();
    valid
        .iter()
        .map(|v| (*v, strsim::jaro_winkler(&lower, &v.to_ascii_lowercase())))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            suggest("hostPrt", &["hostPort", "containerPort"]),
            Some("hostPort")
        );
        assert_eq!(
            suggest("extraSans", &["extraCertSANs", "nodeLabels"]),
            Some("extraCertSANs")
        );
        assert_eq!(
            suggest("ingres-nginx", &["ingress-nginx", "gateway-api"]),
            Some("ingress-nginx")
        );
        assert_eq!(suggest("zzz", &["name"]), None);
    }
}
