//! The sections that hold images near the cluster: the local `registry` and the pull-through
//! `cache`.

use super::*;

const REGISTRY: &[&str] = &[
    "enabled",
    "name",
    "port",
    "listenAddress",
    "image",
    "shared",
];
const CACHE: &[&str] = &["enabled", "image", "upstreams", "credentials"];
const UPSTREAM: &[&str] = &["host", "remote"];

impl Decoder<'_> {
    pub(super) fn registry(&mut self, n: Option<&Node>, cluster: &str) -> Registry {
        let f = self.fields(n, "registry", REGISTRY);
        Registry {
            // Writing a registry section means wanting one, unless it says `enabled: false`.
            enabled: self
                .boolean(f.get("enabled"), "registry.enabled")
                .unwrap_or(n.is_some_and(|n| matches!(n.value, Value::Map(_)))),
            name: self
                .string(f.get("name"), "registry.name")
                .unwrap_or_else(|| format!("{cluster}-registry")),
            port: self
                .port(f.get("port"), "registry.port")
                .unwrap_or(REGISTRY_PORT),
            listen_address: self
                .string(f.get("listenAddress"), "registry.listenAddress")
                .unwrap_or_else(|| "127.0.0.1".into()),
            image: self
                .string(f.get("image"), "registry.image")
                .unwrap_or_else(|| REGISTRY_IMAGE.into()),
            shared: self
                .boolean(f.get("shared"), "registry.shared")
                .unwrap_or(false),
        }
    }

    pub(super) fn cache(&mut self, n: Option<&Node>) -> Cache {
        let f = self.fields(n, "cache", CACHE);
        let mut upstreams = Vec::new();
        match f.get("upstreams") {
            None => upstreams.extend(DEFAULT_UPSTREAMS.iter().map(|h| Upstream::known(h))),
            Some(list) => {
                let mut index = Vec::new();
                for (i, item) in self.list(Some(list), "cache.upstreams").iter().enumerate() {
                    let p = format!("cache.upstreams[{i}]");
                    // `- docker.io`, or `- {host: registry.example.com, remote: https://...}`.
                    if let Value::Str(host) = &item.value {
                        self.note(&p, item);
                        upstreams.push(Upstream::known(host));
                        index.push(i);
                        continue;
                    }
                    let u = self.fields(Some(item), &p, UPSTREAM);
                    let Some(host) = self.string(u.get("host"), &format!("{p}.host")) else {
                        if u.get("host").is_none() {
                            self.reject(
                                &at(item),
                                &format!("{p}.host"),
                                "`host` is required",
                                Some("the registry name images carry, such as `docker.io` or `registry.example.com:5000`".into()),
                            );
                        }
                        continue;
                    };
                    let remote = self.string(u.get("remote"), &format!("{p}.remote"));
                    upstreams.push(match remote {
                        Some(remote) => Upstream { host, remote },
                        None => Upstream::known(&host),
                    });
                    index.push(i);
                }
                self.origins.items.insert("cache.upstreams".into(), index);
            }
        }
        Cache {
            // Writing a cache section means wanting one, unless it says `enabled: false`.
            enabled: self
                .boolean(f.get("enabled"), "cache.enabled")
                .unwrap_or(n.is_some_and(|n| matches!(n.value, Value::Map(_)))),
            image: self
                .string(f.get("image"), "cache.image")
                .unwrap_or_else(|| REGISTRY_IMAGE.into()),
            upstreams,
            credentials: self.string(f.get("credentials"), "cache.credentials"),
        }
    }
}
