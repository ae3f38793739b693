//! The container images a release will run, read from its rendered manifest (what `helm
//! template` prints for the chart and values `up` installs), and where each is found: which
//! pull-through cache serves its registry, and the file in that cache's storage that exists once
//! the cache holds it.
//!
//! The list comes from the rendered objects, not from a list of our own: a chart upgrade (a new
//! `chart.version` in the file) renders new image tags, so the list follows the chart with
//! nothing to keep in step. Every pod template is read (Deployments, StatefulSets, DaemonSets,
//! Jobs, CronJobs, bare Pods, and any object embedding a pod spec): its `containers`,
//! `initContainers` and `ephemeralContainers`.

use crate::core::config::Cache;
use oci_client::Reference;
use serde_json::Value;

/// Every image the manifest's pod specs name, each once, in the order they first appear.
pub fn in_manifest(manifest: &str) -> Result<Vec<String>, String> {
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(manifest)
        .map_err(|e| format!("reading the rendered chart: {e}"))?;
    let mut out = Vec::new();
    for d in &docs {
        collect(d, &mut out);
    }
    Ok(out)
}

/// A pod spec is any object with a `containers` list: walked generically, so a workload kind we
/// never heard of (a CRD embedding a pod template) is read too.
fn collect(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.get("containers").is_some_and(Value::is_array) {
                for key in ["initContainers", "containers", "ephemeralContainers"] {
                    for c in m.get(key).and_then(Value::as_array).into_iter().flatten() {
                        if let Some(i) = c.get("image").and_then(Value::as_str) {
                            let i = i.trim();
                            if !i.is_empty() && !out.iter().any(|o| o == i) {
                                out.push(i.to_owned());
                            }
                        }
                    }
                }
            }
            for child in m.values() {
                collect(child, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect(c, out)),
        _ => {}
    }
}

/// An image reference as containerd resolves it (`nginx` is `docker.io/library/nginx:latest`),
/// or why it is not one.
pub fn parse(image: &str) -> Result<Reference, String> {
    Reference::try_from(image).map_err(|e| format!("`{image}` is not an image reference: {e}"))
}

/// Where an image comes from in `up`: through the cache for its registry, or straight from the
/// registry (no cache for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub image: String,
    /// The upstream host of the cache that serves it, when there is one.
    pub cache: Option<String>,
}

/// Each image with the cache that serves its registry. containerd picks the host file by the
/// registry part of the name (`/etc/containerd/certs.d/<registry>/hosts.toml`), so a cache
/// serves exactly the images whose registry is its `host`.
pub fn sources(images: &[String], cache: &Cache) -> Result<Vec<(Reference, Source)>, String> {
    let mut out = Vec::new();
    for i in images {
        let r = parse(i)?;
        let host = cache
            .upstreams
            .iter()
            .find(|u| u.host == r.registry())
            .map(|u| u.host.clone());
        out.push((
            r,
            Source {
                image: i.clone(),
                cache: host.filter(|_| cache.enabled),
            },
        ));
    }
    Ok(out)
}

/// The file distribution's storage driver writes once a manifest is stored under this tag, or
/// under this digest (`registry/storage/paths.go`: `manifestTagCurrentPathSpec`,
/// `manifestRevisionLinkPathSpec`), relative to the storage root. A pull by digest (a chart
/// that pins `@sha256:`) is looked up by digest, as containerd asks for it.
pub fn stored_link(r: &Reference) -> String {
    let base = format!(
        "docker/registry/v2/repositories/{}/_manifests",
        r.repository()
    );
    match (r.digest(), r.tag()) {
        (Some(d), _) => {
            let (alg, hex) = d.split_once(':').unwrap_or(("sha256", d));
            format!("{base}/revisions/{alg}/{hex}/link")
        }
        (None, t) => format!("{base}/tags/{}/current/link", t.unwrap_or("latest")),
    }
}

/// What stops `up --offline` for one image when the cluster is made anew (its nodes hold no
/// image yet): not behind a cache, or not in it. `held` says whether the cache holds it.
pub fn offline_problem(s: &Source, held: bool) -> Option<String> {
    match &s.cache {
        None => Some(format!(
            "image {} comes from {}, which has no pull-through cache: offline, the nodes cannot pull it\n    hint: add it to cache.upstreams and run `bootstrap up` once online",
            s.image,
            parse(&s.image).map(|r| r.registry().to_owned()).unwrap_or_default()
        )),
        Some(host) if !held => Some(format!(
            "image {} is not in the pull-through cache for {host}\n    hint: run `bootstrap up` once with network access (it fetches every image the charts run into the cache)",
            s.image
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::Upstream;

    const RENDERED: &str = "---\n# Source: c/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n      - name: init\n        image: busybox\n      containers:\n      - name: app\n        image: \"docker.io/traefik:v3.7.11\"\n---\n# Source: c/templates/cronjob.yaml\napiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: job\n            image: registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.5@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n          - name: again\n            image: busybox\n---\napiVersion: v1\nkind: ConfigMap\ndata:\n  image: not-a-pod-spec:1\n";

    #[test]
    fn every_pod_spec_is_read_each_image_once_and_nothing_else() {
        assert_eq!(
            in_manifest(RENDERED).unwrap(),
            [
                "busybox",
                "docker.io/traefik:v3.7.11",
                "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.5@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ]
        );
        assert!(in_manifest("").unwrap().is_empty());
        assert!(in_manifest("a: [").is_err());
    }

    #[test]
    fn names_are_resolved_as_containerd_resolves_them() {
        let r = parse("busybox").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("docker.io", "library/busybox", Some("latest"))
        );
        let r = parse("ghcr.io/loft-sh/vcluster-pro:0.26.0").unwrap();
        assert_eq!(
            (r.registry(), r.repository()),
            ("ghcr.io", "loft-sh/vcluster-pro")
        );
        assert!(parse("has space:1").is_err());
    }

    #[test]
    fn the_stored_link_is_distributions_path_by_tag_or_by_digest() {
        assert_eq!(
            stored_link(&parse("traefik:v3.7.11").unwrap()),
            "docker/registry/v2/repositories/library/traefik/_manifests/tags/v3.7.11/current/link"
        );
        assert_eq!(
            stored_link(&parse("registry.k8s.io/x/y:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap()),
            "docker/registry/v2/repositories/x/y/_manifests/revisions/sha256/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/link"
        );
    }

    fn cache(hosts: &[&str]) -> Cache {
        Cache {
            enabled: true,
            upstreams: hosts
                .iter()
                .map(|h| Upstream {
                    host: (*h).to_owned(),
                    remote: format!("https://{h}"),
                })
                .collect(),
            image: "registry:3".into(),
            credentials: None,
        }
    }

    #[test]
    fn an_image_is_served_by_the_cache_for_its_registry_only() {
        let imgs = vec!["traefik:v3".to_owned(), "quay.io/a/b:1".to_owned()];
        let s = sources(&imgs, &cache(&["docker.io", "ghcr.io"])).unwrap();
        assert_eq!(s[0].1.cache.as_deref(), Some("docker.io"));
        assert_eq!(s[1].1.cache, None);
        let off = Cache {
            enabled: false,
            ..cache(&["docker.io"])
        };
        assert_eq!(sources(&imgs, &off).unwrap()[0].1.cache, None);
    }

    #[test]
    fn offline_names_the_missing_image_and_what_to_do() {
        let cached = Source {
            image: "traefik:v3".into(),
            cache: Some("docker.io".into()),
        };
        assert_eq!(offline_problem(&cached, true), None);
        let e = offline_problem(&cached, false).unwrap();
        assert!(
            e.starts_with("image traefik:v3 is not in the pull-through cache for docker.io"),
            "{e}"
        );
        let e = offline_problem(
            &Source {
                image: "quay.io/a/b:1".into(),
                cache: None,
            },
            false,
        )
        .unwrap();
        assert!(
            e.contains("comes from quay.io, which has no pull-through cache"),
            "{e}"
        );
    }
}
