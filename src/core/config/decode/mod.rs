//! Typed decoding of the spanned tree into `Env`, with defaults, collecting every error.

use super::diag::{suggest, At, Diags};
use super::model::*;
use super::node::{Key, Node, Pos, Value};
use std::collections::{BTreeMap, BTreeSet};

mod cluster;
mod images;
mod router;
mod vcluster;

pub const API_VERSION: &str = "bootstrap/v1alpha1";
pub const DEFAULT_CLUSTER_NAME: &str = "bootstrap";
pub const DEFAULT_DOMAIN: &str = "localtest.me";
/// The most `cluster.workers` accepted: each node is a container with its own kubelet and
/// containerd (some 300 MiB of memory idle), so more is a typo far more often than a plan.
pub const MAX_WORKERS: u32 = 16;
/// The most `cluster.controlPlanes` accepted: kind stacks etcd on each, and five tolerate two
/// failures; more only slows a laptop.
pub const MAX_CONTROL_PLANES: u32 = 5;
// Versions for a file that names none: the current pins, with where each was checked.
// A router kind's are its own (`core::router`).
pub use super::pins::{VCLUSTER_REPO, VCLUSTER_VERSION};

const TOP: &[&str] = &[
    "apiVersion",
    "cluster",
    "router",
    "vclusters",
    "access",
    "kubeconfig",
    "argocd",
    "registry",
    "cache",
];
/// The upstreams a `cache:` section without `upstreams` proxies: where the router's, vcluster's
/// and ArgoCD's images come from.
pub const DEFAULT_UPSTREAMS: &[&str] = &["docker.io", "ghcr.io", "registry.k8s.io", "quay.io"];
const CHART: &[&str] = &["repo", "name", "version", "path"];
const ACCESS: &[&str] = &["mode", "insecureSkipTLSVerify"];
const KUBECONFIG: &[&str] = &["path", "currentContext"];
const ARGOCD: &[&str] = &["register", "namespace", "labels"];
/// The image kind's local-registry guide runs at v0.32.0 (site/static/examples/kind-with-registry.sh).
pub const REGISTRY_IMAGE: &str = "registry:3";
pub const REGISTRY_PORT: u16 = 5001;

/// Where each decoded field came from, so semantic checks can point at it; and which fields
/// hold a default only because the value written was rejected, so the checks that run after a
/// failed decode do not report the default's consequences as mistakes of their own.
#[derive(Debug, Default, Clone)]
pub struct Origins {
    map: BTreeMap<String, At>,
    rejected: BTreeSet<String>,
    /// For each list (`vclusters`), the file index of each decoded item: an item that could not
    /// be decoded is left out of `Env`, which must not shift the names of the ones after it.
    items: BTreeMap<String, Vec<usize>>,
}

impl Origins {
    /// The field path of the `i`th decoded item of `list`, as the file numbers it.
    pub fn item(&self, list: &str, i: usize) -> String {
        let n = self
            .items
            .get(list)
            .and_then(|idx| idx.get(i))
            .copied()
            .unwrap_or(i);
        format!("{list}[{n}]")
    }

    /// Whether the file (or a variable or flag) wrote this field, rather than a default.
    pub fn written(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    /// Whether the field, or a section holding it, was rejected: its value is a stand-in.
    pub fn rejected(&self, field: &str) -> bool {
        let mut f = field;
        loop {
            if self.rejected.contains(f) {
                return true;
            }
            match f.rfind(['.', '[']) {
                Some(i) => f = &f[..i],
                None => return false,
            }
        }
    }

    /// Whether an item of `list` was left out, or a field named `leaf` of one was rejected.
    pub fn any_rejected_in(&self, list: &str, leaf: &str) -> bool {
        self.rejected.iter().any(|r| {
            r.strip_prefix(list)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.split_once(']'))
                .is_some_and(|(_, tail)| tail.is_empty() || tail == format!(".{leaf}"))
        }) || self.rejected(list)
    }

    pub fn get(&self, field: &str) -> At {
        // A defaulted field points at its closest written parent, so the user sees where to add it.
        let mut f = field;
        loop {
            if let Some(at) = self.map.get(f) {
                return at.clone();
            }
            match f.rfind(['.', '[']) {
                Some(i) => f = &f[..i],
                None => return At::default(),
            }
        }
    }
}

pub(crate) fn at(n: &Node) -> At {
    At {
        pos: n.pos,
        from: n.from.clone(),
    }
}

struct Fields<'n> {
    entries: &'n [(Key, Node)],
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
            .filter(|v| v.value != Value::Null)
    }
}

struct Decoder<'d> {
    d: &'d mut Diags,
    origins: Origins,
}

use super::node::join;

impl Decoder<'_> {
    fn note(&mut self, path: &str, n: &Node) {
        self.origins.map.insert(path.to_owned(), at(n));
    }

    /// An error that leaves `path` at its default: later checks must not trust that default.
    fn reject(&mut self, at: &At, path: &str, message: impl Into<String>, hint: Option<String>) {
        self.origins.rejected.insert(path.to_owned());
        self.d.error(at, path, message, hint);
    }

    /// `path` is derived from fields that were rejected, so it is a stand-in too.
    fn derived_from(&mut self, path: &str, sources: &[&str]) {
        if sources.iter().any(|s| self.origins.rejected(s)) {
            self.origins.rejected.insert(path.to_owned());
        }
    }

    fn type_error(&mut self, n: &Node, path: &str, expected: &str) {
        self.reject(
            &at(n),
            path,
            format!("expected {expected}, found {}", n.value.type_name()),
            None,
        );
    }

    /// A mapping with only the given keys; a missing or empty section reads as empty.
    fn fields<'n>(&mut self, n: Option<&'n Node>, path: &str, keys: &[&str]) -> Fields<'n> {
        self.fields_except(n, path, keys, &[])
    }

    /// As `fields`, leaving `removed` keys to the caller, which explains each.
    fn fields_except<'n>(
        &mut self,
        n: Option<&'n Node>,
        path: &str,
        keys: &[&str],
        removed: &[&str],
    ) -> Fields<'n> {
        let Some(n) = n else {
            return Fields { entries: &[] };
        };
        self.note(path, n);
        match &n.value {
            Value::Map(entries) => {
                for (k, _) in entries {
                    if !keys.contains(&k.name.as_str()) && !removed.contains(&k.name.as_str()) {
                        let hint = match suggest(&k.name, keys) {
                            Some(s) => {
                                format!("did you mean `{s}`? valid keys here: {}", keys.join(", "))
                            }
                            None => format!("valid keys here: {}", keys.join(", ")),
                        };
                        let message = if k.name.is_empty() {
                            "an empty key is not valid here".to_owned()
                        } else {
                            format!("unknown key `{}`", k.name)
                        };
                        self.d
                            .error(&At::file(k.pos), &join(path, &k.name), message, Some(hint));
                    }
                }
                Fields { entries }
            }
            Value::Null => Fields { entries: &[] },
            _ => {
                self.type_error(
                    n,
                    if path.is_empty() { "(top level)" } else { path },
                    "a mapping",
                );
                Fields { entries: &[] }
            }
        }
    }

    fn string(&mut self, n: Option<&Node>, path: &str) -> Option<String> {
        let n = n?;
        self.note(path, n);
        match &n.value {
            Value::Str(s) if s.trim().is_empty() => {
                self.reject(&at(n), path, "must not be empty", None);
                None
            }
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.type_error(n, path, "a string");
                None
            }
        }
    }

    /// Label values and the like: Kubernetes wants strings, but `true` or `3` is what was meant.
    fn scalar_string(&mut self, n: &Node, path: &str) -> Option<String> {
        self.note(path, n);
        match &n.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            _ => {
                self.type_error(n, path, "a string");
                None
            }
        }
    }

    /// A whole number, or the type error saying `expected`. Variables arrive as text, and a
    /// quoted number in the file is still a number to a person.
    fn whole_number(&mut self, n: &Node, path: &str, expected: &str) -> Option<i64> {
        self.note(path, n);
        let v = match &n.value {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        };
        if v.is_none() {
            self.type_error(n, path, expected);
        }
        v
    }

    fn port(&mut self, n: Option<&Node>, path: &str) -> Option<u16> {
        let n = n?;
        let v = self.whole_number(n, path, "a port number (1-65535)")?;
        if !(1..=65535).contains(&v) {
            self.reject(
                &at(n),
                path,
                format!("port {v} is out of range"),
                Some("a port is a whole number from 1 to 65535".into()),
            );
            return None;
        }
        Some(v as u16)
    }

    /// A node count: a whole number in `min..=max` (a quoted one is a number to a person).
    fn node_count(
        &mut self,
        n: Option<&Node>,
        path: &str,
        min: u32,
        max: u32,
        hint: &str,
    ) -> Option<u32> {
        let n = n?;
        let v = self.whole_number(n, path, &format!("a whole number from {min} to {max}"))?;
        if !(i64::from(min)..=i64::from(max)).contains(&v) {
            self.reject(
                &at(n),
                path,
                format!("{v} is out of range"),
                Some(format!("from {min} to {max}: {hint}")),
            );
            return None;
        }
        Some(v as u32)
    }

    fn boolean(&mut self, n: Option<&Node>, path: &str) -> Option<bool> {
        let n = n?;
        self.note(path, n);
        match &n.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if n.from.is_some() && (s == "true" || s == "false") => Some(s == "true"),
            Value::Str(s) => {
                self.reject(
                    &at(n),
                    path,
                    format!("expected true or false, found the string `{s}`"),
                    Some("only `true` and `false` are booleans here (not yes/no/on/off)".into()),
                );
                None
            }
            _ => {
                self.type_error(n, path, "true or false");
                None
            }
        }
    }

    fn choice(
        &mut self,
        n: Option<&Node>,
        path: &str,
        valid: &[&'static str],
    ) -> Option<&'static str> {
        let n = n?;
        let s = self.string(Some(n), path)?;
        if let Some(v) = valid.iter().find(|v| **v == s) {
            return Some(v);
        }
        let hint = match suggest(&s, valid) {
            Some(g) => format!("did you mean `{g}`? valid values: {}", valid.join(", ")),
            None => format!("valid values: {}", valid.join(", ")),
        };
        self.reject(
            &at(n),
            path,
            format!("`{s}` is not a valid value"),
            Some(hint),
        );
        None
    }

    /// A choice among an enum's names: those strum derives for it, which are its serde names.
    fn pick<E: strum::VariantNames + std::str::FromStr>(
        &mut self,
        n: Option<&Node>,
        path: &str,
    ) -> Option<E> {
        self.choice(n, path, E::VARIANTS)
            .and_then(|s| s.parse().ok())
    }

    fn list<'n>(&mut self, n: Option<&'n Node>, path: &str) -> &'n [Node] {
        let Some(n) = n else { return &[] };
        self.note(path, n);
        match &n.value {
            Value::Seq(items) => items,
            _ => {
                self.type_error(n, path, "a list");
                &[]
            }
        }
    }

    fn string_list(&mut self, n: Option<&Node>, path: &str) -> Vec<String> {
        let items = self.list(n, path);
        let mut out = Vec::new();
        let mut index = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.string(Some(item), &format!("{path}[{i}]")) {
                out.push(s);
                index.push(i);
            }
        }
        self.origins.items.insert(path.to_owned(), index);
        out
    }

    fn string_map(&mut self, n: Option<&Node>, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(n) = n else { return out };
        self.note(path, n);
        match &n.value {
            Value::Map(entries) => {
                for (k, v) in entries {
                    if let Some(s) = self.scalar_string(v, &join(path, &k.name)) {
                        out.insert(k.name.clone(), s);
                    }
                }
            }
            _ => self.type_error(n, path, "a mapping of strings"),
        }
        out
    }

    fn values(&mut self, n: Option<&Node>, path: &str) -> serde_json::Value {
        let Some(n) = n else {
            return serde_json::Value::Object(Default::default());
        };
        self.note(path, n);
        match &n.value {
            Value::Map(_) => n.to_json(),
            _ => {
                self.type_error(n, path, "a mapping of chart values");
                serde_json::Value::Object(Default::default())
            }
        }
    }

    fn chart(
        &mut self,
        n: Option<&Node>,
        path: &str,
        repo: &str,
        name: &str,
        version: &str,
    ) -> Chart {
        let f = self.fields(n, path, CHART);
        let path_ = self.string(f.get("path"), &join(path, "path"));
        let explicit_repo = self.string(f.get("repo"), &join(path, "repo"));
        Chart {
            repo: if path_.is_some() {
                explicit_repo
            } else {
                explicit_repo.or(Some(repo.into()))
            },
            name: self
                .string(f.get("name"), &join(path, "name"))
                .unwrap_or_else(|| name.into()),
            version: match self.string(f.get("version"), &join(path, "version")) {
                Some(v) => Some(v),
                None if path_.is_some() => None,
                None => Some(version.into()),
            },
            path: path_,
        }
    }

    fn env(&mut self, root: &Node) -> Env {
        let top = self.fields(Some(root), "", TOP);
        if let Some(v) = top.get("apiVersion") {
            self.choice(Some(v), "apiVersion", &[API_VERSION]);
        }
        let cluster = self.cluster(top.get("cluster"));
        let router = self.router(top.get("router"), cluster.provider);
        let items = self.list(top.get("vclusters"), "vclusters");
        let mut vclusters = Vec::new();
        let mut index = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(v) = self.vcluster(i, item, &router.domain, router.https_port) {
                vclusters.push(v);
                index.push(i);
            }
        }
        self.origins.items.insert("vclusters".into(), index);
        let a = self.fields(top.get("access"), "access", ACCESS);
        let mode = self
            .pick(a.get("mode"), "access.mode")
            .unwrap_or(AccessMode::Auto);
        let access = Access {
            mode,
            insecure_skip_tls_verify: self
                .boolean(
                    a.get("insecureSkipTLSVerify"),
                    "access.insecureSkipTLSVerify",
                )
                .unwrap_or(false),
        };
        let k = self.fields(top.get("kubeconfig"), "kubeconfig", KUBECONFIG);
        let kubeconfig = KubeconfigTarget {
            path: self.string(k.get("path"), "kubeconfig.path"),
            current_context: self.string(k.get("currentContext"), "kubeconfig.currentContext"),
        };
        let g = self.fields(top.get("argocd"), "argocd", ARGOCD);
        let argocd = Argocd {
            register: self
                .boolean(g.get("register"), "argocd.register")
                .unwrap_or(false),
            namespace: self
                .string(g.get("namespace"), "argocd.namespace")
                .unwrap_or_else(|| "argocd".into()),
            labels: self.string_map(g.get("labels"), "argocd.labels"),
        };
        let registry = self.registry(top.get("registry"), &cluster.name);
        let cache = self.cache(top.get("cache"));
        Env {
            cluster,
            router,
            vclusters,
            access,
            kubeconfig,
            argocd,
            registry,
            cache,
        }
    }
}

/// Decode the whole tree; type and key errors land in `diags`, defaults fill the rest.
/// `rejected` names fields already refused before decoding (a key written twice).
pub fn decode(root: &Node, diags: &mut Diags, rejected: BTreeSet<String>) -> (Env, Origins) {
    let mut d = Decoder {
        d: diags,
        origins: Origins {
            rejected,
            ..Origins::default()
        },
    };
    let env = d.env(root);
    (env, d.origins)
}

/// Set `path` in the tree to a value from a variable or flag, creating sections as needed.
pub fn set_override(root: &mut Node, path: &[&str], value: Value, from: &str) {
    let mut cur = root;
    for (i, key) in path.iter().enumerate() {
        if !matches!(cur.value, Value::Map(_)) {
            cur.value = Value::Map(Vec::new());
        }
        let Value::Map(entries) = &mut cur.value else {
            unreachable!()
        };
        let idx = match entries.iter().position(|(k, _)| k.name == *key) {
            Some(idx) => idx,
            None => {
                entries.push((
                    Key {
                        name: (*key).to_owned(),
                        pos: Pos::default(),
                    },
                    Node {
                        value: Value::Null,
                        pos: Pos::default(),
                        from: None,
                    },
                ));
                entries.len() - 1
            }
        };
        cur = &mut entries[idx].1;
        if i == path.len() - 1 {
            *cur = Node {
                value,
                pos: Pos::default(),
                from: Some(from.to_owned()),
            };
            return;
        }
    }
}
