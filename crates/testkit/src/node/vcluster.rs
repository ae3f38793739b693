//! The vclusters the applied objects describe, as pure functions: which run, which names their
//! serving certificate holds, what kubeconfig Secret they write, and which one a Service sends
//! traffic to. Every fact comes from what helm applied (the StatefulSet, the chart's config
//! Secret `vc-config-<release>` holding the rendered vcluster config, the Service), following
//! loft-sh/vcluster at tags v0.26.0 and v0.36.1.

use crate::kube::Key;
use base64::Engine;
use serde_json::{json, Value};

/// One vcluster as the host cluster's objects describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub namespace: String,
    /// The release name: the StatefulSet's and the Service's name.
    pub name: String,
    /// The chart's version (`chart: vcluster-<version>` label), e.g. `0.26.0`.
    pub version: String,
    /// The rendered vcluster config (`config.yaml` of `vc-config-<name>`).
    pub config: Value,
    /// The pod template revision running (a new one restarts the vcluster).
    pub revision: String,
    /// StatefulSet status says its pod is ready.
    pub ready: bool,
}

fn decode_b64(v: &Value) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v.as_str()?)
        .ok()?;
    String::from_utf8(raw).ok()
}

/// The vclusters among `objects`: StatefulSets labelled `app: vcluster` (the chart's
/// templates/statefulset.yaml) whose config Secret exists.
pub fn instances(objects: &[(Key, Value)]) -> Vec<Instance> {
    objects
        .iter()
        .filter(|(k, v)| {
            k.group == "apps"
                && k.plural == "statefulsets"
                && v["metadata"]["labels"]["app"] == "vcluster"
        })
        .filter_map(|(k, sts)| {
            let config_key = Key::new(
                "",
                "secrets",
                &k.namespace,
                &format!("vc-config-{}", k.name),
            );
            let secret = objects.iter().find(|(ck, _)| *ck == config_key)?;
            let text = decode_b64(&secret.1["data"]["config.yaml"])?;
            let config: Value = serde_saphyr::from_str(&text).ok()?;
            let version = sts["metadata"]["labels"]["chart"]
                .as_str()
                .and_then(|c| c.strip_prefix("vcluster-"))
                .unwrap_or("")
                .to_owned();
            Some(Instance {
                namespace: k.namespace.clone(),
                name: k.name.clone(),
                version,
                config,
                revision: sts["status"]["updateRevision"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                ready: sts["status"]["readyReplicas"].as_i64().unwrap_or(0) >= 1,
            })
        })
        .collect()
}

pub fn service<'a>(objects: &'a [(Key, Value)], namespace: &str, name: &str) -> Option<&'a Value> {
    let key = Key::new("", "services", namespace, name);
    objects.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or("")
}

/// The port the vcluster's proxy serves on (`controlPlane.proxy.port`, 8443 by default).
pub fn proxy_port(i: &Instance) -> u16 {
    i.config
        .pointer("/controlPlane/proxy/port")
        .and_then(Value::as_u64)
        .map(|p| p as u16)
        .unwrap_or(8443)
}

/// Why this vcluster cannot serve (None: it can), as its syncer would fail to start.
pub fn cannot_start(i: &Instance, svc: Option<&Value>) -> Option<String> {
    if i.config.pointer("/privateNodes/enabled") == Some(&json!(true)) {
        return Some("privateNodes mode needs objects inside the virtual cluster; the double does not play it".into());
    }
    if i.config.pointer("/controlPlane/standalone/enabled") == Some(&json!(true)) {
        return None;
    }
    let svc = match svc {
        Some(s) => s,
        None => {
            return Some(format!(
                "error getting vcluster service {}/{}",
                i.namespace, i.name
            ))
        }
    };
    if str_at(svc, "/spec/clusterIP").is_empty() {
        return Some(format!(
            "target service {}/{} is missing a clusterIP",
            i.namespace, i.name
        ));
    }
    None
}

/// The names of the vcluster's API serving certificate (CN kube-apiserver): IP addresses
/// first, then DNS names, as GenAPIServerServingCerts builds them.
///
/// loft-sh/vcluster v0.26.0 and v0.36.1 `pkg/server/cert/cert.go`: the fixed names
/// `kubernetes.default.svc.<clusterDomain>`, `kubernetes.default.svc`, `kubernetes.default`,
/// `kubernetes`, `localhost` and `127.0.0.1`; then, sorted and de-duplicated
/// (case-insensitively), `controlPlane.ingress.host` (whether or not the ingress is enabled:
/// the chart's default `my-host.com` is in every certificate), `controlPlane.proxy.extraSANs`,
/// the host of `controlPlane.endpoint`, and unless standalone: `<name>`, `<name>.<namespace>`,
/// `*.nodes.vcluster.com`, `*.<name>.<namespace>.nodes.vcluster.com`, the Service's clusterIP
/// and load-balancer ingress, and the pod IP. No `<name>.<namespace>.svc`: that comes only from
/// extraSANs (bootstrap adds it there).
pub fn serving_names(i: &Instance, svc: Option<&Value>, pod_ip: &str) -> Vec<String> {
    let c = &i.config;
    let mut sans: Vec<String> = Vec::new();
    let host = str_at(c, "/controlPlane/ingress/host");
    if !host.is_empty() {
        sans.push(host.into());
    }
    sans.extend(
        c.pointer("/controlPlane/proxy/extraSANs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned)),
    );
    let endpoint = str_at(c, "/controlPlane/endpoint");
    if let Some((h, _)) = endpoint.rsplit_once(':') {
        if !h.is_empty() {
            sans.push(h.trim_matches(['[', ']']).into());
        }
    }
    let standalone = c.pointer("/controlPlane/standalone/enabled") == Some(&json!(true));
    if !standalone {
        let (n, ns) = (&i.name, &i.namespace);
        sans.extend([
            n.clone(),
            format!("{n}.{ns}"),
            "*.nodes.vcluster.com".into(),
        ]);
        if let Some(svc) = svc {
            sans.push(str_at(svc, "/spec/clusterIP").into());
            for ing in svc["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
            {
                for k in ["ip", "hostname"] {
                    if let Some(v) = ing[k].as_str().filter(|v| !v.is_empty()) {
                        sans.push(v.into());
                    }
                }
            }
        }
        if !pod_ip.is_empty() {
            sans.push(pod_ip.into());
        }
        // v0.26.0 adds these with the (same) load-balancer Service, v0.36.1 always.
        sans.extend([
            n.clone(),
            format!("{n}.{ns}"),
            format!("*.{n}.{ns}.nodes.vcluster.com"),
        ]);
    }
    sans.retain(|s| !s.is_empty());
    sans.sort();
    let mut seen = std::collections::HashSet::new();
    sans.retain(|s| seen.insert(s.to_lowercase()));
    let domain = match str_at(c, "/networking/advanced/clusterDomain") {
        "" => "cluster.local",
        d => d,
    };
    let mut dns: Vec<String> = vec![
        format!("kubernetes.default.svc.{domain}"),
        "kubernetes.default.svc".into(),
        "kubernetes.default".into(),
        "kubernetes".into(),
        "localhost".into(),
    ];
    let mut ips: Vec<String> = vec!["127.0.0.1".into()];
    for s in sans {
        if s.parse::<std::net::IpAddr>().is_ok() {
            ips.push(s);
        } else {
            dns.push(s);
        }
    }
    ips.extend(dns);
    ips
}

/// The Kubernetes version the vcluster reports: its distro's image tag.
pub fn kubernetes_version(i: &Instance) -> String {
    let tag = str_at(&i.config, "/controlPlane/distro/k8s/image/tag");
    let version = str_at(&i.config, "/controlPlane/distro/k8s/version");
    match (tag, version) {
        (t, _) if !t.is_empty() => t.into(),
        (_, v) if !v.is_empty() => v.into(),
        _ => "v1.33.0".into(),
    }
}

/// The `vc-<name>` Secret the vcluster writes (loft-sh/vcluster v0.26.0
/// `pkg/util/kubeconfig/kubeconfig.go` WriteKubeConfig, `pkg/setup/controllers.go`):
/// keys `config`, `certificate-authority`, `client-certificate`, `client-key`, `token` (empty
/// without a service account), labels `app: vcluster` and `vcluster-name`, owned by the
/// vcluster's Service (`experimental.syncSettings.setOwner`, default true) so it goes with it.
/// `config` is the admin kubeconfig (kubeadm's super-admin: context
/// `kubernetes-super-admin@kubernetes`, pkg/kubeadm/config.go ClusterName "kubernetes") with
/// the server `https://localhost:<proxy port>`, or `exportKubeConfig.server` when set, and the
/// context renamed to `exportKubeConfig.context` when set.
pub fn kubeconfig_secret(
    i: &Instance,
    svc: Option<&Value>,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Value {
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let export = &i.config["exportKubeConfig"];
    let server = match str_at(export, "/server") {
        "" => format!("https://localhost:{}", proxy_port(i)),
        s => s.to_owned(),
    };
    let (cluster, user, context) = match str_at(export, "/context") {
        "" => (
            "kubernetes",
            "kubernetes-super-admin",
            "kubernetes-super-admin@kubernetes",
        ),
        c => (c, c, c),
    };
    let insecure = export["insecure"] == true;
    let cluster_body = if insecure {
        format!("    insecure-skip-tls-verify: true\n    server: {server}\n")
    } else {
        format!(
            "    certificate-authority-data: {}\n    server: {server}\n",
            b(ca_pem)
        )
    };
    let config = format!(
        "apiVersion: v1\nclusters:\n- cluster:\n{cluster_body}  name: {cluster}\ncontexts:\n- context:\n    cluster: {cluster}\n    user: {user}\n  name: {context}\ncurrent-context: {context}\nkind: Config\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b(cert_pem),
        b(key_pem)
    );
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": format!("vc-{}", i.name), "namespace": i.namespace,
            "labels": {"app": "vcluster", "vcluster-name": i.name}},
        "data": {"config": b(&config), "certificate-authority": b(ca_pem), "client-certificate": b(cert_pem),
            "client-key": b(key_pem), "token": ""}});
    let set_owner = i.config.pointer("/experimental/syncSettings/setOwner") != Some(&json!(false));
    if let (true, Some(svc)) = (set_owner, svc) {
        secret["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Service",
            "name": svc["metadata"]["name"], "uid": svc["metadata"]["uid"]}]);
    }
    secret
}

/// The vcluster a connection to Service `service`:`port` in `namespace` reaches: the Service
/// must select the vcluster's pods (`app: vcluster`, `release: <name>`) and send the port to
/// the proxy's port.
pub fn behind<'a>(
    objects: &[(Key, Value)],
    instances: &'a [Instance],
    namespace: &str,
    service: &str,
    port: &PortRef,
) -> Option<&'a Instance> {
    let svc = self::service(objects, namespace, service)?;
    let selector = svc["spec"]["selector"].as_object()?;
    let target = svc["spec"]["ports"]
        .as_array()?
        .iter()
        .find(|p| match port {
            PortRef::Number(n) => p["port"].as_u64() == Some(*n as u64),
            PortRef::Name(name) => p["name"].as_str() == Some(name.as_str()),
        })
        .map(|p| p["targetPort"].clone())?;
    instances.iter().find(|i| {
        i.namespace == namespace
            && i.ready
            && selector.get("app").and_then(Value::as_str) == Some("vcluster")
            && selector.get("release").and_then(Value::as_str) == Some(i.name.as_str())
            && target.as_u64() == Some(proxy_port(i) as u64)
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(config: Value) -> Instance {
        Instance {
            namespace: "dev-vcluster".into(),
            name: "vcluster-dev-helm".into(),
            version: "0.26.0".into(),
            config,
            revision: "r1".into(),
            ready: true,
        }
    }

    fn svc() -> Value {
        json!({"metadata": {"name": "vcluster-dev-helm", "uid": "u1"},
            "spec": {"clusterIP": "10.96.0.7", "selector": {"app": "vcluster", "release": "vcluster-dev-helm"},
                "ports": [{"name": "https", "port": 443, "targetPort": 8443}]}})
    }

    #[test]
    fn the_certificate_holds_what_cert_go_puts_in_it() {
        let i = instance(json!({"controlPlane": {"ingress": {"host": "my-host.com"},
            "proxy": {"extraSANs": ["dev-vcluster.cnoe.localtest.me", "vcluster-dev-helm.dev-vcluster.svc"], "port": 8443}},
            "networking": {"advanced": {"clusterDomain": "cluster.local"}}}));
        let names = serving_names(&i, Some(&svc()), "10.244.0.5");
        assert_eq!(&names[..3], ["127.0.0.1", "10.244.0.5", "10.96.0.7"]);
        for n in [
            "kubernetes.default.svc.cluster.local",
            "localhost",
            "my-host.com",
            "dev-vcluster.cnoe.localtest.me",
            "vcluster-dev-helm",
            "vcluster-dev-helm.dev-vcluster",
            "vcluster-dev-helm.dev-vcluster.svc",
            "*.nodes.vcluster.com",
            "*.vcluster-dev-helm.dev-vcluster.nodes.vcluster.com",
        ] {
            assert!(names.contains(&n.to_owned()), "{n} missing from {names:?}");
        }
        assert_eq!(
            names.iter().filter(|n| *n == "vcluster-dev-helm").count(),
            1,
            "de-duplicated"
        );
        let without = instance(json!({"controlPlane": {"proxy": {"extraSANs": []}}}));
        let names = serving_names(&without, Some(&svc()), "");
        assert!(
            !names
                .iter()
                .any(|n| n.contains("localtest.me") || n == "vcluster-dev-helm.dev-vcluster.svc"),
            "{names:?}"
        );
    }

    #[test]
    fn a_vcluster_starts_only_with_its_service_and_writes_the_real_keys() {
        let i = instance(
            json!({"exportKubeConfig": {"server": "https://vcluster-dev-helm.dev-vcluster.svc:443", "context": ""}}),
        );
        assert!(cannot_start(&i, None)
            .unwrap()
            .contains("error getting vcluster service"));
        assert!(cannot_start(&i, Some(&svc())).is_none());
        let s = kubeconfig_secret(&i, Some(&svc()), "CA", "CERT", "KEY");
        // Sorted: the workspace builds serde_json with preserve_order.
        let mut keys: Vec<&str> = s["data"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "certificate-authority",
                "client-certificate",
                "client-key",
                "config",
                "token"
            ]
        );
        let config = decode_b64(&s["data"]["config"]).unwrap();
        assert!(
            config.contains("server: https://vcluster-dev-helm.dev-vcluster.svc:443"),
            "{config}"
        );
        assert!(
            config.contains("current-context: kubernetes-super-admin@kubernetes"),
            "{config}"
        );
        assert_eq!(s["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(
            s["metadata"]["labels"]["vcluster-name"],
            "vcluster-dev-helm"
        );
        let default_server = kubeconfig_secret(&instance(json!({})), None, "CA", "C", "K");
        assert!(decode_b64(&default_server["data"]["config"])
            .unwrap()
            .contains("server: https://localhost:8443"));
    }

    #[test]
    fn a_service_reaches_the_vcluster_it_selects_on_its_proxy_port() {
        let objects = vec![(
            Key::new("", "services", "dev-vcluster", "vcluster-dev-helm"),
            svc(),
        )];
        let all = vec![instance(json!({}))];
        assert!(behind(
            &objects,
            &all,
            "dev-vcluster",
            "vcluster-dev-helm",
            &PortRef::Number(443)
        )
        .is_some());
        assert!(behind(
            &objects,
            &all,
            "dev-vcluster",
            "vcluster-dev-helm",
            &PortRef::Number(80)
        )
        .is_none());
        let moved = vec![instance(json!({"controlPlane": {"proxy": {"port": 9443}}}))];
        assert!(
            behind(
                &objects,
                &moved,
                "dev-vcluster",
                "vcluster-dev-helm",
                &PortRef::Number(443)
            )
            .is_none(),
            "targetPort 8443 reaches nothing"
        );
        let mut not_ready = all.clone();
        not_ready[0].ready = false;
        assert!(behind(
            &objects,
            &not_ready,
            "dev-vcluster",
            "vcluster-dev-helm",
            &PortRef::Number(443)
        )
        .is_none());
    }
}
