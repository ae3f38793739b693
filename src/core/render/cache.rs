//! Pull-through caches, as the documents and decisions around them: one registry container in
//! proxy mode per upstream registry (distribution's `proxy.remoteurl`, the `registry:3` image
//! kind's guide runs), each with its storage in a named volume, and the `hosts.toml` every node's
//! containerd reads for that upstream.
//!
//! containerd's registry host configuration (containerd docs/hosts.md): the file for images named
//! `docker.io/...` is `/etc/containerd/certs.d/docker.io/hosts.toml`; `server` is the upstream
//! itself, and each `[host."..."]` is tried first, in order, with the operations it may serve
//! (`capabilities`). A cache only serves `pull` and `resolve`; when it does not answer,
//! containerd falls back to `server`. No `mirrors` in kind's containerd patch: containerd reads
//! host files only through `config_path`, and the two cannot be mixed.
//!
//! The caches are not any environment's: several environments on one machine share them, and
//! they outlive every cluster (that is what they are for). They carry a mark of their own
//! (`dev.bootstrap.cache=<upstream>`); `down` leaves them and says so, and only
//! `bootstrap cache prune` removes them, and only what carries that mark. The host files on the
//! nodes belong to the environment that wrote them, as the local registry's do.

use super::registry::CERTS_DIR;
use crate::core::config::{Cache, Upstream};
use serde::Serialize;
use std::collections::BTreeMap;

/// The mark of a cache container and of its volume: the upstream host it proxies.
pub const CACHE_LABEL: &str = "dev.bootstrap.cache";
/// The upstream URL the container was made for.
pub const REMOTE_LABEL: &str = "dev.bootstrap.cache.remote";
/// A digest of the credentials it was given (never the credentials), or `none`.
pub const CREDENTIALS_LABEL: &str = "dev.bootstrap.cache.credentials";
/// The registry's API port in the container (distribution's default).
pub const CONTAINER_PORT: u16 = 5000;
/// distribution's debug server (`http.debug.addr`), which serves its counters at /debug/vars.
pub const DEBUG_PORT: u16 = 5001;
/// Where the registry image keeps its storage (`storage.filesystem.rootdirectory`).
pub const STORAGE: &str = "/var/lib/registry";

/// `docker.io` -> `bootstrap-cache-docker-io`: the container's name (and its DNS name on kind's
/// network) and its volume's.
pub fn container_name(host: &str) -> String {
    let slug: String = host
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    format!("bootstrap-cache-{}", slug.trim_matches('-'))
}

pub fn hosts_dir(host: &str) -> String {
    format!("{CERTS_DIR}/{host}")
}

/// The host file for one upstream: our mark (a TOML comment containerd ignores), the upstream as
/// `server`, then the cache, for pulls and tag resolution, over kind's network.
pub fn hosts_toml(u: &Upstream, owner: &str) -> String {
    format!(
        "{}\nserver = \"{}\"\n\n[host.\"http://{}:{CONTAINER_PORT}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
        super::registry::hosts_mark(owner),
        u.remote,
        container_name(&u.host)
    )
}

/// A user name and password for one upstream, as `docker login` keeps them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    /// What the container's label records: enough to see that they changed, nothing to reuse.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let sum = sha2::Sha256::digest(format!("{}:{}", self.username, self.password));
        sum.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// The keys `docker login` files an upstream's credentials under in `auths`. Docker Hub's are
/// under its v1 index URL (`docker login` with no server).
fn auth_keys(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_owned(),
        format!("https://{host}"),
        format!("http://{host}"),
    ];
    if host == "docker.io" {
        keys.splice(
            0..0,
            [
                "https://index.docker.io/v1/".to_owned(),
                "index.docker.io".to_owned(),
                "registry-1.docker.io".to_owned(),
            ],
        );
    }
    keys
}

/// Pure: each upstream's credentials from a Docker config file's text (`auths.<key>.auth`, the
/// base64 of `user:password`, or `username` and `password`). An upstream whose credentials sit
/// in a credential helper (`credsStore`, `credHelpers`) gets none, and is named in the second
/// list so the user can be told.
pub fn credentials_from_docker_config(
    text: &str,
    upstreams: &[Upstream],
) -> Result<(BTreeMap<String, Credentials>, Vec<String>), String> {
    use base64::Engine;
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a Docker config file (JSON): {e}"))?;
    let mut found = BTreeMap::new();
    let mut in_helpers = Vec::new();
    for u in upstreams {
        let entry = auth_keys(&u.host)
            .into_iter()
            .find_map(|k| doc["auths"].get(&k).filter(|e| !e.is_null()));
        let creds = entry.and_then(|e| {
            if let Some(auth) = e["auth"].as_str().filter(|a| !a.is_empty()) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .ok()?;
                let text = String::from_utf8(raw).ok()?;
                let (user, pass) = text.split_once(':')?;
                Some(Credentials {
                    username: user.to_owned(),
                    password: pass.to_owned(),
                })
            } else {
                Some(Credentials {
                    username: e["username"].as_str()?.to_owned(),
                    password: e["password"].as_str()?.to_owned(),
                })
            }
        });
        match creds {
            Some(c) => {
                found.insert(u.host.clone(), c);
            }
            None => {
                let helper = doc["credHelpers"]
                    .get(&u.host)
                    .or_else(|| doc.get("credsStore"))
                    .and_then(|h| h.as_str());
                if helper.is_some() && entry.is_some() {
                    in_helpers.push(u.host.clone());
                }
            }
        }
    }
    Ok((found, in_helpers))
}

/// The cache container's environment: distribution reads `REGISTRY_<SECTION>_<KEY>` over its
/// config file. `proxy.ttl: 0` keeps what was pulled until pruned (registry 3; 2.8 ignores the
/// key with a warning and keeps content 7 days); the debug server serves the hit counters.
pub fn container_env(u: &Upstream, creds: Option<&Credentials>) -> Vec<String> {
    let mut env = vec![
        format!("REGISTRY_PROXY_REMOTEURL={}", u.remote),
        "REGISTRY_PROXY_TTL=0".to_owned(),
        format!("REGISTRY_HTTP_DEBUG_ADDR=:{DEBUG_PORT}"),
    ];
    if let Some(c) = creds {
        env.push(format!("REGISTRY_PROXY_USERNAME={}", c.username));
        env.push(format!("REGISTRY_PROXY_PASSWORD={}", c.password));
    }
    env
}

/// What Docker shows of one cache container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeenCache {
    pub name: String,
    pub id: String,
    pub running: bool,
    pub image: String,
    /// Our mark's value (the upstream host); None: a container of that name that is not ours.
    pub upstream: Option<String>,
    pub remote: Option<String>,
    pub credentials: Option<String>,
    pub networks: Vec<String>,
}

/// One node and the host file its containerd would read for each upstream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeenNode {
    pub name: String,
    pub id: String,
    pub running: bool,
    /// Upstream host -> the text of its hosts.toml on this node.
    pub hosts: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    /// By upstream host: the container named for it, when one exists.
    pub containers: BTreeMap<String, SeenCache>,
    pub kind_network: bool,
    pub nodes: Vec<SeenNode>,
}

/// What `up` does about the caches, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create the volume when missing, then create and start the container on kind's network.
    Create {
        host: String,
    },
    /// Ours, made for another remote, image or credentials: remove the container, keep the
    /// volume (what was pulled stays), create it again.
    Replace {
        host: String,
        why: String,
    },
    Start {
        host: String,
    },
    Connect {
        host: String,
    },
    WriteHosts {
        node: String,
        host: String,
    },
}

impl Action {
    pub fn describe(&self, cache: &Cache) -> String {
        let image = &cache.image;
        match self {
            Action::Create { host } => format!(
                "create pull-through cache {} for {host} ({image}, volume {})",
                container_name(host),
                container_name(host)
            ),
            Action::Replace { host, why } => format!(
                "replace pull-through cache {} for {host} ({why}; its volume is kept)",
                container_name(host)
            ),
            Action::Start { host } => format!("start pull-through cache {}", container_name(host)),
            Action::Connect { host } => format!(
                "connect pull-through cache {} to network kind",
                container_name(host)
            ),
            Action::WriteHosts { node, host } => {
                format!("write {}/hosts.toml on node {node}", hosts_dir(host))
            }
        }
    }
}

/// Pure: what `up` must do for the caches, or why it will not. `credentials` holds each
/// upstream's, when the user has some.
pub fn diff(
    cache: &Cache,
    owner: &str,
    credentials: &BTreeMap<String, Credentials>,
    seen: &Seen,
) -> Result<Vec<Action>, String> {
    let mut out = Vec::new();
    if !cache.enabled {
        return Ok(out);
    }
    for u in &cache.upstreams {
        let host = u.host.clone();
        let want_creds = credentials
            .get(&u.host)
            .map_or_else(|| "none".to_owned(), Credentials::digest);
        match seen.containers.get(&u.host) {
            None => out.push(Action::Create { host: host.clone() }),
            Some(c) if c.upstream.as_deref() != Some(u.host.as_str()) => {
                return Err(format!(
                    "a container named `{}` exists that is not bootstrap's cache for {}\n  hint: remove or rename it; bootstrap names its cache containers bootstrap-cache-<upstream>",
                    c.name, u.host
                ))
            }
            Some(c) => {
                let mut why = Vec::new();
                if c.remote.as_deref() != Some(u.remote.as_str()) {
                    why.push(format!(
                        "it proxies {}, the file says {}",
                        c.remote.as_deref().unwrap_or("nothing"),
                        u.remote
                    ));
                }
                if c.image != cache.image {
                    why.push(format!("image {}, the file says {}", c.image, cache.image));
                }
                if c.credentials.as_deref() != Some(want_creds.as_str()) {
                    why.push("the credentials for it changed".to_owned());
                }
                if !why.is_empty() {
                    out.push(Action::Replace {
                        host: host.clone(),
                        why: why.join("; "),
                    });
                } else {
                    if !c.running {
                        out.push(Action::Start { host: host.clone() });
                    }
                    if seen.kind_network && !c.networks.iter().any(|n| n == "kind") {
                        out.push(Action::Connect { host: host.clone() });
                    }
                }
            }
        }
    }
    for n in seen.nodes.iter().filter(|n| n.running) {
        for u in &cache.upstreams {
            let want = hosts_toml(u, owner);
            if n.hosts.get(&u.host).and_then(|t| t.as_deref()) != Some(want.as_str()) {
                out.push(Action::WriteHosts {
                    node: n.name.clone(),
                    host: u.host.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// What `down` removes: only host files on the nodes that carry this environment's mark. The
/// caches themselves stay: other environments use them, and the next cluster needs them.
pub fn removals(owner: &str, seen: &Seen) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in seen.nodes.iter().filter(|n| n.running) {
        for (host, text) in &n.hosts {
            if super::registry::carries_mark(text.as_deref(), owner) {
                out.push((n.name.clone(), host.clone()));
            }
        }
    }
    out
}

/// One upstream's cache as `bootstrap cache status` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub upstream: String,
    pub container: String,
    pub state: String,
    /// The volume's size in bytes, as Docker counts it; None when Docker did not say.
    pub bytes: Option<i64>,
    /// distribution's proxy counters since the container started: (requests, hits) for blobs
    /// and for manifests; None when they could not be read from here.
    pub blobs: Option<Counters>,
    pub manifests: Option<Counters>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
    pub bytes_pulled: u64,
}

/// Pure: distribution's `/debug/vars` (expvar): `registry.proxy.blobs` and `.manifests`.
pub fn counters_from_expvar(text: &str) -> Option<(Counters, Counters)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let proxy = &v["registry"]["proxy"];
    let read = |k: &str| Counters {
        requests: proxy[k]["Requests"].as_u64().unwrap_or(0),
        hits: proxy[k]["Hits"].as_u64().unwrap_or(0),
        misses: proxy[k]["Misses"].as_u64().unwrap_or(0),
        bytes_pulled: proxy[k]["BytesPulled"].as_u64().unwrap_or(0),
    };
    if proxy.is_null() {
        return Some((Counters::default(), Counters::default()));
    }
    Some((read("blobs"), read("manifests")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;

    fn cache(text: &str) -> Cache {
        let l = load_str(text, "t.yaml", &[]);
        assert!(l.diags.errors().count() == 0, "{:?}", l.diags.items);
        l.env.unwrap().cache
    }

    #[test]
    fn defaults_are_the_four_registries_the_stack_pulls_from() {
        let c = cache("cache: {}\n");
        assert!(c.enabled);
        assert_eq!(c.image, "registry:3");
        let hosts: Vec<&str> = c.upstreams.iter().map(|u| u.host.as_str()).collect();
        assert_eq!(
            hosts,
            ["docker.io", "ghcr.io", "registry.k8s.io", "quay.io"]
        );
        assert_eq!(c.upstreams[0].remote, "https://registry-1.docker.io");
        assert_eq!(c.upstreams[1].remote, "https://ghcr.io");
        assert!(!cache("cluster: {name: x}\n").enabled);
        assert!(!cache("cache: {enabled: false}\n").enabled);
        let own = cache("cache:\n  upstreams:\n    - docker.io\n    - {host: 'reg.local:5000', remote: 'http://reg.local:5000'}\n");
        assert_eq!(own.upstreams[1].host, "reg.local:5000");
        assert_eq!(own.upstreams[1].remote, "http://reg.local:5000");
    }

    #[test]
    fn names_and_the_host_file_follow_containerds_layout() {
        assert_eq!(container_name("docker.io"), "bootstrap-cache-docker-io");
        assert_eq!(
            container_name("Reg.Example.com:5000"),
            "bootstrap-cache-reg-example-com-5000"
        );
        assert_eq!(
            hosts_dir("registry.k8s.io"),
            "/etc/containerd/certs.d/registry.k8s.io"
        );
        assert_eq!(
            hosts_toml(&Upstream::known("docker.io"), "env/dev"),
            "# written by bootstrap for env/dev\nserver = \"https://registry-1.docker.io\"\n\n[host.\"http://bootstrap-cache-docker-io:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
        let env = container_env(&Upstream::known("quay.io"), None);
        assert_eq!(env[0], "REGISTRY_PROXY_REMOTEURL=https://quay.io");
        assert!(env.iter().all(|e| !e.contains("USERNAME")));
    }

    #[test]
    fn credentials_are_read_as_docker_login_files_them() {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode("me:s3cret");
        let text = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}}, "ghcr.io": {{"username": "bot", "password": "tok"}}, "quay.io": {{}}}}, "credsStore": "desktop"}}"#
        );
        let ups: Vec<Upstream> = ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io"]
            .iter()
            .map(|h| Upstream::known(h))
            .collect();
        let (found, helpers) = credentials_from_docker_config(&text, &ups).unwrap();
        assert_eq!(found["docker.io"].username, "me");
        assert_eq!(found["docker.io"].password, "s3cret");
        assert_eq!(found["ghcr.io"].password, "tok");
        assert!(!found.contains_key("registry.k8s.io"));
        // `docker login quay.io` with a credential store leaves an empty entry under auths.
        assert_eq!(helpers, ["quay.io"]);
        assert!(!format!("{:?}", found["docker.io"]).contains("s3cret"));
        assert_eq!(found["docker.io"].digest().len(), 16);
        assert!(credentials_from_docker_config("{", &ups).is_err());
    }

    fn seen_ours(c: &Cache, creds: &str) -> Seen {
        let mut s = Seen {
            kind_network: true,
            ..Default::default()
        };
        for u in &c.upstreams {
            s.containers.insert(
                u.host.clone(),
                SeenCache {
                    name: container_name(&u.host),
                    id: container_name(&u.host),
                    running: true,
                    image: c.image.clone(),
                    upstream: Some(u.host.clone()),
                    remote: Some(u.remote.clone()),
                    credentials: Some(creds.into()),
                    networks: vec!["kind".into()],
                },
            );
        }
        s.nodes.push(SeenNode {
            name: "dev-control-plane".into(),
            id: "n1".into(),
            running: true,
            hosts: c
                .upstreams
                .iter()
                .map(|u| (u.host.clone(), Some(hosts_toml(u, "env/dev"))))
                .collect(),
        });
        s
    }

    #[test]
    fn up_makes_what_is_missing_and_nothing_when_converged() {
        let c = cache("cache: {upstreams: [docker.io, ghcr.io]}\n");
        let none = BTreeMap::new();
        let converged = seen_ours(&c, "none");
        assert_eq!(diff(&c, "env/dev", &none, &converged), Ok(vec![]));
        let mut fresh = Seen {
            kind_network: true,
            ..Default::default()
        };
        fresh.nodes.push(SeenNode {
            name: "dev-control-plane".into(),
            running: true,
            ..Default::default()
        });
        let plan = diff(&c, "env/dev", &none, &fresh).unwrap();
        assert_eq!(
            plan,
            vec![
                Action::Create {
                    host: "docker.io".into()
                },
                Action::Create {
                    host: "ghcr.io".into()
                },
                Action::WriteHosts {
                    node: "dev-control-plane".into(),
                    host: "docker.io".into()
                },
                Action::WriteHosts {
                    node: "dev-control-plane".into(),
                    host: "ghcr.io".into()
                },
            ]
        );
        // Another environment's host file is rewritten with this one's mark only when it
        // differs; the cache itself is shared as it is.
        let other = {
            let mut s = seen_ours(&c, "none");
            s.nodes[0].hosts.insert(
                "ghcr.io".into(),
                Some(hosts_toml(&c.upstreams[1], "env/other")),
            );
            s
        };
        assert_eq!(
            diff(&c, "env/dev", &none, &other).unwrap(),
            vec![Action::WriteHosts {
                node: "dev-control-plane".into(),
                host: "ghcr.io".into()
            }]
        );
        let mut stopped = seen_ours(&c, "none");
        stopped.containers.get_mut("docker.io").unwrap().running = false;
        stopped
            .containers
            .get_mut("ghcr.io")
            .unwrap()
            .networks
            .clear();
        assert_eq!(
            diff(&c, "env/dev", &none, &stopped).unwrap(),
            vec![
                Action::Start {
                    host: "docker.io".into()
                },
                Action::Connect {
                    host: "ghcr.io".into()
                }
            ]
        );
    }

    #[test]
    fn new_credentials_or_remote_replace_the_container_and_keep_the_volume() {
        let c = cache("cache: {upstreams: [docker.io]}\n");
        let creds = BTreeMap::from([(
            "docker.io".to_owned(),
            Credentials {
                username: "me".into(),
                password: "p".into(),
            },
        )]);
        let plan = diff(&c, "env/dev", &creds, &seen_ours(&c, "none")).unwrap();
        assert!(matches!(&plan[..], [Action::Replace { why, .. }] if why.contains("credentials")));
        let digest = creds["docker.io"].digest();
        assert_eq!(
            diff(&c, "env/dev", &creds, &seen_ours(&c, &digest)),
            Ok(vec![])
        );
        let mut moved = seen_ours(&c, "none");
        moved.containers.get_mut("docker.io").unwrap().remote =
            Some("https://mirror.gcr.io".into());
        let plan = diff(&c, "env/dev", &BTreeMap::new(), &moved).unwrap();
        assert!(
            matches!(&plan[..], [Action::Replace { why, .. }] if why.contains("proxies https://mirror.gcr.io"))
        );
        assert!(plan[0].describe(&c).contains("its volume is kept"));
    }

    #[test]
    fn a_container_of_that_name_that_is_not_ours_is_never_used() {
        let c = cache("cache: {upstreams: [docker.io]}\n");
        let mut s = seen_ours(&c, "none");
        s.containers.get_mut("docker.io").unwrap().upstream = None;
        let e = diff(&c, "env/dev", &BTreeMap::new(), &s).unwrap_err();
        assert!(e.contains("not bootstrap's cache for docker.io"), "{e}");
    }

    #[test]
    fn down_removes_only_this_environments_host_files() {
        let c = cache("cache: {upstreams: [docker.io, ghcr.io]}\n");
        let mut s = seen_ours(&c, "none");
        s.nodes[0].hosts.insert(
            "ghcr.io".into(),
            Some(hosts_toml(&c.upstreams[1], "env/other")),
        );
        s.nodes[0].hosts.insert(
            "quay.io".into(),
            Some("server = \"https://quay.io\"\n".into()),
        );
        assert_eq!(
            removals("env/dev", &s),
            vec![("dev-control-plane".to_owned(), "docker.io".to_owned())]
        );
    }

    #[test]
    fn hit_counters_come_from_distributions_expvar() {
        let text = r#"{"cmdline": [], "registry": {"proxy": {"blobs": {"Requests": 9, "Hits": 6, "Misses": 3, "BytesPulled": 1234, "BytesPushed": 0}, "manifests": {"Requests": 4, "Hits": 1, "Misses": 3, "BytesPulled": 99}}}}"#;
        let (b, m) = counters_from_expvar(text).unwrap();
        assert_eq!(
            (b.requests, b.hits, b.misses, b.bytes_pulled),
            (9, 6, 3, 1234)
        );
        assert_eq!((m.requests, m.hits), (4, 1));
        assert_eq!(
            counters_from_expvar("{}"),
            Some((Counters::default(), Counters::default()))
        );
        assert_eq!(counters_from_expvar("nope"), None);
    }
}
