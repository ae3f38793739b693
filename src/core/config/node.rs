//! A YAML tree that remembers where every node stood in the file.
//!
//! serde stops at the first error, but users want every mistake in one run. So the file is read
//! into this tree first (serde-saphyr's `Spanned` gives line and column for free) and the typed
//! configuration is decoded from it by hand in `decode`, collecting errors as it goes.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// Line and column, both 1-based; 0 means "not from the file" (defaults, variables, flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// Set when the value came from a variable or flag rather than the file.
    pub from: Option<String>,
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// Plain JSON, for values handed through untouched (extra chart values).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => s.clone().into(),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.name.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

/// The untyped value as serde-saphyr resolves it; wrapped in `Spanned` to learn its position.
struct Raw(Value);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

fn node(s: Spanned<Raw>) -> Node {
    Node {
        pos: Pos {
            line: s.referenced.line() as usize,
            column: s.referenced.column() as usize,
        },
        value: s.value.0,
        from: None,
    }
}

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw(Value::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        i64::try_from(v)
            .map(|v| Raw(Value::Int(v)))
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw(Value::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw(Value::Str(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw(Value::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(node(item));
        }
        Ok(Raw(Value::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Raw>>()? {
            let key = node(key);
            let name = match key.value {
                Value::Str(s) => s,
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(de::Error::custom(format!(
                        "line {}: a key must be a string, not {}",
                        key.pos.line,
                        other.type_name()
                    )))
                }
            };
            let value = node(map.next_value::<Spanned<Raw>>()?);
            entries.push((Key { name, pos: key.pos }, value));
        }
        Ok(Raw(Value::Map(entries)))
    }
}

/// A YAML syntax error, with the position serde-saphyr found it at.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub pos: Pos,
    /// The text breaks YAML's grammar (rather than being YAML we will not take).
    pub grammar: bool,
}

/// Parse one YAML document with our strict settings: only `true`/`false` are booleans (so a
/// country code `no` or a label value `on` stays a string). A repeated key is kept in the tree
/// (`duplicates` finds it) rather than stopping the parse, so it is reported with every other
/// mistake of the file instead of alone.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let opts = serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        with_snippet: false,
    };
    if text.trim().is_empty() {
        return Ok(Node {
            value: Value::Null,
            pos: Pos { line: 1, column: 1 },
            from: None,
        });
    }
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, opts) {
        Ok(root) => Ok(node(root)),
        Err(e) => {
            let (message, at) =
                crate::core::yaml_error::describe(&e, crate::core::yaml_error::Reader::Envs);
            let (line, column) = at.unwrap_or((0, 0));
            Err(SyntaxError {
                message,
                pos: Pos { line, column },
                grammar: crate::core::yaml_error::is_grammar(&e),
            })
        }
    }
}

/// A key written twice in one mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    pub key: String,
    /// Field path of the key, as decoding names it (`vclusters[0].name`).
    pub path: String,
    /// Where the repeated key stands.
    pub pos: Pos,
    /// Where the key was first written.
    pub first: Pos,
}

/// The field path of `key` under `path`, as findings name it: `cluster.name`. A key that would
/// not read back as one segment (empty, or holding `.`, `[`, `]`, a quote or a space) is quoted:
/// `vclusters[0].values."app.kubernetes.io/name"`, `cluster.""`. Found by fuzzing: an empty key
/// was reported with an empty field.
pub fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && !key
            .chars()
            .any(|c| matches!(c, '.' | '[' | ']' | '"') || c.is_whitespace() || c.is_control());
    let key = if plain {
        key.to_owned()
    } else {
        serde_json::to_string(key).unwrap_or_else(|_| format!("{key:?}"))
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// Every key written more than once in the same mapping, anywhere in the tree, in file order.
pub fn duplicates(root: &Node) -> Vec<Duplicate> {
    fn walk(n: &Node, path: &str, out: &mut Vec<Duplicate>) {
        match &n.value {
            Value::Map(entries) => {
                // Where each key was first written: a map, so a mapping of n keys costs n.
                let mut first: std::collections::HashMap<&str, Pos> =
                    std::collections::HashMap::with_capacity(entries.len());
                for (k, v) in entries {
                    let child = join(path, &k.name);
                    match first.entry(k.name.as_str()) {
                        std::collections::hash_map::Entry::Occupied(f) => out.push(Duplicate {
                            key: k.name.clone(),
                            path: child.clone(),
                            pos: k.pos,
                            first: *f.get(),
                        }),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(k.pos);
                        }
                    }
                    walk(v, &child, out);
                }
            }
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_strict_booleans() {
        let n = parse("a: 1\nb:\n  - on\n  - true\nc: \"8443\"\n").unwrap();
        let Value::Map(m) = n.value else { panic!() };
        assert_eq!(m[0].0.name, "a");
        assert_eq!(m[0].1.value, Value::Int(1));
        assert_eq!(m[0].1.pos, Pos { line: 1, column: 4 });
        let Value::Seq(items) = &m[1].1.value else {
            panic!()
        };
        assert_eq!(items[0].value, Value::Str("on".into()));
        assert_eq!(items[0].pos.line, 3);
        assert_eq!(items[1].value, Value::Bool(true));
        assert_eq!(m[2].1.value, Value::Str("8443".into()));
    }

    #[test]
    fn field_paths_quote_keys_that_are_not_one_segment() {
        assert_eq!(join("", "cluster"), "cluster");
        assert_eq!(join("cluster", "name"), "cluster.name");
        assert_eq!(join("", ""), "\"\"");
        assert_eq!(
            join("vclusters[0].values", "app.kubernetes.io/name"),
            "vclusters[0].values.\"app.kubernetes.io/name\""
        );
        assert_eq!(join("a", "b c"), "a.\"b c\"");
    }

    #[test]
    fn duplicate_keys_are_found_with_both_lines_and_do_not_stop_the_parse() {
        let n = parse("a: 1\nb:\n  - {c: 1, c: 2}\na: 3\nd: [\n").err();
        assert!(n.is_some(), "a real syntax error still stops the parse");
        let n = parse("a: 1\nb:\n  - c: 1\n    c: 2\na: 3\n").unwrap();
        let d = duplicates(&n);
        assert_eq!(
            d,
            [
                Duplicate {
                    key: "c".into(),
                    path: "b[0].c".into(),
                    pos: Pos { line: 4, column: 5 },
                    first: Pos { line: 3, column: 5 },
                },
                Duplicate {
                    key: "a".into(),
                    path: "a".into(),
                    pos: Pos { line: 5, column: 1 },
                    first: Pos { line: 1, column: 1 },
                },
            ]
        );
    }
}
