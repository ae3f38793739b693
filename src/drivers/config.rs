//! What `core::config` decodes, read from outside: the environment file, and the BOOTSTRAP_*
//! variables with the flags that override them.

use crate::core::config::load::OVERRIDES;
use crate::core::config::{load_str, FlagOverrides, Loaded, Override};
use figment::providers::{Env as EnvProvider, Serialized};
use figment::Figment;
use std::collections::BTreeMap;
use std::path::Path;

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
        let flag = flag_set.get(*key).and_then(serde_json::Value::as_str);
        let variable = format!("BOOTSTRAP_{}", key.to_ascii_uppercase());
        // The text as the user wrote it: figment reads `[a]` as a list and `06443` as a number,
        // and our messages quote what was given, never a library's rendering of it.
        let value = match flag {
            Some(f) => f.to_owned(),
            None => match std::env::var(&variable) {
                Ok(raw) => raw,
                Err(_) => match v {
                    figment::value::Value::String(_, s) => s.clone(),
                    _ => continue,
                },
            },
        };
        let from = if flag.is_some() {
            format!("--{}", key.replace('_', "-"))
        } else {
            variable
        };
        out.push(Override { key, value, from });
    }
    Ok(out)
}

/// Read the file (a missing file is a usage error the caller reports) and load it.
pub fn load_file(path: &Path, overrides: &[Override]) -> std::io::Result<Loaded> {
    let text = std::fs::read_to_string(path)?;
    Ok(load_str(&text, &path.display().to_string(), overrides))
}
