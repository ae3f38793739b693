//! Layering: built-in defaults < the file < BOOTSTRAP_* variables < flags.

use super::decode::{decode, set_override};
use super::diag::{At, Diags};
use super::model::Env;
use super::node::{self, Value};
use super::validate::validate;
use figment::providers::{Env as EnvProvider, Serialized};
use figment::Figment;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Settings a variable or flag may override, with the field each one sets.
pub const OVERRIDES: &[(&str, &[&str])] = &[
    ("cluster_name", &["cluster", "name"]),
    ("node_image", &["cluster", "nodeImage"]),
    ("api_port", &["cluster", "apiServer", "port"]),
    ("https_port", &["router", "httpsPort"]),
    ("domain", &["router", "domain"]),
    ("access", &["access", "mode"]),
    ("kubeconfig", &["kubeconfig", "path"]),
];

/// Overrides given as flags; they win over variables.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
}

/// One overriding value and where it came from (`BOOTSTRAP_API_PORT`, `--access`).
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: &'static str,
    pub value: String,
    pub from: String,
}

/// Gather variables and flags through figment, flags last so they win.
pub fn gather_overrides(flags: &FlagOverrides) -> Result<Vec<Override>, Box<figment::Error>> {
    let keys: Vec<&str> = OVERRIDES.iter().map(|(k, _)| *k).collect();
    let fig = Figment::new()
        .merge(EnvProvider::prefixed("BOOTSTRAP_").only(&keys))
        .merge(Serialized::defaults(flags));
    let merged: BTreeMap<String, figment::value::Value> = fig.extract().map_err(Box::new)?;
    let flag_set = serde_json::to_value(flags).unwrap_or_default();
    let mut out = Vec::new();
    for (key, _) in OVERRIDES {
        let Some(v) = merged.get(*key) else { continue };
        let value = match v {
            figment::value::Value::String(_, s) => s.clone(),
            figment::value::Value::Num(_, n) => n
                .to_u128()
                .map(|n| n.to_string())
                .or_else(|| n.to_i128().map(|n| n.to_string()))
                .or_else(|| n.to_f64().map(|n| n.to_string()))
                .unwrap_or_default(),
            figment::value::Value::Bool(_, b) => b.to_string(),
            other => format!("{other:?}"),
        };
        let from = if flag_set.get(*key).is_some() {
            format!("--{}", key.replace('_', "-"))
        } else {
            format!("BOOTSTRAP_{}", key.to_ascii_uppercase())
        };
        out.push(Override { key, value, from });
    }
    Ok(out)
}

/// The outcome of reading a configuration: the environment when it is valid, and every finding.
#[derive(Debug)]
pub struct Loaded {
    pub env: Option<Env>,
    pub diags: Diags,
}

/// Pure: text in, environment and findings out.
pub fn load_str(text: &str, file: &str, overrides: &[Override]) -> Loaded {
    let mut diags = Diags::new(file);
    let mut root = match node::parse(text) {
        Ok(root) => root,
        Err(e) => {
            diags.error(
                &At::file(e.pos),
                "(syntax)",
                e.message,
                Some("this is not valid YAML".into()),
            );
            return Loaded { env: None, diags };
        }
    };
    for o in overrides {
        if let Some((_, path)) = OVERRIDES.iter().find(|(k, _)| *k == o.key) {
            set_override(&mut root, path, Value::Str(o.value.clone()), &o.from);
        }
    }
    let (env, origins) = decode(&root, &mut diags);
    // Semantic checks on a half-decoded file would mostly repeat the type errors in other words.
    if !diags.has_errors() {
        validate(&env, &origins, &mut diags);
    }
    diags.sort();
    let env = (!diags.has_errors()).then_some(env);
    Loaded { env, diags }
}

/// Read the file (a missing file is a usage error the caller reports) and load it.
pub fn load_file(path: &Path, overrides: &[Override]) -> std::io::Result<Loaded> {
    let text = std::fs::read_to_string(path)?;
    Ok(load_str(&text, &path.display().to_string(), overrides))
}
