//! The kubeconfig document and every edit bootstrap makes to it. Pure: text in, tree out, tree
//! edits that say what they changed; no files, no clock, no environment.
//!
//! The document is a generic ordered tree (`serde_json::Value` with `preserve_order`), not kube's
//! typed `Kubeconfig`: the typed model keeps only the fields it knows, so a read-edit-write cycle
//! through it would silently drop whatever other tools put there (foreign extensions, `proxy-url`
//! on older models, fields from newer kubectl releases, a user's own keys). With a generic tree
//! every byte of meaning we do not own is carried through untouched, and in the order it came.
//!
//! Round-trip limits (shared with kubectl, which also re-serializes the whole file): comments
//! are dropped and anchors are expanded. A file we cannot read exactly (duplicate keys, custom
//! tags, `.inf`) is refused, never rewritten.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{json, Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};

/// The `extensions` entry name that marks what bootstrap owns.
pub const EXTENSION_NAME: &str = "bootstrap";
/// The `provider` field inside our extension, in the style minikube uses (`provider:
/// minikube.sigs.k8s.io`): kubectl carries such an extension through its own rewrites.
pub const PROVIDER: &str = "bootstrap";
const PREVIOUS_CURRENT: &str = "previous-current-context";
/// Set when the context replaced was not in this file: kubectl merges every file of KUBECONFIG,
/// so a current-context may name a context another file defines.
const PREVIOUS_ELSEWHERE: &str = "previous-current-context-elsewhere";

/// One context bootstrap wants in the kubeconfig, with its cluster and user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub context: String,
    pub cluster: String,
    pub user: String,
    /// The server it dials and the trust and identity it presents. The CA is always written as
    /// `certificate-authority-data`, and must be empty when insecure.
    pub creds: Credentials,
    pub tls_server_name: Option<String>,
    /// Only when the environment file asks for it; then no CA is written (kubectl refuses both).
    pub insecure_skip_tls_verify: bool,
    /// None leaves whatever namespace the context has (users switch it with `kubens`).
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Cluster,
    User,
    Context,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Cluster, Kind::User, Kind::Context];

    /// The top-level list holding items of this kind.
    pub fn list_key(self) -> &'static str {
        match self {
            Kind::Cluster => "clusters",
            Kind::User => "users",
            Kind::Context => "contexts",
        }
    }

    /// The key of an item's body inside its list entry (`- name: x` / `cluster: {...}`).
    pub fn body_key(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster",
            Kind::User => "user",
            Kind::Context => "context",
        }
    }

    /// Body fields whose value follows from an `Entry`. A field listed here and absent from the
    /// desired body is removed; every other field is left as the file has it.
    fn managed(self) -> &'static [&'static str] {
        match self {
            Kind::Cluster => &[
                "server",
                "tls-server-name",
                "certificate-authority",
                "certificate-authority-data",
                "insecure-skip-tls-verify",
            ],
            Kind::User => &[
                "client-certificate",
                "client-certificate-data",
                "client-key",
                "client-key-data",
                "token",
                "tokenFile",
            ],
            Kind::Context => &["cluster", "user"],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body_key())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added {
        kind: Kind,
        name: String,
    },
    Updated {
        kind: Kind,
        name: String,
    },
    Removed {
        kind: Kind,
        name: String,
    },
    CurrentContext {
        from: Option<String>,
        to: Option<String>,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |c: &Option<String>| c.clone().unwrap_or_else(|| "(none)".into());
        match self {
            Change::Added { kind, name } => write!(f, "added {kind} {name}"),
            Change::Updated { kind, name } => write!(f, "updated {kind} {name}"),
            Change::Removed { kind, name } => write!(f, "removed {kind} {name}"),
            Change::CurrentContext { from, to } => {
                write!(f, "current-context {} -> {}", show(from), show(to))
            }
        }
    }
}

/// What an edit changed; empty when the document is exactly as it was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes(pub Vec<Change>);

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Change> {
        self.0.iter()
    }
    pub fn extend(&mut self, other: Changes) {
        self.0.extend(other.0);
    }
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no changes");
        }
        let parts: Vec<String> = self.0.iter().map(|c| c.to_string()).collect();
        f.write_str(&parts.join(", "))
    }
}

/// Who holds a name we want to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Not written by bootstrap (no mark): the user's or another tool's.
    Unmarked,
    /// Written by bootstrap for another environment.
    OtherOwner(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub kind: Kind,
    pub name: String,
    pub holder: Holder,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.holder {
            Holder::Unmarked => write!(
                f,
                "{} `{}` exists and was not written by bootstrap",
                self.kind, self.name
            ),
            Holder::OtherOwner(o) => write!(
                f,
                "{} `{}` belongs to bootstrap environment `{o}`",
                self.kind, self.name
            ),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DocError {
    #[error("not valid YAML: {0}")]
    Syntax(String),
    #[error("not a kubeconfig: {0}")]
    Shape(String),
    #[error("cannot write YAML: {0}")]
    Serialize(String),
    #[error("{} (left untouched; rename ours in the environment file, or rename or delete theirs)", .0.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; "))]
    Conflict(Vec<Conflict>),
    #[error("context `{context}`: {reason}")]
    InvalidEntry { context: String, reason: String },
    #[error("context `{name}` is not in the kubeconfig{}", available_hint(.available))]
    NoSuchContext {
        name: String,
        available: Vec<String>,
    },
    #[error("context `{context}` refers to {kind} `{name}`, which is not in the kubeconfig")]
    Dangling {
        context: String,
        kind: Kind,
        name: String,
    },
    #[error("{field} refers to {path}: {reason}")]
    Unreadable {
        field: String,
        path: PathBuf,
        reason: String,
    },
}

fn available_hint(available: &[String]) -> String {
    if available.is_empty() {
        return "; it holds no contexts".into();
    }
    const SHOWN: usize = 20;
    let mut s = format!(
        "; it has: {}",
        available
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    if available.len() > SHOWN {
        s.push_str(&format!(" ... and {} more", available.len() - SHOWN));
    }
    s
}

/// Parse kubeconfig text. Empty text (or only comments) is an empty document, as kubectl treats
/// it. Booleans follow YAML 1.1 (`yes`, `on`) because kubectl's YAML reader does; repeated keys
/// and unknown tags are refused because re-writing would silently lose them.
pub fn parse(text: &str) -> Result<Value, DocError> {
    let v = match super::fastyaml::parse(text, &resolve_scalar) {
        Some(v) => v,
        None => parse_with_serde(text)?,
    };
    root_of(v)
}

/// `parse` without the fast path: serde-saphyr alone, the reference the fast path must match.
pub fn parse_reference(text: &str) -> Result<Value, DocError> {
    root_of(parse_with_serde(text)?)
}

fn root_of(v: Option<Value>) -> Result<Value, DocError> {
    match v {
        None => Ok(Value::Object(Map::new())),
        Some(v @ Value::Object(_)) => {
            check_shape(&v)?;
            Ok(v)
        }
        Some(other) => Err(DocError::Shape(format!(
            "the top level is {}, not a mapping",
            type_name(&other)
        ))),
    }
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: Some(budget()),
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        // Go's YAML reader (kubectl's) takes `0755` as octal.
        legacy_octal_numbers: true,
        // A tag we would silently drop on rewrite is refused instead.
        reject_unsupported_tags: true,
        emit_comments: false,
        with_snippet: false,
    }
}

/// No limit kubectl does not have: serde-saphyr's default budget (250,000 nodes) refused a
/// 12,000-context file kubectl reads. Go's YAML reader (kubectl's, `sigs.k8s.io/yaml` on
/// go-yaml) bounds nesting at 10,000 levels and alias expansion against "billion laughs"; the
/// same stay bounded here, the sizes do not.
fn budget() -> serde_saphyr::Budget {
    let mut b = serde_saphyr::Budget::default();
    b.max_events = usize::MAX;
    b.max_nodes = usize::MAX;
    b.max_total_scalar_bytes = usize::MAX;
    b.max_documents = usize::MAX;
    b.max_anchors = usize::MAX;
    b.max_depth = MAX_DEPTH;
    b.flow_nesting_limit = MAX_DEPTH;
    b
}

/// Go's YAML reader refuses deeper nesting (go-yaml `max_depth`, 10,000).
const MAX_DEPTH: usize = 10_000;

fn parse_with_serde(text: &str) -> Result<Option<Value>, DocError> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| {
        let (msg, at) =
            crate::core::yaml_error::describe(&e, crate::core::yaml_error::Reader::Kubeconfig);
        DocError::Syntax(match at {
            Some((line, column)) => format!("line {line}, column {column}: {msg}"),
            None => msg,
        })
    })
}

/// Type one plain scalar exactly as serde-saphyr does in a document; None when it is not a
/// plain scalar value on its own (the fast path then gives the whole text to serde-saphyr).
/// It is typed where the fast path found it, as a value: alone, `---` or `...` would read as
/// document markers (found by fuzzing: `kind: ---` became null).
fn resolve_scalar(plain: &str) -> Option<Value> {
    let doc = format!("v: {plain}\n");
    let Ok(Some(Value::Object(mut m))) =
        serde_saphyr::from_str_with_options::<Option<Value>>(&doc, options())
    else {
        return None;
    };
    if m.len() != 1 {
        return None;
    }
    match m.shift_remove("v")? {
        v if !v.is_array() && !v.is_object() => Some(v),
        _ => None,
    }
}

/// The document as YAML. Long strings (base64 certificates) stay plain scalars on one line, as
/// kubectl writes them; strings YAML 1.1 would misread (`on`, `no`, `1.0`) are quoted.
pub fn to_yaml(doc: &Value) -> Result<String, DocError> {
    let opts = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(doc, opts).map_err(|e| DocError::Serialize(e.to_string()))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn check_shape(doc: &Value) -> Result<(), DocError> {
    for kind in Kind::ALL {
        match doc.get(kind.list_key()) {
            None | Some(Value::Null) | Some(Value::Array(_)) => {}
            Some(other) => {
                return Err(DocError::Shape(format!(
                    "`{}` is {}, not a list",
                    kind.list_key(),
                    type_name(other)
                )));
            }
        }
    }
    Ok(())
}

fn items(doc: &Value, kind: Kind) -> &[Value] {
    match doc.get(kind.list_key()) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

fn item_name(item: &Value) -> Option<&str> {
    item.get("name").and_then(Value::as_str)
}

fn body(item: &Value, kind: Kind) -> Option<&Map<String, Value>> {
    item.get(kind.body_key()).and_then(Value::as_object)
}

/// Our extension object inside a body, if the body carries our mark.
fn mark(body: &Map<String, Value>) -> Option<&Map<String, Value>> {
    body.get("extensions")?.as_array()?.iter().find_map(|e| {
        if e.get("name").and_then(Value::as_str) != Some(EXTENSION_NAME) {
            return None;
        }
        let ext = e.get("extension")?.as_object()?;
        (ext.get("provider").and_then(Value::as_str) == Some(PROVIDER)).then_some(ext)
    })
}

/// The bootstrap environment that owns an item, if it carries our mark.
pub fn owner_of(item: &Value, kind: Kind) -> Option<String> {
    let ext = mark(body(item, kind)?)?;
    Some(
        ext.get("owner")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

fn is_ours(item: &Value, kind: Kind, owner: &str) -> bool {
    owner_of(item, kind).as_deref() == Some(owner)
}

/// The current-context one of our contexts replaced, and whether this file lacked it then.
type Previous = (String, bool);

fn mark_value(owner: &str, previous_current: Option<&Previous>) -> Value {
    let mut ext = Map::new();
    ext.insert("provider".into(), PROVIDER.into());
    ext.insert("owner".into(), owner.into());
    if let Some((p, elsewhere)) = previous_current.filter(|(p, _)| !p.is_empty()) {
        ext.insert(PREVIOUS_CURRENT.into(), p.as_str().into());
        if *elsewhere {
            ext.insert(PREVIOUS_ELSEWHERE.into(), true.into());
        }
    }
    json!({ "name": EXTENSION_NAME, "extension": ext })
}

fn previous_of(mark: Option<&Map<String, Value>>) -> Option<Previous> {
    let m = mark?;
    let name = m.get(PREVIOUS_CURRENT)?.as_str()?.to_owned();
    Some((name, m.get(PREVIOUS_ELSEWHERE) == Some(&Value::Bool(true))))
}

/// Put our mark into a body's `extensions`, replacing an older mark of ours and keeping every
/// other extension where it is.
fn set_mark(body: &mut Map<String, Value>, mark: Value) {
    let list = body
        .entry("extensions")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let arr = list.as_array_mut().expect("just made a list");
    let pos = arr.iter().position(|e| {
        e.get("name").and_then(Value::as_str) == Some(EXTENSION_NAME)
            && e.get("extension")
                .and_then(|x| x.get("provider"))
                .and_then(Value::as_str)
                == Some(PROVIDER)
    });
    match pos {
        Some(i) => arr[i] = mark,
        None => arr.push(mark),
    }
}

fn strip_mark(body: &mut Map<String, Value>) {
    let Some(Value::Array(arr)) = body.get_mut("extensions") else {
        return;
    };
    arr.retain(|e| {
        !(e.get("name").and_then(Value::as_str) == Some(EXTENSION_NAME)
            && e.get("extension")
                .and_then(|x| x.get("provider"))
                .and_then(Value::as_str)
                == Some(PROVIDER))
    });
    if arr.is_empty() {
        body.shift_remove("extensions");
    }
}

fn validate(entries: &[Entry]) -> Result<(), DocError> {
    let invalid = |e: &Entry, reason: &str| DocError::InvalidEntry {
        context: e.context.clone(),
        reason: reason.to_owned(),
    };
    for e in entries {
        if e.context.is_empty() || e.cluster.is_empty() || e.user.is_empty() {
            return Err(invalid(
                e,
                "context, cluster and user names must not be empty",
            ));
        }
        if e.creds.server.is_empty() {
            return Err(invalid(e, "the server URL is empty"));
        }
        if !e.insecure_skip_tls_verify && e.creds.ca_pem.is_empty() {
            return Err(invalid(e, "no CA certificate: the cluster's own CA is required unless insecure-skip-tls-verify is asked for"));
        }
        if e.creds.client_cert_pem.is_some() != e.creds.client_key_pem.is_some() {
            return Err(invalid(
                e,
                "a client certificate needs its key, and a key its certificate",
            ));
        }
    }
    // Entries may share a cluster or user (two contexts, one cluster) only if they agree on it.
    for (i, a) in entries.iter().enumerate() {
        for b in &entries[i + 1..] {
            if a.context == b.context {
                return Err(invalid(a, "appears twice"));
            }
            if a.cluster == b.cluster && cluster_body(a) != cluster_body(b) {
                return Err(invalid(
                    b,
                    &format!("cluster `{}` is given two different ways", b.cluster),
                ));
            }
            if a.user == b.user && user_body(a) != user_body(b) {
                return Err(invalid(
                    b,
                    &format!("user `{}` is given two different ways", b.user),
                ));
            }
        }
    }
    Ok(())
}

fn cluster_body(e: &Entry) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("server".into(), e.creds.server.clone().into());
    if let Some(n) = &e.tls_server_name {
        m.insert("tls-server-name".into(), n.clone().into());
    }
    if e.insecure_skip_tls_verify {
        m.insert("insecure-skip-tls-verify".into(), true.into());
    } else {
        m.insert(
            "certificate-authority-data".into(),
            B64.encode(&e.creds.ca_pem).into(),
        );
    }
    m
}

fn user_body(e: &Entry) -> Map<String, Value> {
    let mut m = Map::new();
    if let (Some(c), Some(k)) = (&e.creds.client_cert_pem, &e.creds.client_key_pem) {
        m.insert("client-certificate-data".into(), B64.encode(c).into());
        m.insert("client-key-data".into(), B64.encode(k).into());
    }
    if let Some(t) = &e.creds.token {
        m.insert("token".into(), t.clone().into());
    }
    m
}

fn context_body(e: &Entry) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("cluster".into(), e.cluster.clone().into());
    m.insert("user".into(), e.user.clone().into());
    if let Some(ns) = &e.namespace {
        m.insert("namespace".into(), ns.clone().into());
    }
    m
}

/// Bring an existing body of ours to the desired one: managed fields follow `desired`, other
/// fields and foreign extensions stay, and a context keeps the current-context it replaced.
fn reconcile_body(
    kind: Kind,
    existing: &Map<String, Value>,
    desired: &Map<String, Value>,
    owner: &str,
) -> Map<String, Value> {
    let mut out = existing.clone();
    for f in kind.managed() {
        if !desired.contains_key(*f) {
            out.shift_remove(*f);
        }
    }
    for (k, v) in desired {
        out.insert(k.clone(), v.clone());
    }
    let previous = previous_of(mark(existing));
    set_mark(&mut out, mark_value(owner, previous.as_ref()));
    out
}

fn list_mut(doc: &mut Map<String, Value>, kind: Kind) -> &mut Vec<Value> {
    let slot = doc
        .entry(kind.list_key())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        // Only `null` gets here: check_shape refused every other non-list.
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut().expect("just made a list")
}

fn root_mut(doc: &mut Value) -> Result<&mut Map<String, Value>, DocError> {
    if doc.is_null() {
        *doc = Value::Object(Map::new());
    }
    check_shape(doc)?;
    doc.as_object_mut()
        .ok_or_else(|| DocError::Shape("the top level is not a mapping".into()))
}

mod edit;
mod read;
pub use edit::*;
pub use read::*;

#[cfg(test)]
mod tests;
