//! The object store of the apiserver double: objects by group/resource/namespace/name with
//! uid, resourceVersion, generation and creationTimestamp, one global resourceVersion as etcd
//! gives, an event log that watches replay from, the garbage collector (ownerReferences) and
//! namespace deletion. Every change happens in a transaction (`Store::tx`); after it the
//! reactors (the simulated controllers that make objects from objects, e.g. a vcluster writing
//! its kubeconfig Secret) run until nothing changes, then the events are published.

use super::controllers::{self, Allocator};
use super::kinds::{self, Resource};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub group: String,
    pub plural: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(group: &str, plural: &str, namespace: &str, name: &str) -> Key {
        Key {
            group: group.into(),
            plural: plural.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub key: Key,
    pub object: Value,
}

/// Events kept for watches that resume from a resourceVersion; older ones answer 410 Gone.
const LOG_LIMIT: usize = 50_000;

pub struct Objects {
    map: BTreeMap<Key, Value>,
    rv: u64,
    uids: u64,
    alloc: Allocator,
    log: Vec<Arc<Event>>,
    resources: Vec<Resource>,
    /// Namespaces being deleted, and when the namespace controller finishes each.
    terminating: Vec<(String, std::time::Instant)>,
}

/// How long a deleted namespace stays Terminating before the namespace controller has emptied
/// and removed it (seconds on a real cluster; enough here for a client to see the phase).
const NAMESPACE_TERMINATION: std::time::Duration = std::time::Duration::from_millis(500);

/// A controller reacting to what is stored: called after every transaction that changed
/// something, until it changes nothing more.
pub type Reactor = Arc<dyn Fn(&mut Tx) + Send + Sync>;

/// Cheap to clone: clones share the objects.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Mutex<Objects>,
    events: broadcast::Sender<Arc<Event>>,
    reactors: Mutex<Vec<Reactor>>,
}

/// RFC 3339 UTC, seconds precision, as the apiserver writes timestamps.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

pub fn rfc3339(secs: u64) -> String {
    // Days to civil date (H. Hinnant's algorithm), no calendar crate needed.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// An empty store holding the namespaces every cluster starts with.
    pub fn new() -> Store {
        let (events, _) = broadcast::channel(4096);
        let store = Store {
            shared: Arc::new(Shared {
                inner: Mutex::new(Objects {
                    map: BTreeMap::new(),
                    rv: 0,
                    uids: 0,
                    alloc: Allocator::default(),
                    log: Vec::new(),
                    resources: kinds::built_in(),
                    terminating: Vec::new(),
                }),
                events,
                reactors: Mutex::new(Vec::new()),
            }),
        };
        store.tx(|tx| {
            let ns = tx
                .resource("", "namespaces")
                .expect("namespaces are built in");
            for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                tx.put(
                    &ns,
                    Key::new("", "namespaces", "", name),
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
                );
            }
        });
        // The namespace controller: finishes terminating namespaces while the store lives.
        let weak = Arc::downgrade(&store.shared);
        std::thread::spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            match weak.upgrade() {
                Some(shared) => Store { shared }.reap(),
                None => return,
            }
        });
        store
    }

    /// Let the namespace controller finish the namespaces whose termination is due.
    pub fn reap(&self) {
        let due = {
            let objs = self.shared.inner.lock().unwrap();
            let now = std::time::Instant::now();
            objs.terminating.iter().any(|(_, t)| *t <= now)
        };
        if due {
            self.tx(|_| {});
        }
    }

    pub fn add_reactor(&self, r: Reactor) {
        self.shared.reactors.lock().unwrap().push(r);
    }

    /// Run `f` on the objects; then the reactors; then publish the events, all under one lock
    /// so a watch that subscribes under it misses nothing.
    pub fn tx<T>(&self, f: impl FnOnce(&mut Tx) -> T) -> T {
        let reactors: Vec<Reactor> = self.shared.reactors.lock().unwrap().clone();
        let mut objs = self.shared.inner.lock().unwrap();
        let mut tx = Tx {
            objs: &mut objs,
            pending: Vec::new(),
            now: now_rfc3339(),
        };
        let now = std::time::Instant::now();
        let due: Vec<String> = tx
            .objs
            .terminating
            .iter()
            .filter(|(_, t)| *t <= now)
            .map(|(n, _)| n.clone())
            .collect();
        tx.objs.terminating.retain(|(_, t)| *t > now);
        for ns in due {
            tx.remove(&Key::new("", "namespaces", "", &ns), true);
        }
        let out = f(&mut tx);
        let mut seen = 0;
        for _ in 0..16 {
            if tx.pending.len() == seen {
                break;
            }
            seen = tx.pending.len();
            for r in &reactors {
                r(&mut tx);
            }
        }
        let pending = std::mem::take(&mut tx.pending);
        for e in pending {
            if objs.log.len() >= LOG_LIMIT {
                objs.log.drain(..LOG_LIMIT / 10);
            }
            objs.log.push(e.clone());
            let _ = self.shared.events.send(e);
        }
        out
    }

    /// Events after `rv` (None: the log no longer reaches back that far) and a receiver for
    /// everything after, taken atomically.
    pub fn since(&self, rv: u64) -> (Option<Vec<Arc<Event>>>, broadcast::Receiver<Arc<Event>>) {
        let objs = self.shared.inner.lock().unwrap();
        let rx = self.shared.events.subscribe();
        let oldest = objs.log.first().map(|e| e.rv).unwrap_or(objs.rv + 1);
        if rv + 1 < oldest && rv < objs.rv {
            return (None, rx);
        }
        let after = objs.log.iter().filter(|e| e.rv > rv).cloned().collect();
        (Some(after), rx)
    }

    /// The current objects matching `f` and the current resourceVersion, with a receiver for
    /// what follows, taken atomically.
    pub fn snapshot(
        &self,
        f: impl Fn(&Key, &Value) -> bool,
    ) -> (Vec<Value>, u64, broadcast::Receiver<Arc<Event>>) {
        let objs = self.shared.inner.lock().unwrap();
        let rx = self.shared.events.subscribe();
        let items = objs
            .map
            .iter()
            .filter(|(k, v)| f(k, v))
            .map(|(_, v)| v.clone())
            .collect();
        (items, objs.rv, rx)
    }

    pub fn get(&self, key: &Key) -> Option<Value> {
        self.shared.inner.lock().unwrap().map.get(key).cloned()
    }

    /// Every object, for tests and for the doubles' own decisions.
    pub fn all(&self) -> Vec<(Key, Value)> {
        let objs = self.shared.inner.lock().unwrap();
        objs.map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The objects whose key passes `keep`, cloned.
    pub fn select(&self, keep: impl Fn(&Key) -> bool) -> Vec<(Key, Value)> {
        let objs = self.shared.inner.lock().unwrap();
        objs.map
            .iter()
            .filter(|(k, _)| keep(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn resources(&self) -> Vec<Resource> {
        self.shared.inner.lock().unwrap().resources.clone()
    }

    pub fn resource_version(&self) -> u64 {
        self.shared.inner.lock().unwrap().rv
    }
}

pub struct Tx<'a> {
    objs: &'a mut Objects,
    pending: Vec<Arc<Event>>,
    pub now: String,
}

impl Tx<'_> {
    pub fn resources(&self) -> &[Resource] {
        &self.objs.resources
    }

    /// The served resource for a group and plural (any version).
    pub fn resource(&self, group: &str, plural: &str) -> Option<Resource> {
        self.objs
            .resources
            .iter()
            .find(|r| r.group == group && r.plural == plural)
            .cloned()
    }

    pub fn resource_for(&self, api_version: &str, kind: &str) -> Option<Resource> {
        let (g, v) = kinds::split_api_version(api_version);
        self.objs
            .resources
            .iter()
            .find(|r| r.group == g && r.version == v && r.kind == kind)
            .cloned()
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objs.map.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.objs.map.iter()
    }

    pub fn rv(&self) -> u64 {
        self.objs.rv
    }

    fn record(&mut self, kind: EventType, key: Key, object: Value) {
        self.pending.push(Arc::new(Event {
            rv: self.objs.rv,
            kind,
            key,
            object,
        }));
    }

    /// What `put` would store, without storing it (a dry run).
    pub fn preview(&mut self, res: &Resource, key: Key, obj: Value) -> Value {
        let old = self.objs.map.get(&key).cloned();
        let mut obj = self.prepare(res, &key, obj, old.as_ref());
        if let Some(o) = &old {
            obj["metadata"]["resourceVersion"] = o["metadata"]["resourceVersion"].clone();
        }
        obj
    }

    /// Server metadata, defaults, generation and the controllers' status.
    fn prepare(&mut self, res: &Resource, key: &Key, mut obj: Value, old: Option<&Value>) -> Value {
        if !obj.is_object() {
            obj = json!({});
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        let meta = obj["metadata"].as_object_mut().unwrap();
        meta.insert("name".into(), json!(key.name));
        if res.namespaced {
            meta.insert("namespace".into(), json!(key.namespace));
        } else {
            meta.remove("namespace");
        }
        meta.remove("resourceVersion");
        match old {
            Some(o) => {
                meta.insert("uid".into(), o["metadata"]["uid"].clone());
                meta.insert(
                    "creationTimestamp".into(),
                    o["metadata"]["creationTimestamp"].clone(),
                );
                if let Some(t) = o["metadata"].get("deletionTimestamp") {
                    meta.insert("deletionTimestamp".into(), t.clone());
                }
            }
            None => {
                self.objs.uids += 1;
                let n = self.objs.uids;
                meta.insert(
                    "uid".into(),
                    json!(format!("d0b1e000-0000-4000-8000-{n:012x}")),
                );
                meta.insert("creationTimestamp".into(), json!(self.now));
            }
        }
        controllers::settle(
            &res.group,
            &res.kind,
            !res.custom,
            old,
            &mut obj,
            &mut self.objs.alloc,
        );
        obj
    }

    /// Store `obj` at `key` as the registry would: server metadata, defaults, generation and
    /// the controllers' status. An update that changes nothing is no write (no new
    /// resourceVersion, no event), as in the real apiserver. Returns what is stored.
    pub fn put(&mut self, res: &Resource, key: Key, obj: Value) -> Value {
        let old = self.objs.map.get(&key).cloned();
        let mut obj = self.prepare(res, &key, obj, old.as_ref());
        // A terminating object goes once its last finalizer is removed.
        let finalizers_left = obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if obj["metadata"].get("deletionTimestamp").is_some() && !finalizers_left {
            return self.remove(&key, true).unwrap_or(obj);
        }
        if let Some(o) = &old {
            let mut same = o.clone();
            if let Some(m) = same["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            if same == obj {
                return o.clone();
            }
        }
        self.objs.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.objs.rv.to_string());
        let is_crd = res.kind == "CustomResourceDefinition";
        self.objs.map.insert(key.clone(), obj.clone());
        let kind = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(kind, key, obj.clone());
        if is_crd {
            self.refresh_resources();
        }
        obj
    }

    /// Mark for deletion (finalizers pending) or remove; then, unless `orphan`, what the
    /// garbage collector and the namespace controller remove with it.
    pub fn delete(&mut self, key: &Key, orphan: bool) -> Option<Value> {
        let obj = self.objs.map.get(key)?.clone();
        // A namespace turns Terminating; the namespace controller empties and removes it soon
        // after (`Store::reap`), so objects in it can still be deleted meanwhile.
        if key.group.is_empty() && key.plural == "namespaces" && !orphan {
            if obj["metadata"].get("deletionTimestamp").is_some() {
                return Some(obj);
            }
            let mut marked = obj;
            marked["metadata"]["deletionTimestamp"] = json!(self.now);
            marked["status"] = json!({"phase": "Terminating"});
            self.objs.rv += 1;
            marked["metadata"]["resourceVersion"] = json!(self.objs.rv.to_string());
            self.objs.map.insert(key.clone(), marked.clone());
            self.record(EventType::Modified, key.clone(), marked.clone());
            self.objs.terminating.push((
                key.name.clone(),
                std::time::Instant::now() + NAMESPACE_TERMINATION,
            ));
            return Some(marked);
        }
        let has_finalizers = obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if obj["metadata"].get("deletionTimestamp").is_some() {
                return Some(obj);
            }
            let mut marked = obj;
            marked["metadata"]["deletionTimestamp"] = json!(self.now);
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            self.objs.rv += 1;
            marked["metadata"]["resourceVersion"] = json!(self.objs.rv.to_string());
            self.objs.map.insert(key.clone(), marked.clone());
            self.record(EventType::Modified, key.clone(), marked.clone());
            return Some(marked);
        }
        self.remove(key, !orphan)
    }

    fn remove(&mut self, key: &Key, cascade: bool) -> Option<Value> {
        let mut obj = self.objs.map.remove(key)?;
        self.objs.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.objs.rv.to_string());
        self.record(EventType::Deleted, key.clone(), obj.clone());
        if key.plural == "customresourcedefinitions" && key.group == "apiextensions.k8s.io" {
            self.refresh_resources();
        }
        if !cascade {
            return Some(obj);
        }
        // The namespace controller empties a deleted namespace.
        if key.group.is_empty() && key.plural == "namespaces" {
            let inside: Vec<Key> = self
                .objs
                .map
                .keys()
                .filter(|k| k.namespace == key.name)
                .cloned()
                .collect();
            for k in inside {
                self.remove(&k, true);
            }
        }
        // The garbage collector removes dependents whose owners are all gone.
        let uid = obj["metadata"]["uid"].clone();
        let live_uids: std::collections::HashSet<String> = self
            .objs
            .map
            .values()
            .filter_map(|v| v["metadata"]["uid"].as_str().map(str::to_owned))
            .collect();
        let orphans: Vec<Key> = self
            .objs
            .map
            .iter()
            .filter(|(_, v)| {
                let owners = v["metadata"]["ownerReferences"].as_array();
                owners.is_some_and(|o| {
                    o.iter().any(|r| r["uid"] == uid)
                        && o.iter()
                            .all(|r| r["uid"].as_str().is_none_or(|u| !live_uids.contains(u)))
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in orphans {
            self.remove(&k, true);
        }
        Some(obj)
    }

    fn refresh_resources(&mut self) {
        let crds: Vec<Value> = self
            .objs
            .map
            .iter()
            .filter(|(k, _)| {
                k.group == "apiextensions.k8s.io" && k.plural == "customresourcedefinitions"
            })
            .map(|(_, v)| v.clone())
            .collect();
        self.objs.resources = kinds::served(crds.iter());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(tx: &Tx, g: &str, p: &str) -> Resource {
        tx.resource(g, p).unwrap()
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600 + 3661), "2026-01-01T01:01:01Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn writes_stamp_metadata_and_a_no_op_is_no_write() {
        let store = Store::new();
        let rv0 = store.resource_version();
        let key = Key::new("", "configmaps", "default", "c");
        let first = store.tx(|tx| {
            let r = res(tx, "", "configmaps");
            tx.put(
                &r,
                key.clone(),
                json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
            )
        });
        assert_eq!(first["metadata"]["resourceVersion"], (rv0 + 1).to_string());
        assert!(first["metadata"]["uid"].is_string());
        assert_eq!(first["metadata"]["namespace"], "default");
        let again = store.tx(|tx| {
            let r = res(tx, "", "configmaps");
            tx.put(&r, key.clone(), first.clone())
        });
        assert_eq!(again, first);
        assert_eq!(
            store.resource_version(),
            rv0 + 1,
            "no-op update is no write"
        );
    }

    #[test]
    fn deleting_an_owner_collects_its_dependents_and_a_namespace_its_content() {
        let store = Store::new();
        store.tx(|tx| {
            let ns = res(tx, "", "namespaces");
            tx.put(&ns, Key::new("", "namespaces", "", "x"), json!({}));
            let svc = res(tx, "", "services");
            let s = tx.put(&svc, Key::new("", "services", "x", "v"), json!({"spec": {"ports": [{"port": 443}]}}));
            let sec = res(tx, "", "secrets");
            tx.put(&sec, Key::new("", "secrets", "x", "vc-v"), json!({"metadata": {"ownerReferences": [
                {"apiVersion": "v1", "kind": "Service", "name": "v", "uid": s["metadata"]["uid"]}]}}));
            tx.put(&sec, Key::new("", "secrets", "x", "other"), json!({}));
        });
        store.tx(|tx| tx.delete(&Key::new("", "services", "x", "v"), false));
        assert!(store.get(&Key::new("", "secrets", "x", "vc-v")).is_none());
        assert!(store.get(&Key::new("", "secrets", "x", "other")).is_some());
        store.tx(|tx| tx.delete(&Key::new("", "namespaces", "", "x"), false));
        let ns = store.get(&Key::new("", "namespaces", "", "x")).unwrap();
        assert_eq!(ns["status"]["phase"], "Terminating");
        assert!(
            store.get(&Key::new("", "secrets", "x", "other")).is_some(),
            "not yet"
        );
        std::thread::sleep(NAMESPACE_TERMINATION);
        store.reap();
        assert!(store.get(&Key::new("", "secrets", "x", "other")).is_none());
        assert!(store.get(&Key::new("", "namespaces", "", "x")).is_none());
    }

    #[test]
    fn finalizers_hold_a_deletion_until_removed() {
        let store = Store::new();
        let key = Key::new("", "configmaps", "default", "f");
        store.tx(|tx| {
            let r = res(tx, "", "configmaps");
            tx.put(
                &r,
                key.clone(),
                json!({"metadata": {"finalizers": ["x/y"]}}),
            );
        });
        let marked = store.tx(|tx| tx.delete(&key, false)).unwrap();
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        assert!(store.get(&key).is_some());
        store.tx(|tx| {
            let r = res(tx, "", "configmaps");
            let mut o = tx.get(&key).unwrap().clone();
            o["metadata"]["finalizers"] = json!([]);
            tx.put(&r, key.clone(), o);
        });
        assert!(store.get(&key).is_none());
    }

    #[test]
    fn an_established_crd_is_served() {
        let store = Store::new();
        store.tx(|tx| {
            let r = res(tx, "apiextensions.k8s.io", "customresourcedefinitions");
            tx.put(&r, Key::new("apiextensions.k8s.io", "customresourcedefinitions", "", "widgets.example.com"),
                json!({"spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                    "versions": [{"name": "v1", "served": true, "storage": true}]}}));
        });
        assert!(store
            .resources()
            .iter()
            .any(|r| r.kind == "Widget" && r.custom));
        store.tx(|tx| {
            tx.delete(
                &Key::new(
                    "apiextensions.k8s.io",
                    "customresourcedefinitions",
                    "",
                    "widgets.example.com",
                ),
                false,
            )
        });
        assert!(!store.resources().iter().any(|r| r.kind == "Widget"));
    }

    #[test]
    fn reactors_run_until_quiet_and_watches_miss_nothing() {
        let store = Store::new();
        store.add_reactor(Arc::new(|tx: &mut Tx| {
            let made = Key::new("", "configmaps", "default", "made");
            let source = Key::new("", "configmaps", "default", "source");
            if tx.get(&source).is_some() && tx.get(&made).is_none() {
                let r = tx.resource("", "configmaps").unwrap();
                tx.put(&r, made, json!({}));
            }
        }));
        let (_, rv, mut rx) = store.snapshot(|_, _| true);
        store.tx(|tx| {
            let r = tx.resource("", "configmaps").unwrap();
            tx.put(
                &r,
                Key::new("", "configmaps", "default", "source"),
                json!({}),
            );
        });
        assert_eq!(rx.try_recv().unwrap().key.name, "source");
        assert_eq!(rx.try_recv().unwrap().key.name, "made");
        let (replay, _) = store.since(rv);
        assert_eq!(replay.unwrap().len(), 2);
    }
}
