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

/// One context bootstrap wants in the kubeconfig, with its cluster and user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub context: String,
    pub cluster: String,
    pub user: String,
    pub server: String,
    pub tls_server_name: Option<String>,
    /// Always written as `certificate-authority-data`; must be empty when insecure.
    pub ca_pem: Vec<u8>,
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
    pub token: Option<String>,
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
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        // Go's YAML reader (kubectl's) takes `0755` as octal.
        legacy_octal_numbers: true,
        // A tag we would silently drop on rewrite is refused instead.
        reject_unsupported_tags: true,
        emit_comments: false,
        with_snippet: false,
    }
}

fn parse_with_serde(text: &str) -> Result<Option<Value>, DocError> {
    serde_saphyr::from_str_with_options(text, options())
        .map_err(|e| DocError::Syntax(e.to_string()))
}

/// Type one plain scalar exactly as serde-saphyr does in a document; None when it is not a
/// plain scalar value on its own (the fast path then gives the whole text to serde-saphyr).
fn resolve_scalar(plain: &str) -> Option<Value> {
    match serde_saphyr::from_str_with_options::<Option<Value>>(plain, options()) {
        Ok(None) => Some(Value::Null),
        Ok(Some(v)) if !v.is_array() && !v.is_object() => Some(v),
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

fn mark_value(owner: &str, previous_current: Option<&str>) -> Value {
    let mut ext = Map::new();
    ext.insert("provider".into(), PROVIDER.into());
    ext.insert("owner".into(), owner.into());
    if let Some(p) = previous_current.filter(|p| !p.is_empty()) {
        ext.insert(PREVIOUS_CURRENT.into(), p.into());
    }
    json!({ "name": EXTENSION_NAME, "extension": ext })
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
        if e.server.is_empty() {
            return Err(invalid(e, "the server URL is empty"));
        }
        if !e.insecure_skip_tls_verify && e.ca_pem.is_empty() {
            return Err(invalid(e, "no CA certificate: the cluster's own CA is required unless insecure-skip-tls-verify is asked for"));
        }
        if e.client_cert_pem.is_some() != e.client_key_pem.is_some() {
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
    m.insert("server".into(), e.server.clone().into());
    if let Some(n) = &e.tls_server_name {
        m.insert("tls-server-name".into(), n.clone().into());
    }
    if e.insecure_skip_tls_verify {
        m.insert("insecure-skip-tls-verify".into(), true.into());
    } else {
        m.insert(
            "certificate-authority-data".into(),
            B64.encode(&e.ca_pem).into(),
        );
    }
    m
}

fn user_body(e: &Entry) -> Map<String, Value> {
    let mut m = Map::new();
    if let (Some(c), Some(k)) = (&e.client_cert_pem, &e.client_key_pem) {
        m.insert("client-certificate-data".into(), B64.encode(c).into());
        m.insert("client-key-data".into(), B64.encode(k).into());
    }
    if let Some(t) = &e.token {
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
    let previous = mark(existing)
        .and_then(|m| m.get(PREVIOUS_CURRENT))
        .and_then(Value::as_str)
        .map(str::to_owned);
    set_mark(&mut out, mark_value(owner, previous.as_deref()));
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

/// Write `entries` into the document as `owner`'s. All or nothing: when any name is held by an
/// item without our mark (or with another environment's), nothing changes and the error names
/// every such item.
pub fn upsert(doc: &mut Value, entries: &[Entry], owner: &str) -> Result<Changes, DocError> {
    validate(entries)?;
    check_shape(doc)?;
    let mut wanted: Vec<(Kind, String, Map<String, Value>)> = Vec::new();
    for e in entries {
        for (kind, name, b) in [
            (Kind::Cluster, &e.cluster, cluster_body(e)),
            (Kind::User, &e.user, user_body(e)),
            (Kind::Context, &e.context, context_body(e)),
        ] {
            if !wanted.iter().any(|(k, n, _)| *k == kind && n == name) {
                wanted.push((kind, name.clone(), b));
            }
        }
    }

    let mut conflicts = Vec::new();
    for (kind, name, _) in &wanted {
        for item in items(doc, *kind)
            .iter()
            .filter(|i| item_name(i) == Some(name))
        {
            let holder = match owner_of(item, *kind) {
                Some(o) if o == owner => continue,
                Some(o) => Holder::OtherOwner(o),
                None => Holder::Unmarked,
            };
            conflicts.push(Conflict {
                kind: *kind,
                name: name.clone(),
                holder,
            });
        }
    }
    if !conflicts.is_empty() {
        return Err(DocError::Conflict(conflicts));
    }
    let root = root_mut(doc)?;

    let fresh = root.is_empty();
    let mut changes = Changes::default();
    for (kind, name, desired) in wanted {
        let list = list_mut(root, kind);
        let mut found = false;
        let mut i = 0;
        while i < list.len() {
            if item_name(&list[i]) != Some(name.as_str()) {
                i += 1;
                continue;
            }
            if found {
                // A second copy of our own item: kubectl would keep only one; keep the first.
                list.remove(i);
                changes.0.push(Change::Removed {
                    kind,
                    name: name.clone(),
                });
                continue;
            }
            found = true;
            let existing = list[i]
                .get(kind.body_key())
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let next = reconcile_body(kind, &existing, &desired, owner);
            if next != existing {
                list[i]
                    .as_object_mut()
                    .expect("a named item is a mapping")
                    .insert(kind.body_key().into(), Value::Object(next));
                changes.0.push(Change::Updated {
                    kind,
                    name: name.clone(),
                });
            }
            i += 1;
        }
        if !found {
            let mut b = desired;
            set_mark(&mut b, mark_value(owner, None));
            let mut item = Map::new();
            item.insert("name".into(), name.clone().into());
            item.insert(kind.body_key().into(), Value::Object(b));
            list.push(Value::Object(item));
            changes.0.push(Change::Added { kind, name });
        }
    }
    if fresh && !changes.is_empty() {
        // A new file gets the header kubectl writes, first.
        let mut head = Map::new();
        head.insert("apiVersion".into(), "v1".into());
        head.insert("kind".into(), "Config".into());
        head.insert("preferences".into(), json!({}));
        head.extend(std::mem::take(root));
        *root = head;
    }
    Ok(changes)
}

fn current_context(doc: &Value) -> Option<String> {
    doc.get("current-context")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The context names of a document, in file order.
pub fn context_names(doc: &Value) -> Vec<String> {
    items(doc, Kind::Context)
        .iter()
        .filter_map(item_name)
        .map(str::to_owned)
        .collect()
}

/// Make `context` current. When it is ours, remember in its mark which context it replaced
/// (skipping over our own), so that `remove_owned` can give the user their context back.
pub fn set_current(doc: &mut Value, context: &str, owner: &str) -> Result<Changes, DocError> {
    check_shape(doc)?;
    let find = |name: &str| {
        items(doc, Kind::Context)
            .iter()
            .find(|i| item_name(i) == Some(name))
    };
    let Some(target) = find(context) else {
        return Err(DocError::NoSuchContext {
            name: context.into(),
            available: context_names(doc),
        });
    };
    let cur = current_context(doc);
    if cur.as_deref() == Some(context) {
        return Ok(Changes::default());
    }
    // When replacing one of our own contexts, keep remembering the user's one before it.
    let previous = match cur.as_deref().and_then(find) {
        Some(item) if owner_of(item, Kind::Context).is_some() => body(item, Kind::Context)
            .and_then(mark)
            .and_then(|m| m.get(PREVIOUS_CURRENT))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => cur.clone(),
    };
    let target_ours = is_ours(target, Kind::Context, owner);
    let root = root_mut(doc)?;
    if target_ours {
        for item in list_mut(root, Kind::Context)
            .iter_mut()
            .filter(|i| item_name(i) == Some(context))
        {
            if let Some(b) = item
                .get_mut(Kind::Context.body_key())
                .and_then(Value::as_object_mut)
            {
                set_mark(b, mark_value(owner, previous.as_deref()));
            }
        }
    }
    root.insert("current-context".into(), context.into());
    Ok(Changes(vec![Change::CurrentContext {
        from: cur,
        to: Some(context.into()),
    }]))
}

/// Remove exactly the clusters, users and contexts marked as `owner`'s. When current-context
/// pointed at one of them, restore the context it replaced if that still exists, else clear it.
pub fn remove_owned(doc: &mut Value, owner: &str) -> Result<Changes, DocError> {
    let cur = current_context(doc);
    let root = root_mut(doc)?;
    let mut changes = Changes::default();
    let mut restore: Option<Option<String>> = None;
    for kind in Kind::ALL {
        let Some(Value::Array(list)) = root.get_mut(kind.list_key()) else {
            continue;
        };
        let mut kept = Vec::with_capacity(list.len());
        for item in list.drain(..) {
            if !is_ours(&item, kind, owner) {
                kept.push(item);
                continue;
            }
            let name = item_name(&item).unwrap_or_default().to_owned();
            if kind == Kind::Context && cur.as_deref() == Some(name.as_str()) {
                let prev = body(&item, kind)
                    .and_then(mark)
                    .and_then(|m| m.get(PREVIOUS_CURRENT))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                restore = Some(prev);
            }
            changes.0.push(Change::Removed { kind, name });
        }
        *list = kept;
    }
    if let Some(prev) = restore {
        let remaining: Vec<&str> = match root.get(Kind::Context.list_key()) {
            Some(Value::Array(list)) => list.iter().filter_map(item_name).collect(),
            _ => Vec::new(),
        };
        let to = prev.filter(|p| remaining.contains(&p.as_str()));
        root.insert(
            "current-context".into(),
            to.clone().unwrap_or_default().into(),
        );
        changes.0.push(Change::CurrentContext { from: cur, to });
    }
    Ok(changes)
}

/// What a context points at, for lookups and summaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextView {
    pub name: String,
    pub cluster: String,
    pub user: String,
    pub namespace: Option<String>,
    pub server: Option<String>,
    pub tls_server_name: Option<String>,
    pub insecure_skip_tls_verify: bool,
    /// The bootstrap environment that owns the context, if any.
    pub owner: Option<String>,
}

pub fn context_view(doc: &Value, name: &str) -> Option<ContextView> {
    let item = items(doc, Kind::Context)
        .iter()
        .find(|i| item_name(i) == Some(name))?;
    let b = body(item, Kind::Context);
    let s = |m: Option<&Map<String, Value>>, k: &str| {
        m.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let cluster = s(b, "cluster").unwrap_or_default();
    let cb = items(doc, Kind::Cluster)
        .iter()
        .find(|i| item_name(i) == Some(cluster.as_str()))
        .and_then(|i| body(i, Kind::Cluster));
    Some(ContextView {
        name: name.into(),
        user: s(b, "user").unwrap_or_default(),
        namespace: s(b, "namespace"),
        server: s(cb, "server"),
        tls_server_name: s(cb, "tls-server-name"),
        insecure_skip_tls_verify: cb
            .and_then(|m| m.get("insecure-skip-tls-verify"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        owner: owner_of(item, Kind::Context),
        cluster,
    })
}

/// A complete, minimal kubeconfig holding one context, its cluster and its user, with that
/// context current. Our ownership marks are left out: a printed copy is the user's, and `down`
/// must never treat it as something to remove.
pub fn standalone(doc: &Value, context: &str) -> Result<Value, DocError> {
    let find = |kind: Kind, name: &str| {
        items(doc, kind)
            .iter()
            .find(|i| item_name(i) == Some(name))
            .cloned()
    };
    let ctx = find(Kind::Context, context).ok_or_else(|| DocError::NoSuchContext {
        name: context.into(),
        available: context_names(doc),
    })?;
    let view = context_view(doc, context).expect("the context was just found");
    let dangling = |kind, name: &str| DocError::Dangling {
        context: context.into(),
        kind,
        name: name.into(),
    };
    let cluster =
        find(Kind::Cluster, &view.cluster).ok_or_else(|| dangling(Kind::Cluster, &view.cluster))?;
    let user = if view.user.is_empty() {
        None
    } else {
        Some(find(Kind::User, &view.user).ok_or_else(|| dangling(Kind::User, &view.user))?)
    };
    let unmark = |mut item: Value, kind: Kind| {
        if let Some(b) = item.get_mut(kind.body_key()).and_then(Value::as_object_mut) {
            strip_mark(b);
        }
        item
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), "v1".into());
    out.insert("kind".into(), "Config".into());
    out.insert("preferences".into(), json!({}));
    out.insert("clusters".into(), json!([unmark(cluster, Kind::Cluster)]));
    out.insert(
        "users".into(),
        Value::Array(user.map(|u| unmark(u, Kind::User)).into_iter().collect()),
    );
    out.insert("contexts".into(), json!([unmark(ctx, Kind::Context)]));
    out.insert("current-context".into(), context.into());
    Ok(Value::Object(out))
}

/// The trust and credentials a context carries, decoded: what an `Entry` is built from when the
/// source is a kubeconfig (the one `kind get kubeconfig` prints, or a vcluster secret's
/// `config`), whatever route the entry will then be given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub server: String,
    pub ca_pem: Vec<u8>,
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
    pub token: Option<String>,
}

/// Decode the credentials of `context`. File references must be inlined first (`flatten`).
pub fn credentials(doc: &Value, context: &str) -> Result<Credentials, DocError> {
    let view = context_view(doc, context).ok_or_else(|| DocError::NoSuchContext {
        name: context.into(),
        available: context_names(doc),
    })?;
    let dangling = |kind, name: &str| DocError::Dangling {
        context: context.into(),
        kind,
        name: name.into(),
    };
    let find = |kind: Kind, name: &str| {
        items(doc, kind)
            .iter()
            .find(|i| item_name(i) == Some(name))
            .and_then(|i| body(i, kind))
    };
    let cluster =
        find(Kind::Cluster, &view.cluster).ok_or_else(|| dangling(Kind::Cluster, &view.cluster))?;
    let empty = Map::new();
    let user = if view.user.is_empty() {
        &empty
    } else {
        find(Kind::User, &view.user).ok_or_else(|| dangling(Kind::User, &view.user))?
    };
    let decode = |m: &Map<String, Value>, field: &str| -> Result<Option<Vec<u8>>, DocError> {
        let Some(v) = m.get(field).and_then(Value::as_str) else {
            return Ok(None);
        };
        B64.decode(v.trim())
            .map(Some)
            .map_err(|e| DocError::InvalidEntry {
                context: context.into(),
                reason: format!("{field} is not base64: {e}"),
            })
    };
    Ok(Credentials {
        server: view.server.unwrap_or_default(),
        ca_pem: decode(cluster, "certificate-authority-data")?.unwrap_or_default(),
        client_cert_pem: decode(user, "client-certificate-data")?,
        client_key_pem: decode(user, "client-key-data")?,
        token: user.get("token").and_then(Value::as_str).map(str::to_owned),
    })
}

/// File-reference fields: (kind, path field, inline data field). kubectl resolves these
/// relative to the kubeconfig that holds them.
const FILE_FIELDS: &[(Kind, &str, Option<&str>)] = &[
    (
        Kind::Cluster,
        "certificate-authority",
        Some("certificate-authority-data"),
    ),
    (
        Kind::User,
        "client-certificate",
        Some("client-certificate-data"),
    ),
    (Kind::User, "client-key", Some("client-key-data")),
    (Kind::User, "tokenFile", None),
];

/// Merge the files of a KUBECONFIG list the way kubectl reads them: the first file to define a
/// cluster, user or context name wins, as does the first non-empty current-context. Relative
/// file references are made absolute against the directory of the file that holds them.
pub fn merge(sources: &[(PathBuf, Value)]) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), "v1".into());
    out.insert("kind".into(), "Config".into());
    let mut current: Option<String> = None;
    for kind in Kind::ALL {
        let mut merged: Vec<Value> = Vec::new();
        for (path, doc) in sources {
            let dir = path.parent().unwrap_or(Path::new(""));
            for item in items(doc, kind) {
                let Some(name) = item_name(item) else {
                    continue;
                };
                if merged.iter().any(|m| item_name(m) == Some(name)) {
                    continue;
                }
                let mut item = item.clone();
                if let Some(b) = item.get_mut(kind.body_key()).and_then(Value::as_object_mut) {
                    for (_, field, _) in FILE_FIELDS.iter().filter(|(k, _, _)| *k == kind) {
                        if let Some(Value::String(p)) = b.get_mut(*field) {
                            if !p.is_empty() && Path::new(p.as_str()).is_relative() {
                                *p = dir.join(p.as_str()).to_string_lossy().into_owned();
                            }
                        }
                    }
                }
                merged.push(item);
            }
        }
        out.insert(kind.list_key().into(), Value::Array(merged));
    }
    for (_, doc) in sources {
        if current.is_none() {
            current = current_context(doc);
        }
    }
    out.insert("current-context".into(), current.unwrap_or_default().into());
    Value::Object(out)
}

/// Inline file references (`certificate-authority: /path` and the client pair) as `-data`
/// fields, as `kubectl config view --flatten` does, so a printed kubeconfig works anywhere.
pub fn flatten(
    doc: &mut Value,
    read: &mut dyn FnMut(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<(), DocError> {
    let root = root_mut(doc)?;
    for (kind, field, data_field) in FILE_FIELDS {
        let Some(data_field) = data_field else {
            continue;
        };
        let list = list_mut(root, *kind);
        for item in list.iter_mut() {
            let name = item_name(item).unwrap_or_default().to_owned();
            let Some(b) = item.get_mut(kind.body_key()).and_then(Value::as_object_mut) else {
                continue;
            };
            let Some(path) = b
                .get(*field)
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
            else {
                continue;
            };
            let bytes = read(&path).map_err(|e| DocError::Unreadable {
                field: format!("{kind} `{name}` {field}"),
                path: path.clone(),
                reason: e.to_string(),
            })?;
            b.shift_remove(*field);
            b.insert((*data_field).into(), B64.encode(bytes).into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOREIGN: &str = r#"apiVersion: v1
kind: Config
preferences:
  colors: true
  extensions:
  - name: pref-ext
    extension: {a: 1}
clusters:
- cluster:
    server: https://prod.example:443
    certificate-authority-data: Zm9v
    extensions:
    - name: cluster_info
      extension:
        last-update: Wed, 01 Jan 2025 00:00:00 UTC
        provider: minikube.sigs.k8s.io
        version: v1.35.0
    future-field: {nested: [1, 2, {deep: yes}]}
  name: prod
users:
- name: prod-admin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
      args: [eks, get-token]
contexts:
- context:
    cluster: prod
    user: prod-admin
    namespace: payments
  name: prod
current-context: prod
x-unknown-top: {keep: me}
"#;

    fn entry(ctx: &str) -> Entry {
        Entry {
            context: ctx.into(),
            cluster: format!("{ctx}-cluster"),
            user: format!("{ctx}-user"),
            server: "https://127.0.0.1:6443".into(),
            tls_server_name: Some("localhost".into()),
            ca_pem: b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".to_vec(),
            client_cert_pem: Some(b"CERT".to_vec()),
            client_key_pem: Some(b"KEY".to_vec()),
            ..Default::default()
        }
    }

    fn find<'a>(doc: &'a Value, kind: Kind, name: &str) -> &'a Value {
        items(doc, kind)
            .iter()
            .find(|i| item_name(i) == Some(name))
            .unwrap_or_else(|| panic!("{kind} {name} missing"))
    }

    fn without_ours(doc: &Value, owner: &str) -> Value {
        let mut d = doc.clone();
        remove_owned(&mut d, owner).unwrap();
        d
    }

    /// The fast path must build exactly the tree serde-saphyr builds, or step aside.
    fn both_ways(text: &str) -> (Option<Option<Value>>, Result<Option<Value>, DocError>) {
        (
            super::super::fastyaml::parse(text, &resolve_scalar),
            parse_with_serde(text),
        )
    }

    #[test]
    fn fast_path_agrees_with_serde_saphyr() {
        let corpus = [
            FOREIGN.to_string(),
            to_yaml(&{
                let mut d = parse(FOREIGN).unwrap();
                upsert(&mut d, &[entry("dev"), entry("b")], "o").unwrap();
                d
            })
            .unwrap(),
            "a: 1\nb: -2\nc: 1.5\nd: 1e3\ne: 0x1F\nf: 0755\ng: 1_000\nh: ~\ni: null\nj: Null\nk: yes\nl: No\nm: on\nnn: y\no: 2024-01-01\np: 12:30\nq: +1\nr: .5\ns:\nt: ''\nu: \"\"\n".into(),
            "plain: multi\n  line\n  plain\nlit: |\n  a\n   b\nkeep: |+\n  x\n\nstrip: >-\n  folded\n  text\nsq: 'it''s'\ndq: \"tab\\there \\u00e9 \\n\"\n".into(),
            "# c\n---\nflow: {a: [1, two, {c: d}], e: []}\nempty: {}\nlist:\n- - nested\n  - 2\n- k: v\n  k2: [x]\n...\n".into(),
            "url: https://h:6443/p?q=1#frag\nhash: a#b\ncolon: a:b\ndash: -x\nq: ?x\ntilde: ~x\nnot: nonsense\ninfish: Infinity\n".into(),
            "'quoted key': 1\n\"dq key\": [a]\nkey with spaces: v\n".into(),
            String::new(),
            "# only a comment\n".into(),
        ];
        for text in &corpus {
            let (fast, slow) = both_ways(text);
            let fast = fast.unwrap_or_else(|| panic!("fast path stepped aside for:\n{text}"));
            assert_eq!(Ok(fast), slow, "for:\n{text}");
        }
    }

    #[test]
    fn fast_path_steps_aside_for_anything_unusual() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 12\n",
            "base: &b {x: 1}\nc:\n  <<: *b\n",
            "a: 1\na: 2\n",
            "1: int key\n",
            "true: bool key\n",
            "? [complex]\n: key\n",
            "--- a\n--- b\n",
            "a: .inf\n",
            "a: [\n",
            "a: -\n",
        ] {
            assert_eq!(both_ways(text).0, None, "fast path took:\n{text}");
        }
        // ...and the answer is then serde-saphyr's, errors included.
        assert!(matches!(parse("a: 1\na: 2\n"), Err(DocError::Syntax(_))));
        assert!(matches!(parse("a: .inf\n"), Err(DocError::Syntax(_))));
        assert_eq!(parse("a: &x 1\nb: *x\n").unwrap(), json!({"a": 1, "b": 1}));
    }

    #[test]
    fn empty_or_comment_only_text_is_an_empty_document() {
        assert_eq!(parse("").unwrap(), json!({}));
        assert_eq!(parse("# nothing here\n").unwrap(), json!({}));
    }

    #[test]
    fn refuses_what_it_cannot_rewrite_faithfully() {
        assert!(matches!(parse("- a\n- b\n"), Err(DocError::Shape(_))));
        assert!(
            matches!(parse("clusters: {a: 1}\n"), Err(DocError::Shape(m)) if m.contains("clusters"))
        );
        assert!(matches!(parse("a: 1\na: 2\n"), Err(DocError::Syntax(_))));
        assert!(matches!(parse("a: [\n"), Err(DocError::Syntax(_))));
    }

    #[test]
    fn numbers_and_tags_read_as_kubectl_reads_them_or_not_at_all() {
        assert_eq!(
            parse("a: 0755\nb: 8443\n").unwrap(),
            json!({"a": 493, "b": 8443})
        );
        assert!(parse("a: !custom x\n").is_err());
    }

    #[test]
    fn booleans_read_as_kubectl_reads_them() {
        let d =
            parse("clusters:\n- name: a\n  cluster: {insecure-skip-tls-verify: yes}\n").unwrap();
        assert_eq!(
            find(&d, Kind::Cluster, "a")["cluster"]["insecure-skip-tls-verify"],
            json!(true)
        );
    }

    #[test]
    fn yaml_round_trip_keeps_ambiguous_strings_strings() {
        let d = json!({"a": "on", "b": "1.0", "c": "null", "d": "", "e": "no", "f": "2024-01-01", "g": "x: y", "h": "line1\nline2\n", "i": 7, "j": null});
        let back = parse(&to_yaml(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn upsert_into_empty_document_writes_marked_entries_with_header() {
        let mut d = parse("").unwrap();
        let ch = upsert(&mut d, &[entry("dev")], "localdev").unwrap();
        assert_eq!(ch.0.len(), 3);
        assert!(ch.iter().all(|c| matches!(c, Change::Added { .. })));
        assert_eq!(d["apiVersion"], "v1");
        assert_eq!(d["kind"], "Config");
        let c = &find(&d, Kind::Cluster, "dev-cluster")["cluster"];
        assert_eq!(c["server"], "https://127.0.0.1:6443");
        assert_eq!(c["tls-server-name"], "localhost");
        assert_eq!(
            B64.decode(c["certificate-authority-data"].as_str().unwrap())
                .unwrap(),
            entry("dev").ca_pem
        );
        assert!(c.get("insecure-skip-tls-verify").is_none());
        assert_eq!(
            c["extensions"][0],
            json!({"name": "bootstrap", "extension": {"provider": "bootstrap", "owner": "localdev"}})
        );
        let u = &find(&d, Kind::User, "dev-user")["user"];
        assert_eq!(u["client-certificate-data"], B64.encode("CERT"));
        assert_eq!(u["client-key-data"], B64.encode("KEY"));
        let x = &find(&d, Kind::Context, "dev")["context"];
        assert_eq!(
            (x["cluster"].as_str(), x["user"].as_str()),
            (Some("dev-cluster"), Some("dev-user"))
        );
        for kind in Kind::ALL {
            assert!(items(&d, kind)
                .iter()
                .all(|i| owner_of(i, kind).as_deref() == Some("localdev")));
        }
    }

    #[test]
    fn upsert_is_idempotent_and_reports_nothing_the_second_time() {
        let mut d = parse(FOREIGN).unwrap();
        upsert(&mut d, &[entry("dev"), entry("staging")], "localdev").unwrap();
        let once = d.clone();
        let ch = upsert(&mut d, &[entry("dev"), entry("staging")], "localdev").unwrap();
        assert!(ch.is_empty(), "{ch}");
        assert_eq!(d, once);
    }

    #[test]
    fn upsert_preserves_every_foreign_byte_of_meaning() {
        let before = parse(FOREIGN).unwrap();
        let mut d = before.clone();
        upsert(&mut d, &[entry("dev")], "localdev").unwrap();
        assert_eq!(without_ours(&d, "localdev"), before);
        // ...and through YAML text too.
        let reread = parse(&to_yaml(&d).unwrap()).unwrap();
        assert_eq!(reread, d);
        assert_eq!(
            d["current-context"], "prod",
            "current-context is left alone unless asked"
        );
    }

    #[test]
    fn update_changes_only_what_differs_and_keeps_what_others_added_to_ours() {
        let mut d = parse("").unwrap();
        upsert(&mut d, &[entry("dev")], "o").unwrap();
        {
            let c = d["clusters"][0]["cluster"].as_object_mut().unwrap();
            c.insert("proxy-url".into(), "http://proxy:3128".into());
            c["extensions"]
                .as_array_mut()
                .unwrap()
                .insert(0, json!({"name": "kubie", "extension": {"x": 1}}));
        }
        d["contexts"][0]["context"]["namespace"] = "team-a".into();
        let mut e = entry("dev");
        e.server = "https://host.docker.internal:6443".into();
        e.tls_server_name = None;
        let ch = upsert(&mut d, &[e], "o").unwrap();
        assert_eq!(
            ch.0,
            vec![Change::Updated {
                kind: Kind::Cluster,
                name: "dev-cluster".into()
            }]
        );
        let c = &d["clusters"][0]["cluster"];
        assert_eq!(c["server"], "https://host.docker.internal:6443");
        assert!(
            c.get("tls-server-name").is_none(),
            "a managed field we no longer want goes"
        );
        assert_eq!(
            c["proxy-url"], "http://proxy:3128",
            "a field someone added stays"
        );
        assert_eq!(
            c["extensions"][0]["name"], "kubie",
            "a foreign extension stays, in place"
        );
        assert_eq!(c["extensions"].as_array().unwrap().len(), 2);
        assert_eq!(
            d["contexts"][0]["context"]["namespace"], "team-a",
            "namespace None leaves the user's choice"
        );
    }

    #[test]
    fn an_unmarked_entry_with_our_name_is_never_changed() {
        let text = "clusters:\n- name: dev-cluster\n  cluster: {server: https://theirs:1}\nusers: []\ncontexts: []\n";
        let mut d = parse(text).unwrap();
        let before = d.clone();
        let err = upsert(&mut d, &[entry("dev")], "o").unwrap_err();
        assert_eq!(d, before, "all or nothing: nothing was added either");
        match &err {
            DocError::Conflict(c) => assert_eq!(
                c,
                &vec![Conflict {
                    kind: Kind::Cluster,
                    name: "dev-cluster".into(),
                    holder: Holder::Unmarked
                }]
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .contains("cluster `dev-cluster` exists and was not written by bootstrap"),
            "{err}"
        );
        assert_eq!(remove_owned(&mut d, "o").unwrap(), Changes::default());
        assert_eq!(d, before);
    }

    #[test]
    fn another_environments_entry_is_a_conflict_too() {
        let mut d = parse("").unwrap();
        upsert(&mut d, &[entry("dev")], "env-a").unwrap();
        let before = d.clone();
        let err = upsert(&mut d, &[entry("dev")], "env-b").unwrap_err();
        assert!(
            matches!(&err, DocError::Conflict(c) if c.len() == 3 && c.iter().all(|c| c.holder == Holder::OtherOwner("env-a".into())))
        );
        assert_eq!(d, before);
        remove_owned(&mut d, "env-b").unwrap();
        assert_eq!(d, before, "env-b's down leaves env-a's entries");
    }

    #[test]
    fn a_look_alike_mark_from_another_provider_is_not_ours() {
        let text = "clusters:\n- name: dev-cluster\n  cluster:\n    server: https://x\n    extensions:\n    - name: bootstrap\n      extension: {provider: someone-else, owner: o}\n";
        let mut d = parse(text).unwrap();
        assert!(matches!(
            upsert(&mut d, &[entry("dev")], "o"),
            Err(DocError::Conflict(_))
        ));
    }

    #[test]
    fn insecure_only_when_asked_and_then_without_ca() {
        let mut e = entry("dev");
        e.insecure_skip_tls_verify = true;
        let mut d = parse("").unwrap();
        upsert(&mut d, &[e], "o").unwrap();
        let c = &d["clusters"][0]["cluster"];
        assert_eq!(c["insecure-skip-tls-verify"], true);
        assert!(c.get("certificate-authority-data").is_none());

        let mut no_ca = entry("dev");
        no_ca.ca_pem.clear();
        assert!(matches!(
            upsert(&mut parse("").unwrap(), &[no_ca], "o"),
            Err(DocError::InvalidEntry { .. })
        ));
    }

    #[test]
    fn invalid_entries_are_refused_before_any_change() {
        let mut half = entry("dev");
        half.client_key_pem = None;
        assert!(matches!(
            upsert(&mut parse("").unwrap(), &[half], "o"),
            Err(DocError::InvalidEntry { .. })
        ));
        let mut other = entry("b");
        other.cluster = "dev-cluster".into();
        other.server = "https://elsewhere".into();
        assert!(
            matches!(upsert(&mut parse("").unwrap(), &[entry("dev"), other], "o"), Err(DocError::InvalidEntry { reason, .. }) if reason.contains("dev-cluster"))
        );
    }

    #[test]
    fn two_contexts_may_share_one_cluster() {
        let mut b = entry("b");
        b.cluster = "dev-cluster".into();
        b.namespace = Some("kube-system".into());
        let mut d = parse("").unwrap();
        let ch = upsert(&mut d, &[entry("dev"), b], "o").unwrap();
        assert_eq!(items(&d, Kind::Cluster).len(), 1);
        assert_eq!(items(&d, Kind::Context).len(), 2);
        assert_eq!(ch.0.len(), 5);
    }

    #[test]
    fn token_user() {
        let mut e = entry("dev");
        e.client_cert_pem = None;
        e.client_key_pem = None;
        e.token = Some("s3cret".into());
        let mut d = parse("").unwrap();
        upsert(&mut d, &[e], "o").unwrap();
        let u = d["users"][0]["user"].as_object().unwrap();
        assert_eq!(u["token"], "s3cret");
        assert!(!u.contains_key("client-certificate-data"));
    }

    #[test]
    fn set_current_then_remove_owned_gives_the_users_context_back() {
        let before = parse(FOREIGN).unwrap();
        let mut d = before.clone();
        upsert(&mut d, &[entry("dev"), entry("staging")], "o").unwrap();
        let ch = set_current(&mut d, "dev", "o").unwrap();
        assert_eq!(
            ch.0,
            vec![Change::CurrentContext {
                from: Some("prod".into()),
                to: Some("dev".into())
            }]
        );
        assert!(set_current(&mut d, "dev", "o").unwrap().is_empty());
        // Switching between our own contexts keeps the user's original.
        set_current(&mut d, "staging", "o").unwrap();
        // A later up re-upserts and must keep that memory.
        assert!(upsert(&mut d, &[entry("dev"), entry("staging")], "o")
            .unwrap()
            .is_empty());
        let ch = remove_owned(&mut d, "o").unwrap();
        assert!(
            ch.0.contains(&Change::CurrentContext {
                from: Some("staging".into()),
                to: Some("prod".into())
            }),
            "{ch}"
        );
        assert_eq!(
            ch.0.iter()
                .filter(|c| matches!(c, Change::Removed { .. }))
                .count(),
            6
        );
        assert_eq!(d, before);
    }

    #[test]
    fn remove_owned_clears_current_when_the_previous_context_is_gone() {
        let mut d = parse(FOREIGN).unwrap();
        upsert(&mut d, &[entry("dev")], "o").unwrap();
        set_current(&mut d, "dev", "o").unwrap();
        d["contexts"]
            .as_array_mut()
            .unwrap()
            .retain(|c| c["name"] != "prod");
        let ch = remove_owned(&mut d, "o").unwrap();
        assert!(ch.0.contains(&Change::CurrentContext {
            from: Some("dev".into()),
            to: None
        }));
        assert_eq!(d["current-context"], "");
    }

    #[test]
    fn remove_owned_leaves_a_foreign_current_context_alone() {
        let mut d = parse(FOREIGN).unwrap();
        upsert(&mut d, &[entry("dev")], "o").unwrap();
        let ch = remove_owned(&mut d, "o").unwrap();
        assert!(!ch
            .iter()
            .any(|c| matches!(c, Change::CurrentContext { .. })));
        assert_eq!(d["current-context"], "prod");
        assert!(remove_owned(&mut d, "o").unwrap().is_empty());
    }

    #[test]
    fn set_current_refuses_an_unknown_context() {
        let mut d = parse(FOREIGN).unwrap();
        let err = set_current(&mut d, "nope", "o").unwrap_err();
        assert_eq!(
            err.to_string(),
            "context `nope` is not in the kubeconfig; it has: prod"
        );
    }

    #[test]
    fn standalone_holds_one_context_complete_and_unmarked() {
        let mut d = parse(FOREIGN).unwrap();
        upsert(&mut d, &[entry("dev"), entry("staging")], "o").unwrap();
        let s = standalone(&d, "dev").unwrap();
        assert_eq!(s["current-context"], "dev");
        assert_eq!(context_names(&s), vec!["dev"]);
        assert_eq!(items(&s, Kind::Cluster).len(), 1);
        assert_eq!(items(&s, Kind::User).len(), 1);
        for kind in Kind::ALL {
            assert_eq!(
                owner_of(&items(&s, kind)[0], kind),
                None,
                "{kind} still marked"
            );
        }
        assert_eq!(s["clusters"][0]["cluster"]["tls-server-name"], "localhost");
        let p = standalone(&d, "prod").unwrap();
        assert_eq!(
            p["clusters"][0]["cluster"]["extensions"][0]["name"], "cluster_info",
            "foreign extensions stay"
        );
        assert_eq!(
            p["clusters"][0]["cluster"]["future-field"],
            find(&d, Kind::Cluster, "prod")["cluster"]["future-field"]
        );
    }

    #[test]
    fn standalone_names_what_is_missing() {
        let d = parse(FOREIGN).unwrap();
        let err = standalone(&d, "dve").unwrap_err();
        assert!(
            matches!(&err, DocError::NoSuchContext { available, .. } if available == &vec!["prod".to_string()])
        );
        let broken = parse("contexts:\n- name: x\n  context: {cluster: gone, user: u}\n").unwrap();
        assert_eq!(
            standalone(&broken, "x").unwrap_err(),
            DocError::Dangling {
                context: "x".into(),
                kind: Kind::Cluster,
                name: "gone".into()
            }
        );
    }

    #[test]
    fn many_contexts_are_listed_with_a_count() {
        let names: Vec<String> = (0..25).map(|i| format!("c{i}")).collect();
        let msg = DocError::NoSuchContext {
            name: "x".into(),
            available: names,
        }
        .to_string();
        assert!(msg.ends_with("c19 ... and 5 more"), "{msg}");
    }

    #[test]
    fn merge_first_file_wins_and_paths_resolve_against_their_file() {
        let a = parse("clusters:\n- name: c\n  cluster: {server: https://a, certificate-authority: ca.crt}\ncontexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: ''\n").unwrap();
        let b = parse("clusters:\n- name: c\n  cluster: {server: https://b}\n- name: d\n  cluster: {server: https://d}\nusers:\n- name: u\n  user: {client-key: /abs/key, client-certificate: rel/cert}\ncurrent-context: x\n").unwrap();
        let m = merge(&[
            (PathBuf::from("/one/config"), a),
            (PathBuf::from("/two/config"), b),
        ]);
        assert_eq!(
            find(&m, Kind::Cluster, "c")["cluster"]["server"],
            "https://a"
        );
        assert_eq!(
            find(&m, Kind::Cluster, "c")["cluster"]["certificate-authority"],
            "/one/ca.crt"
        );
        assert_eq!(
            find(&m, Kind::Cluster, "d")["cluster"]["server"],
            "https://d"
        );
        assert_eq!(find(&m, Kind::User, "u")["user"]["client-key"], "/abs/key");
        assert_eq!(
            find(&m, Kind::User, "u")["user"]["client-certificate"],
            "/two/rel/cert"
        );
        assert_eq!(m["current-context"], "x");
    }

    #[test]
    fn flatten_inlines_file_references() {
        let mut d = parse("clusters:\n- name: c\n  cluster: {server: https://a, certificate-authority: /ca.crt}\nusers:\n- name: u\n  user: {client-certificate: /u.crt, client-key: /u.key}\n").unwrap();
        flatten(&mut d, &mut |p: &Path| {
            Ok(p.to_string_lossy().as_bytes().to_vec())
        })
        .unwrap();
        assert_eq!(
            d["clusters"][0]["cluster"]["certificate-authority-data"],
            B64.encode("/ca.crt")
        );
        assert!(d["clusters"][0]["cluster"]
            .get("certificate-authority")
            .is_none());
        assert_eq!(
            d["users"][0]["user"]["client-key-data"],
            B64.encode("/u.key")
        );
        let err = flatten(
            &mut parse("clusters:\n- name: c\n  cluster: {certificate-authority: /nope}\n")
                .unwrap(),
            &mut |_| Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone")),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("cluster `c` certificate-authority refers to /nope"),
            "{err}"
        );
    }

    #[test]
    fn credentials_decode_what_kind_prints() {
        let kind = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: https://127.0.0.1:6443\n  name: kind-localdev\ncontexts:\n- context:\n    cluster: kind-localdev\n    user: kind-localdev\n  name: kind-localdev\ncurrent-context: kind-localdev\nusers:\n- name: kind-localdev\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            B64.encode("CA PEM"),
            B64.encode("CERT PEM"),
            B64.encode("KEY PEM")
        );
        let c = credentials(&parse(&kind).unwrap(), "kind-localdev").unwrap();
        assert_eq!(c.server, "https://127.0.0.1:6443");
        assert_eq!(c.ca_pem, b"CA PEM");
        assert_eq!(c.client_cert_pem.as_deref(), Some(&b"CERT PEM"[..]));
        assert_eq!(c.client_key_pem.as_deref(), Some(&b"KEY PEM"[..]));
        assert_eq!(c.token, None);
        // Round trip: what we write decodes back to what we were given.
        let mut d = parse("").unwrap();
        upsert(&mut d, &[entry("dev")], "o").unwrap();
        let back = credentials(&d, "dev").unwrap();
        assert_eq!(
            (back.ca_pem, back.client_cert_pem),
            (entry("dev").ca_pem, entry("dev").client_cert_pem)
        );
        let bad = parse("clusters:\n- name: c\n  cluster: {certificate-authority-data: '%%%'}\ncontexts:\n- name: x\n  context: {cluster: c}\n").unwrap();
        assert!(matches!(
            credentials(&bad, "x"),
            Err(DocError::InvalidEntry { .. })
        ));
    }

    #[test]
    fn context_view_reports_route_and_owner() {
        let mut d = parse(FOREIGN).unwrap();
        upsert(&mut d, &[entry("dev")], "o").unwrap();
        let v = context_view(&d, "dev").unwrap();
        assert_eq!(v.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(v.tls_server_name.as_deref(), Some("localhost"));
        assert_eq!(v.owner.as_deref(), Some("o"));
        assert_eq!(context_view(&d, "prod").unwrap().owner, None);
        assert!(context_view(&d, "nope").is_none());
    }
}
