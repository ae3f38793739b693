//! The kube-apiserver's REST surface over the store, independent of TLS and authentication
//! (the shells in `lib.rs` and `node.rs` do those): version, health, discovery, OpenAPI v3,
//! SelfSubjectAccessReview, and for every served kind get, list (label and field selectors,
//! across namespaces, kubectl's Table form), watch (resume by resourceVersion, initial events
//! with the `k8s.io/initial-events-end` bookmark that client-go's watch-list asks for),
//! create, update, patch (apply, merge, strategic merge, JSON patch), delete (with
//! propagation) and deletecollection, with the real server's status errors.

use super::discovery;
use super::kinds::{split_api_version, Resource};
use super::openapi;
use super::patch;
use super::protobuf;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{Event, EventType, Key, Store};
use super::table;
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub accept: &'a str,
    pub content_type: &'a str,
    pub user_agent: &'a str,
    pub body: &'a [u8],
    /// What a SelfSubjectAccessReview answers for this caller.
    pub allowed: bool,
}

pub enum Reply {
    Json {
        status: u16,
        content_type: &'static str,
        body: Value,
    },
    Text {
        status: u16,
        body: String,
    },
    /// A watch: one JSON event per chunk until the sender ends.
    Stream(tokio::sync::mpsc::Receiver<Bytes>),
}

impl Reply {
    pub fn status(&self) -> u16 {
        match self {
            Reply::Json { status, .. } | Reply::Text { status, .. } => *status,
            Reply::Stream(_) => 200,
        }
    }
}

fn ok(body: Value) -> Reply {
    Reply::Json {
        status: 200,
        content_type: "application/json",
        body,
    }
}

fn with_status(status: u16, body: Value) -> Reply {
    Reply::Json {
        status,
        content_type: "application/json",
        body,
    }
}

pub fn status_error(code: u16, reason: &str, message: &str, details: Option<Value>) -> Reply {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    if let Some(d) = details {
        body["details"] = d;
    }
    with_status(code, body)
}

fn not_found_path() -> Reply {
    status_error(
        404,
        "NotFound",
        "the server could not find the requested resource",
        None,
    )
}

/// `secrets`, `deployments.apps`: how the real server names a resource in messages.
fn qualified(r: &Resource) -> String {
    if r.group.is_empty() {
        r.plural.clone()
    } else {
        format!("{}.{}", r.plural, r.group)
    }
}

fn not_found(r: &Resource, name: &str) -> Reply {
    status_error(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", qualified(r)),
        Some(json!({"name": name, "group": r.group, "kind": r.plural})),
    )
}

fn bad_request(message: &str) -> Reply {
    status_error(400, "BadRequest", message, None)
}

fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters, decoded.
pub fn params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode_component(k), decode_component(v)),
            None => (decode_component(p), String::new()),
        })
        .collect()
}

fn param<'a>(ps: &'a [(String, String)], name: &str) -> Option<&'a str> {
    ps.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// What a resource URL names.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

pub fn parse_target(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let t = |plural: &str, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| Target {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        subresource: sub.map(str::to_owned),
    };
    Some(match rest {
        [p] => t(p, None, None, None),
        ["namespaces", ns, sub @ ("status" | "finalize")] => {
            t("namespaces", None, Some(ns), Some(sub))
        }
        ["namespaces", ns, p] => t(p, Some(ns), None, None),
        ["namespaces", ns, p, name] => t(p, Some(ns), Some(name), None),
        ["namespaces", ns, p, name, sub] => t(p, Some(ns), Some(name), Some(sub)),
        [p, name] => t(p, None, Some(name), None),
        [p, name, sub] => t(p, None, Some(name), Some(sub)),
        _ => return None,
    })
}

fn dns_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// Why a name is invalid for this kind, as the registry's name validation says (None: valid).
/// k8s.io/apimachinery `pkg/api/validation`: most kinds take a DNS-1123 subdomain; Namespace a
/// DNS-1123 label; Service a DNS-1035 label (it becomes a DNS name); RBAC kinds any path
/// segment (`path.IsValidPathSegmentName`, so `a:b` is fine); custom resources are held to the
/// path-segment rule here too.
fn name_problem(res: &Resource, name: &str) -> Option<&'static str> {
    let path_segment = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('%');
    let ok = match (res.group.as_str(), res.kind.as_str()) {
        ("rbac.authorization.k8s.io", _) => path_segment,
        _ if res.custom => path_segment,
        ("", "Namespace") => dns_label(name),
        ("", "Service") => dns_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase()),
        _ => name.len() <= 253 && name.split('.').all(dns_label),
    };
    if ok {
        return None;
    }
    Some(match (res.group.as_str(), res.kind.as_str()) {
        ("rbac.authorization.k8s.io", _) => "may not be '.' or '..' and may not contain '/' or '%'",
        _ if res.custom => "may not be '.' or '..' and may not contain '/' or '%'",
        ("", "Namespace") => "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        ("", "Service") => "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        _ => "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
    })
}

fn invalid_name(res: &Resource, name: &str, problem: &str) -> Reply {
    status_error(
        422,
        "Invalid",
        &format!(
            "{} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": {problem}",
            res.kind
        ),
        Some(json!({"name": name, "group": res.group, "kind": res.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": format!("Invalid value: \"{name}\": {problem}"), "field": "metadata.name"}]})),
    )
}

/// A request body as JSON: JSON, YAML (apply), or the protobuf typed clients send.
fn decode_body(body: &[u8], content_type: &str) -> Result<Value, Reply> {
    if content_type.starts_with(protobuf::CONTENT_TYPE) {
        return protobuf::decode(body)
            .map_err(|e| status_error(415, "UnsupportedMediaType", &e, None));
    }
    parse_body(body).map_err(|e| {
        bad_request(&format!(
            "the body of the request was in an unknown format: {e}"
        ))
    })
}

fn parse_body(body: &[u8]) -> Result<Value, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(json_err) => {
            let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
            serde_saphyr::from_str::<Value>(text).map_err(|_| json_err.to_string())
        }
    }
}

fn strip_type(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

pub struct Api {
    pub store: Store,
    version: Value,
    writes: AtomicUsize,
}

impl Api {
    /// An apiserver over `store` reporting `git_version` at `/version`.
    pub fn new(store: Store, git_version: &str) -> Api {
        let minor = git_version
            .trim_start_matches('v')
            .split('.')
            .nth(1)
            .unwrap_or("35")
            .to_owned();
        Api {
            store,
            version: json!({"major": "1", "minor": minor, "emulationMajor": "1", "emulationMinor": minor,
                "gitVersion": git_version, "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0",
                "compiler": "gc", "platform": "linux/amd64"}),
            writes: AtomicUsize::new(0),
        }
    }

    /// Mutating requests on stored kinds served so far (dry runs and reviews excluded).
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::Relaxed)
    }

    pub fn handle(&self, r: &Request) -> Reply {
        self.store.reap();
        let ps = params(r.query);
        match (r.method, r.path) {
            ("GET", "/version") => return ok(self.version.clone()),
            ("GET", p)
                if ["/healthz", "/livez", "/readyz"]
                    .iter()
                    .any(|h| p == *h || p.starts_with(&format!("{h}/"))) =>
            {
                return Reply::Text {
                    status: 200,
                    body: "ok".into(),
                };
            }
            ("GET", "/api") => {
                return if discovery::wants_aggregated(r.accept) {
                    Reply::Json {
                        status: 200,
                        content_type: discovery::AGGREGATED_CONTENT_TYPE,
                        body: discovery::aggregated(&self.store.resources(), true),
                    }
                } else {
                    ok(discovery::api_versions())
                };
            }
            ("GET", "/apis") => {
                let all = self.store.resources();
                return if discovery::wants_aggregated(r.accept) {
                    Reply::Json {
                        status: 200,
                        content_type: discovery::AGGREGATED_CONTENT_TYPE,
                        body: discovery::aggregated(&all, false),
                    }
                } else {
                    ok(discovery::api_group_list(&all))
                };
            }
            ("GET", "/openapi/v3") => return ok(openapi::root(&self.store.resources())),
            ("GET", p) if p.starts_with("/openapi/v3/") => {
                return match openapi::parse_path(&p["/openapi/v3/".len()..]) {
                    Some((g, v)) => openapi::group_version(&self.store.resources(), &g, &v)
                        .map(ok)
                        .unwrap_or_else(not_found_path),
                    None => not_found_path(),
                };
            }
            _ => {}
        }
        let segs: Vec<&str> = r.path.trim_matches('/').split('/').collect();
        if r.method == "GET" {
            let all = self.store.resources();
            match segs.as_slice() {
                ["api", "v1"] => {
                    return discovery::resource_list(&all, "", "v1")
                        .map(ok)
                        .unwrap_or_else(not_found_path)
                }
                ["apis", g] => {
                    return discovery::api_group(&all, g)
                        .map(ok)
                        .unwrap_or_else(not_found_path)
                }
                ["apis", g, v] => {
                    return discovery::resource_list(&all, g, v)
                        .map(ok)
                        .unwrap_or_else(not_found_path)
                }
                _ => {}
            }
        }
        let Some(target) = parse_target(r.path) else {
            return not_found_path();
        };
        let Some(res) = self.store.resources().into_iter().find(|x| {
            x.group == target.group && x.version == target.version && x.plural == target.plural
        }) else {
            return not_found_path();
        };
        // Namespaced kinds are listed across namespaces, everything else names its namespace;
        // cluster-scoped kinds have none.
        let scope_ok = if res.namespaced {
            target.namespace.is_some() || (r.method == "GET" && target.name.is_none())
        } else {
            target.namespace.is_none()
        };
        if !scope_ok {
            return not_found_path();
        }
        let mutating = matches!(r.method, "POST" | "PUT" | "PATCH" | "DELETE");
        let dry_run = param(&ps, "dryRun") == Some("All");
        if res.is_review() {
            return if r.method == "POST" && target.name.is_none() {
                self.review(&res, r)
            } else {
                not_found_path()
            };
        }
        if mutating && !dry_run {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(sub) = &target.subresource {
            // Only reading the status subresource is served.
            if !(r.method == "GET" && sub == "status") {
                return not_found_path();
            }
        }
        let ns = target.namespace.clone().unwrap_or_default();
        match (r.method, &target.name) {
            ("GET", None) if param(&ps, "watch").is_some_and(|w| w == "true" || w == "1") => {
                self.watch(&res, &target, &ps)
            }
            ("GET", None) => self.list(&res, &target, &ps, r.accept),
            ("GET", Some(name)) => {
                match self
                    .store
                    .get(&Key::new(&res.group, &res.plural, &ns, name))
                {
                    Some(v) => {
                        if table::wanted(r.accept) {
                            ok(table::table(
                                &res,
                                &[v],
                                self.store.resource_version(),
                                false,
                            ))
                        } else {
                            ok(v)
                        }
                    }
                    None => not_found(&res, name),
                }
            }
            ("POST", None) => self.create(&res, &ns, &ps, r, dry_run),
            ("PUT", Some(name)) => self.update(&res, &ns, name, &ps, r, dry_run),
            ("PATCH", Some(name)) => self.patch(&res, &ns, name, &ps, r, dry_run),
            ("DELETE", Some(name)) => self.delete(&res, &ns, name, &ps, r, dry_run),
            ("DELETE", None) => self.delete_collection(&res, &target, &ps, r, dry_run),
            _ => status_error(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                None,
            ),
        }
    }

    fn review(&self, res: &Resource, r: &Request) -> Reply {
        let mut body = match decode_body(r.body, r.content_type) {
            Ok(b) => b,
            Err(e) => return e,
        };
        body["apiVersion"] = json!(res.api_version());
        body["kind"] = json!(res.kind);
        body["status"] = json!({"allowed": r.allowed});
        if !r.allowed {
            body["status"]["reason"] = json!("denied by the double's authorizer");
        }
        with_status(201, body)
    }

    fn selectors(
        res: &Resource,
        ps: &[(String, String)],
    ) -> Result<(LabelSelector, FieldSelector), Reply> {
        let labels = LabelSelector::parse(param(ps, "labelSelector").unwrap_or(""))
            .map_err(|e| bad_request(&format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(param(ps, "fieldSelector").unwrap_or(""), &res.kind)
            .map_err(|e| bad_request(&e))?;
        Ok((labels, fields))
    }

    fn in_scope(
        res: &Resource,
        target: &Target,
        labels: &LabelSelector,
        fields: &FieldSelector,
        k: &Key,
        v: &Value,
    ) -> bool {
        k.group == res.group
            && k.plural == res.plural
            && target
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == k.namespace)
            && labels.matches(&v["metadata"]["labels"])
            && fields.matches(v)
    }

    fn list(
        &self,
        res: &Resource,
        target: &Target,
        ps: &[(String, String)],
        accept: &str,
    ) -> Reply {
        let (labels, fields) = match Self::selectors(res, ps) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let (items, rv, _) = self
            .store
            .snapshot(|k, v| Self::in_scope(res, target, &labels, &fields, k, v));
        if table::wanted(accept) {
            return ok(table::table(
                res,
                &items,
                rv,
                target.namespace.is_none() && res.namespaced,
            ));
        }
        ok(
            json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items.into_iter().map(strip_type).collect::<Vec<_>>()}),
        )
    }

    fn watch(&self, res: &Resource, target: &Target, ps: &[(String, String)]) -> Reply {
        let (labels, fields) = match Self::selectors(res, ps) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let timeout = param(ps, "timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(1800);
        let initial_events = param(ps, "sendInitialEvents") == Some("true");
        let rv_param = param(ps, "resourceVersion").unwrap_or("").to_owned();
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
        let line = |kind: &str, object: &Value| {
            Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
        };
        let filter_res = res.clone();
        let filter_target = target.clone();
        let matches = move |e: &Event| {
            Self::in_scope(
                &filter_res,
                &filter_target,
                &labels,
                &fields,
                &e.key,
                &e.object,
            )
        };
        let mut first: Vec<Bytes> = Vec::new();
        let (mut live, mut last_rv) = if initial_events || rv_param.is_empty() || rv_param == "0" {
            let (items, rv, live) = self.store.snapshot(|k, v| {
                matches(&Event {
                    rv: 0,
                    kind: EventType::Added,
                    key: k.clone(),
                    object: v.clone(),
                })
            });
            first.extend(items.iter().map(|o| line("ADDED", o)));
            if initial_events {
                let bookmark = json!({"apiVersion": res.api_version(), "kind": res.kind, "metadata": {"resourceVersion": rv.to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"}}});
                first.push(line("BOOKMARK", &bookmark));
            }
            (live, rv)
        } else {
            let Ok(from) = rv_param.parse::<u64>() else {
                return bad_request(&format!("invalid resource version: {rv_param}"));
            };
            let (replay, live) = self.store.since(from);
            match replay {
                Some(events) => {
                    let mut last = from;
                    for e in events.iter().filter(|e| matches(e)) {
                        first.push(line(e.kind.as_str(), &e.object));
                        last = last.max(e.rv);
                    }
                    (live, last.max(from))
                }
                None => {
                    let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("too old resource version: {from}"), "reason": "Expired", "code": 410});
                    first.push(line("ERROR", &gone));
                    let (_, _, live) = self.store.snapshot(|_, _| false);
                    drop(live);
                    let (tx2, rx2) = tokio::sync::mpsc::channel::<Bytes>(4);
                    tokio::spawn(async move {
                        for b in first {
                            let _ = tx2.send(b).await;
                        }
                    });
                    return Reply::Stream(rx2);
                }
            }
        };
        tokio::spawn(async move {
            for b in first {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => return,
                    _ = tx.closed() => return,
                    got = live.recv() => match got {
                        Ok(e) => {
                            if e.rv <= last_rv || !matches(&e) {
                                continue;
                            }
                            last_rv = e.rv;
                            if tx.send(line(e.kind.as_str(), &e.object)).await.is_err() {
                                return;
                            }
                        }
                        // Lagged or closed: end the watch; the client lists again.
                        Err(_) => return,
                    }
                }
            }
        });
        Reply::Stream(rx)
    }

    fn manager(ps: &[(String, String)], r: &Request) -> String {
        param(ps, "fieldManager")
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                r.user_agent
                    .split('/')
                    .next()
                    .unwrap_or("unknown")
                    .to_owned()
            })
    }

    fn check_type(res: &Resource, body: &Value) -> Result<(), Reply> {
        let av = body["apiVersion"].as_str().unwrap_or_default();
        let kind = body["kind"].as_str().unwrap_or_default();
        if !av.is_empty() && av != res.api_version() {
            let (g, _) = split_api_version(av);
            if g != res.group {
                return Err(bad_request(&format!("the API version in the data ({av}) does not match the expected API version ({})", res.api_version())));
            }
        }
        if !kind.is_empty() && kind != res.kind {
            return Err(bad_request(&format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                res.kind
            )));
        }
        Ok(())
    }

    fn namespace_missing(&self, res: &Resource, ns: &str) -> Option<Reply> {
        if !res.namespaced {
            return None;
        }
        if let Some(n) = self.store.get(&Key::new("", "namespaces", "", ns)) {
            // NamespaceLifecycle admission.
            return n["metadata"].get("deletionTimestamp").map(|_| {
                status_error(403, "Forbidden", &format!("{} is forbidden: unable to create new content in namespace {ns} because it is being terminated", res.plural),
                    Some(json!({"causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]})))
            });
        }
        Some(status_error(
            404,
            "NotFound",
            &format!("namespaces \"{ns}\" not found"),
            Some(json!({"name": ns, "kind": "namespaces"})),
        ))
    }

    fn body_namespace_matches(res: &Resource, ns: &str, body: &Value) -> Result<(), Reply> {
        match body["metadata"]["namespace"].as_str() {
            Some(b) if res.namespaced && !b.is_empty() && b != ns => Err(bad_request("the namespace of the provided object does not match the namespace sent on the request")),
            _ => Ok(()),
        }
    }

    fn create(
        &self,
        res: &Resource,
        ns: &str,
        ps: &[(String, String)],
        r: &Request,
        dry_run: bool,
    ) -> Reply {
        let mut body = match decode_body(r.body, r.content_type) {
            Ok(b) if b.is_object() => b,
            Ok(_) => return bad_request("the body of the request was not an object"),
            Err(e) => return e,
        };
        if let Err(e) =
            Self::check_type(res, &body).and_then(|_| Self::body_namespace_matches(res, ns, &body))
        {
            return e;
        }
        let mut name = body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if name.is_empty() {
            if let Some(prefix) = body["metadata"]["generateName"].as_str() {
                let n = self.store.resource_version() * 7919 % 100_000;
                name = format!("{prefix}{n:05x}").chars().take(253).collect();
            }
        }
        if let Some(problem) = name_problem(res, &name) {
            return invalid_name(res, &name, problem);
        }
        if let Some(e) = self.namespace_missing(res, ns) {
            return e;
        }
        let key = Key::new(&res.group, &res.plural, ns, &name);
        let manager = Self::manager(ps, r);
        self.store.tx(|tx| {
            if tx.get(&key).is_some() {
                return status_error(
                    409,
                    "AlreadyExists",
                    &format!("{} \"{name}\" already exists", qualified(res)),
                    Some(json!({"name": name, "group": res.group, "kind": res.plural})),
                );
            }
            patch::record_update(None, &mut body, &manager, &tx.now.clone());
            let stored = if dry_run {
                tx.preview(res, key, body)
            } else {
                tx.put(res, key, body)
            };
            with_status(201, stored)
        })
    }

    fn precondition_failed(
        res: &Resource,
        name: &str,
        live: &Value,
        body: &Value,
    ) -> Option<Reply> {
        let want = body["metadata"]["resourceVersion"]
            .as_str()
            .filter(|s| !s.is_empty())?;
        (live["metadata"]["resourceVersion"].as_str() != Some(want)).then(|| {
            status_error(409, "Conflict", &format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", qualified(res)),
                Some(json!({"name": name, "group": res.group, "kind": res.plural})))
        })
    }

    fn update(
        &self,
        res: &Resource,
        ns: &str,
        name: &str,
        ps: &[(String, String)],
        r: &Request,
        dry_run: bool,
    ) -> Reply {
        let mut body = match decode_body(r.body, r.content_type) {
            Ok(b) if b.is_object() => b,
            Ok(_) => return bad_request("the body of the request was not an object"),
            Err(e) => return e,
        };
        if let Err(e) =
            Self::check_type(res, &body).and_then(|_| Self::body_namespace_matches(res, ns, &body))
        {
            return e;
        }
        if body["metadata"]["name"].as_str() != Some(name) {
            return bad_request(&format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                body["metadata"]["name"].as_str().unwrap_or("")
            ));
        }
        let key = Key::new(&res.group, &res.plural, ns, name);
        let manager = Self::manager(ps, r);
        self.store.tx(|tx| {
            let Some(live) = tx.get(&key).cloned() else {
                return not_found(res, name);
            };
            if let Some(e) = Self::precondition_failed(res, name, &live, &body) {
                return e;
            }
            patch::record_update(Some(&live), &mut body, &manager, &tx.now.clone());
            ok(if dry_run {
                tx.preview(res, key, body)
            } else {
                tx.put(res, key, body)
            })
        })
    }

    fn patch(
        &self,
        res: &Resource,
        ns: &str,
        name: &str,
        ps: &[(String, String)],
        r: &Request,
        dry_run: bool,
    ) -> Reply {
        let body = match parse_body(r.body) {
            Ok(b) => b,
            Err(e) => return bad_request(&format!("error decoding patch: {e}")),
        };
        let ct = r.content_type.split(';').next().unwrap_or("").trim();
        let key = Key::new(&res.group, &res.plural, ns, name);
        let manager = Self::manager(ps, r);
        let force = param(ps, "force") == Some("true");
        if ct == "application/apply-patch+yaml" {
            if param(ps, "fieldManager").is_none_or(str::is_empty) {
                return bad_request("PATCH with apply content type requires fieldManager");
            }
            if let Err(e) = Self::check_type(res, &body)
                .and_then(|_| Self::body_namespace_matches(res, ns, &body))
            {
                return e;
            }
            if body["metadata"]["name"].as_str().is_some_and(|n| n != name) {
                return bad_request(&format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    body["metadata"]["name"].as_str().unwrap_or("")
                ));
            }
        }
        let live_now = self.store.get(&key);
        if live_now.is_none() {
            if ct != "application/apply-patch+yaml" {
                return not_found(res, name);
            }
            if let Some(problem) = name_problem(res, name) {
                return invalid_name(res, name, problem);
            }
            if let Some(e) = self.namespace_missing(res, ns) {
                return e;
            }
        }
        self.store.tx(|tx| {
            let live = tx.get(&key).cloned();
            let now = tx.now.clone();
            let new = match ct {
                "application/apply-patch+yaml" => {
                    let mut config = body.clone();
                    config["apiVersion"] = json!(res.api_version());
                    config["kind"] = json!(res.kind);
                    config["metadata"]["name"] = json!(name);
                    match patch::apply(live.as_ref(), &config, &manager, force, &now) {
                        Ok(v) => v,
                        Err(conflicts) => {
                            let causes: Vec<Value> = conflicts.iter().map(|c| json!({"type": "FieldManagerConflict",
                                "message": format!("conflict with \"{}\" using {}", c.manager, c.api_version), "field": c.field()})).collect();
                            return status_error(409, "Conflict", &patch::conflict_message(&conflicts), Some(json!({"causes": causes})));
                        }
                    }
                }
                _ => {
                    let Some(live) = live.as_ref() else {
                        return not_found(res, name);
                    };
                    let patched = match ct {
                        "application/merge-patch+json" => Ok(patch::merge_patch(live, &body)),
                        "application/json-patch+json" => patch::json_patch(live, &body),
                        "application/strategic-merge-patch+json" if res.custom => {
                            return status_error(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml", None);
                        }
                        "application/strategic-merge-patch+json" => patch::strategic_merge(live, &body),
                        other => {
                            return status_error(415, "UnsupportedMediaType", &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"), None);
                        }
                    };
                    let mut new = match patched {
                        Ok(v) => v,
                        Err(e) => return status_error(422, "Invalid", &e, None),
                    };
                    if let Some(e) = Self::precondition_failed(res, name, live, &body) {
                        return e;
                    }
                    patch::record_update(Some(live), &mut new, &manager, &now);
                    new
                }
            };
            let created = live.is_none();
            let stored = if dry_run { tx.preview(res, key, new) } else { tx.put(res, key, new) };
            with_status(if created { 201 } else { 200 }, stored)
        })
    }

    fn orphan(ps: &[(String, String)], r: &Request) -> bool {
        let body: Value = if r.body.is_empty() {
            Value::Null
        } else {
            decode_body(r.body, r.content_type).unwrap_or(Value::Null)
        };
        let policy = param(ps, "propagationPolicy")
            .map(str::to_owned)
            .or_else(|| body["propagationPolicy"].as_str().map(str::to_owned));
        policy.as_deref() == Some("Orphan")
            || body["orphanDependents"] == true
            || param(ps, "orphanDependents") == Some("true")
    }

    fn delete(
        &self,
        res: &Resource,
        ns: &str,
        name: &str,
        ps: &[(String, String)],
        r: &Request,
        dry_run: bool,
    ) -> Reply {
        let key = Key::new(&res.group, &res.plural, ns, name);
        let orphan = Self::orphan(ps, r);
        self.store.tx(|tx| {
            let Some(live) = tx.get(&key).cloned() else {
                return not_found(res, name);
            };
            if dry_run {
                return ok(live);
            }
            ok(tx.delete(&key, orphan).unwrap_or(live))
        })
    }

    fn delete_collection(
        &self,
        res: &Resource,
        target: &Target,
        ps: &[(String, String)],
        r: &Request,
        dry_run: bool,
    ) -> Reply {
        if !res.verbs.iter().any(|v| v == "deletecollection") {
            return status_error(
                405,
                "MethodNotAllowed",
                &format!(
                    "the server does not allow this method on the requested resource ({})",
                    res.plural
                ),
                None,
            );
        }
        let (labels, fields) = match Self::selectors(res, ps) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let orphan = Self::orphan(ps, r);
        self.store.tx(|tx| {
            let keys: Vec<Key> = tx.iter().filter(|(k, v)| Self::in_scope(res, target, &labels, &fields, k, v)).map(|(k, _)| k.clone()).collect();
            let mut gone = Vec::new();
            for k in keys {
                let v = if dry_run { tx.get(&k).cloned() } else { tx.delete(&k, orphan) };
                gone.extend(v.map(strip_type));
            }
            ok(json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": {"resourceVersion": tx.rv().to_string()}, "items": gone}))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        ct: &'a str,
        body: &'a [u8],
    ) -> Request<'a> {
        Request {
            method,
            path,
            query,
            accept: "application/json",
            content_type: ct,
            user_agent: "kubectl/v1.37.1 (linux/amd64)",
            body,
            allowed: true,
        }
    }

    fn json_of(r: Reply) -> (u16, Value) {
        match r {
            Reply::Json { status, body, .. } => (status, body),
            Reply::Text { status, body } => (status, json!(body)),
            Reply::Stream(_) => (200, Value::Null),
        }
    }

    #[test]
    fn paths_name_collections_objects_and_namespaces() {
        let t = parse_target("/api/v1/namespaces/dev/secrets/vc-x").unwrap();
        assert_eq!(
            (t.plural.as_str(), t.namespace.as_deref(), t.name.as_deref()),
            ("secrets", Some("dev"), Some("vc-x"))
        );
        let ns = parse_target("/api/v1/namespaces/dev").unwrap();
        assert_eq!(
            (ns.plural.as_str(), ns.namespace, ns.name.as_deref()),
            ("namespaces", None, Some("dev"))
        );
        let all = parse_target("/apis/apps/v1/deployments").unwrap();
        assert_eq!((all.group.as_str(), all.namespace), ("apps", None));
        assert_eq!(
            parse_target("/api/v1/namespaces/dev/status")
                .unwrap()
                .subresource
                .as_deref(),
            Some("status")
        );
        assert_eq!(
            params("labelSelector=owner%3Dhelm%2Cname%3Dx&watch=1"),
            vec![
                ("labelSelector".into(), "owner=helm,name=x".into()),
                ("watch".into(), "1".into())
            ]
        );
    }

    #[test]
    fn create_get_list_by_label_and_the_real_errors() {
        let api = Api::new(Store::new(), "v1.35.0+test");
        let secret = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"sh.helm.release.v1.r.v1","labels":{"owner":"helm","name":"r"}},"type":"helm.sh/release.v1","data":{"release":"eA=="}}"#;
        let (code, body) = json_of(api.handle(&req(
            "POST",
            "/api/v1/namespaces/nope/secrets",
            "",
            "application/json",
            secret,
        )));
        assert_eq!(
            (code, body["message"].as_str()),
            (404, Some("namespaces \"nope\" not found"))
        );
        let (code, _) = json_of(api.handle(&req(
            "POST",
            "/api/v1/namespaces/default/secrets",
            "",
            "application/json",
            secret,
        )));
        assert_eq!(code, 201);
        let (code, body) = json_of(api.handle(&req(
            "POST",
            "/api/v1/namespaces/default/secrets",
            "",
            "application/json",
            secret,
        )));
        assert_eq!(
            (code, body["reason"].as_str()),
            (409, Some("AlreadyExists"))
        );
        let (_, list) = json_of(api.handle(&req(
            "GET",
            "/api/v1/secrets",
            "labelSelector=owner%3Dhelm",
            "",
            b"",
        )));
        assert_eq!(list["kind"], "SecretList");
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert!(
            list["items"][0].get("kind").is_none(),
            "items carry no type, as the real server's"
        );
        let (_, none) = json_of(api.handle(&req(
            "GET",
            "/api/v1/namespaces/default/secrets",
            "labelSelector=owner%3Dflux",
            "",
            b"",
        )));
        assert!(none["items"].as_array().unwrap().is_empty());
        let (code, body) = json_of(api.handle(&req(
            "GET",
            "/apis/apps/v1/namespaces/default/deployments/x",
            "",
            "",
            b"",
        )));
        assert_eq!(
            (code, body["message"].as_str()),
            (404, Some("deployments.apps \"x\" not found"))
        );
        assert_eq!(api.writes(), 3);
    }

    #[test]
    fn apply_creates_and_a_second_identical_apply_changes_nothing() {
        let api = Api::new(Store::new(), "v1.35.0+test");
        let cm =
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}}"#;
        let apply = |body: &'static [u8]| {
            json_of(api.handle(&req(
                "PATCH",
                "/api/v1/namespaces/default/configmaps/c",
                "fieldManager=kubectl&force=true",
                "application/apply-patch+yaml",
                body,
            )))
        };
        let (code, first) = apply(cm);
        assert_eq!(code, 201);
        let (code, second) = apply(cm);
        assert_eq!(code, 200);
        assert_eq!(
            first["metadata"]["resourceVersion"],
            second["metadata"]["resourceVersion"]
        );
        let (code, _) = json_of(api.handle(&req(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c",
            "",
            "application/apply-patch+yaml",
            cm,
        )));
        assert_eq!(code, 400, "apply needs a field manager");
        let (code, merged) = json_of(api.handle(&req(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c",
            "",
            "application/merge-patch+json",
            br#"{"data":{"b":"2"}}"#,
        )));
        assert_eq!(code, 200);
        assert_eq!(merged["data"], json!({"a": "1", "b": "2"}));
        let (code, _) = json_of(api.handle(&req(
            "DELETE",
            "/api/v1/namespaces/default/configmaps/c",
            "",
            "",
            br#"{"propagationPolicy":"Background"}"#,
        )));
        assert_eq!(code, 200);
        let (code, _) = json_of(api.handle(&req(
            "DELETE",
            "/api/v1/namespaces/default/configmaps/c",
            "",
            "",
            b"",
        )));
        assert_eq!(code, 404);
    }

    #[test]
    fn names_are_validated_per_kind() {
        let api = Api::new(Store::new(), "v1.35.0+test");
        let post = |path: &'static str, body: &'static [u8]| {
            json_of(api.handle(&req("POST", path, "", "application/json", body))).0
        };
        assert_eq!(
            post(
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                br#"{"metadata":{"name":"eg-certgen:envoy-gateway-system"}}"#
            ),
            201,
            "RBAC names are path segments"
        );
        assert_eq!(
            post(
                "/api/v1/namespaces/default/configmaps",
                br#"{"metadata":{"name":"a:b"}}"#
            ),
            422
        );
        assert_eq!(
            post(
                "/api/v1/namespaces/default/services",
                br#"{"metadata":{"name":"1abc"}}"#
            ),
            422,
            "Services take DNS-1035 labels"
        );
        assert_eq!(
            post("/api/v1/namespaces", br#"{"metadata":{"name":"a.b"}}"#),
            422,
            "Namespaces take DNS-1123 labels"
        );
        assert_eq!(
            post(
                "/api/v1/namespaces/default/secrets",
                br#"{"metadata":{"name":"sh.helm.release.v1.x.v1"}}"#
            ),
            201
        );
    }

    #[test]
    fn dry_runs_store_nothing_and_are_not_writes() {
        let api = Api::new(Store::new(), "v1.35.0+test");
        let ns = br#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}"#;
        let (code, _) = json_of(api.handle(&req(
            "POST",
            "/api/v1/namespaces",
            "dryRun=All",
            "application/json",
            ns,
        )));
        assert_eq!(code, 201);
        assert!(api
            .store
            .get(&Key::new("", "namespaces", "", "x"))
            .is_none());
        assert_eq!(api.writes(), 0);
    }
}
