//! Reads: what a context points at, one context as a standalone document, its credentials,
//! the merge of KUBECONFIG files as kubectl does it, and file references inlined.

use super::*;
use std::collections::HashSet;

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

/// Every context with the server of its cluster, in file order (contexts whose cluster has no
/// server are left out). One pass over each list: the file may hold tens of thousands.
pub fn servers(doc: &Value) -> Vec<(String, String)> {
    let mut by_cluster: std::collections::HashMap<&str, &str> = Default::default();
    for c in items(doc, Kind::Cluster) {
        let server = body(c, Kind::Cluster)
            .and_then(|b| b.get("server"))
            .and_then(Value::as_str);
        if let (Some(name), Some(server)) = (item_name(c), server) {
            by_cluster.entry(name).or_insert(server);
        }
    }
    items(doc, Kind::Context)
        .iter()
        .filter_map(|c| {
            let cluster = body(c, Kind::Context)?.get("cluster")?.as_str()?;
            Some((
                item_name(c)?.to_owned(),
                (*by_cluster.get(cluster)?).to_owned(),
            ))
        })
        .collect()
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
    if view.cluster.is_empty() {
        // kubectl too fails only the context that is asked for: "context was not found for
        // specified context" / "cluster has no server defined".
        return Err(DocError::InvalidEntry {
            context: context.into(),
            reason: "names no cluster (its `context.cluster` is missing or empty)".into(),
        });
    }
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

/// `context` alone (`standalone`) in kube's typed model, for kube's client and auth layer. Only
/// this one context is typed: an entry elsewhere in the file that kube's model cannot hold (a
/// hand-written context without its cluster) fails only a command that asks for it.
pub fn standalone_typed(doc: &Value, context: &str) -> Result<kube::config::Kubeconfig, DocError> {
    let one = standalone(doc, context)?;
    serde_json::from_value(one).map_err(|e| DocError::InvalidEntry {
        context: context.into(),
        reason: format!("its entries do not form a kubeconfig: {e}"),
    })
}

/// The server, trust and credentials a context carries, decoded. The one credentials type of the
/// tree: read from a kubeconfig (the one `kind get kubeconfig` prints, the user's context on
/// `provider: existing`) or from a vcluster secret's certificates (no `server` then), and held
/// by each `Entry` we write, with the server of the dial chosen for it.
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
/// file references are made absolute against the directory of the file that holds them. The
/// documents are taken, not copied: a file of 20,000 contexts is read once and moved.
pub fn merge(sources: Vec<(PathBuf, Value)>) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), "v1".into());
    out.insert("kind".into(), "Config".into());
    let current = sources.iter().find_map(|(_, doc)| current_context(doc));
    let mut sources = sources;
    for kind in Kind::ALL {
        let mut merged: Vec<Value> = Vec::new();
        // Names seen so far: a set, so merging is linear in the files' size (a list scan per
        // item made 20,000 contexts take minutes).
        let mut seen: HashSet<String> = HashSet::new();
        for (path, doc) in sources.iter_mut() {
            let dir = path.parent().unwrap_or(Path::new(""));
            let list = match doc.as_object_mut().and_then(|m| m.remove(kind.list_key())) {
                Some(Value::Array(a)) => a,
                _ => continue,
            };
            for mut item in list {
                let Some(name) = item_name(&item) else {
                    continue;
                };
                if !seen.insert(name.to_owned()) {
                    continue;
                }
                if let Some(b) = item.get_mut(kind.body_key()).and_then(Value::as_object_mut) {
                    let absolute = |p: &mut String| {
                        if !p.is_empty() && Path::new(p.as_str()).is_relative() {
                            *p = dir.join(p.as_str()).to_string_lossy().into_owned();
                        }
                    };
                    for (_, field, _) in FILE_FIELDS.iter().filter(|(k, _, _)| *k == kind) {
                        if let Some(Value::String(p)) = b.get_mut(*field) {
                            absolute(p);
                        }
                    }
                    // An exec plugin named by a path (`./bin/login`, `tools/aws-iam`) runs
                    // relative to its file; a bare name (`aws`) is looked up on PATH. client-go's
                    // `ResolveLocalPaths` does this, as kube's `Kubeconfig::read_from` does.
                    if kind == Kind::User {
                        if let Some(Value::String(c)) =
                            b.get_mut("exec").and_then(|e| e.get_mut("command"))
                        {
                            if c.contains('/') {
                                absolute(c);
                            }
                        }
                    }
                }
                merged.push(item);
            }
        }
        out.insert(kind.list_key().into(), Value::Array(merged));
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

/// Whether any cluster, user or context of the document carries `owner`'s mark.
pub fn owns_any(doc: &Value, owner: &str) -> bool {
    Kind::ALL
        .iter()
        .any(|k| items(doc, *k).iter().any(|i| is_ours(i, *k, owner)))
}
