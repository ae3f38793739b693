//! Layering: built-in defaults < the file < BOOTSTRAP_* variables < flags. Pure: the file's
//! text and the variables are read by `drivers::config`.

use super::decode::{decode, set_override};
use super::diag::{At, Diags};
use super::model::Env;
use super::node::{self, Value};
use super::validate::validate;
use serde::Serialize;

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
                e.grammar.then(|| "this is not valid YAML".into()),
            );
            return Loaded { env: None, diags };
        }
    };
    // A file with nothing in it is far more often a truncated or wrongly chosen file than a wish
    // for every default: `up` or `down` must not run on it. (`{}` says "all defaults" on purpose.)
    if root.value == Value::Null {
        diags.error(
            &At::file(node::Pos { line: 1, column: 1 }),
            "(file)",
            "the file is empty or holds only comments",
            Some("an environment file names at least its cluster (`cluster: {name: localdev}`); `bootstrap init` writes a starter file, and `{}` asks for every default".into()),
        );
        return Loaded { env: None, diags };
    }
    for o in overrides {
        if let Some((_, path)) = OVERRIDES.iter().find(|(k, _)| *k == o.key) {
            set_override(&mut root, path, Value::Str(o.value.clone()), &o.from);
        }
    }
    let mut rejected = std::collections::BTreeSet::new();
    for dup in node::duplicates(&root) {
        diags.error(
            &At::file(dup.pos),
            &dup.path,
            format!(
                "`{}` is written twice in this mapping (first at line {})",
                dup.key, dup.first.line
            ),
            Some("write each key once: which of the two values was meant cannot be told".into()),
        );
        rejected.insert(dup.path);
    }
    let (env, origins) = decode(&root, &mut diags, rejected);
    // The rule checks run even when decoding found errors, so one run reports every mistake;
    // they skip fields whose value was rejected, which hold only a stand-in default.
    validate(&env, &origins, &mut diags);
    diags.sort();
    let env = (!diags.has_errors()).then_some(env);
    Loaded { env, diags }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A truncated or wrongly chosen file must not run `up` or `down` on every default.
    #[test]
    fn an_empty_or_comment_only_file_is_an_error_and_braces_ask_for_defaults() {
        for text in ["", "\n\n", "# just a comment\n", "---\n", "~\n"] {
            let l = load_str(text, "envs.yaml", &[]);
            assert!(l.env.is_none(), "{text:?}");
            let d: Vec<_> = l.diags.errors().collect();
            assert_eq!(d.len(), 1, "{text:?}: {:?}", l.diags.items);
            assert_eq!(d[0].message, "the file is empty or holds only comments");
        }
        assert!(load_str("{}\n", "envs.yaml", &[]).env.is_some());
    }
}
