//! How the router is reached on a cluster bootstrap did not create (`provider: existing`): its
//! Service (LoadBalancer by default, NodePort as an option), and, with
//! `router.domainFromAddress`, the domain derived from the load balancer's address the way
//! sslip.io and nip.io answer it (`dev-vcluster.203-0-113-10.sslip.io` resolves to
//! 203.0.113.10: sslip.io's README, "dashes" form; nip.io the same). Pure: the Services are read
//! by the shell.

use crate::core::config::{pending_address_domain, Env, Provider};
use serde_json::Value;

/// Whether the file's hostnames wait for the load balancer's address.
pub fn needs_address(env: &Env) -> bool {
    env.cluster.provider == Provider::Existing
        && env.router.domain_from_address.is_some()
        && !env.vclusters.is_empty()
}

/// What the router's load balancer has published so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Ip(std::net::Ipv4Addr),
    /// Some clouds (AWS ELB) publish a DNS name, not an address: nothing to derive from.
    Hostname(String),
    /// Not yet: the Service exists but its load balancer has no ingress.
    Pending,
    /// No LoadBalancer Service of the release.
    NoService,
    /// An IPv6 address: sslip.io's dashed IPv6 names are not DNS labels we can validate.
    Ipv6(String),
}

/// The load balancer address of `release`'s LoadBalancer Service among `services` (a list of
/// the router namespace's Services): helm marks every object it installs with the
/// `meta.helm.sh/release-name` annotation, which is how the Service is found whatever the chart
/// names it.
pub fn router_address(services: &[Value], release: &str) -> Address {
    let Some(svc) = services.iter().find(|s| {
        s["spec"]["type"] == "LoadBalancer"
            && s["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
    }) else {
        return Address::NoService;
    };
    let ingress = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for i in &ingress {
        if let Some(ip) = i["ip"].as_str() {
            return match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(v4)) => Address::Ip(v4),
                _ => Address::Ipv6(ip.to_owned()),
            };
        }
    }
    match ingress.iter().find_map(|i| i["hostname"].as_str()) {
        Some(h) => Address::Hostname(h.to_owned()),
        None => Address::Pending,
    }
}

/// `203.0.113.10` under `sslip.io`: `203-0-113-10.sslip.io`.
pub fn address_domain(ip: std::net::Ipv4Addr, base: &str) -> String {
    let o = ip.octets();
    format!("{}-{}-{}-{}.{base}", o[0], o[1], o[2], o[3])
}

/// The environment with the domain the address gives: the router's domain and every derived
/// hostname (validation refuses written ones with `domainFromAddress`) move to it.
pub fn with_domain(env: &Env, domain: &str) -> Env {
    let mut out = env.clone();
    let Some(base) = &env.router.domain_from_address else {
        return out;
    };
    let pending = pending_address_domain(base);
    out.router.domain = domain.to_owned();
    for v in &mut out.vclusters {
        if let Some(head) = v.hostname.strip_suffix(&format!(".{pending}")) {
            v.hostname = format!("{head}.{domain}");
        }
    }
    out
}

/// The domain `up` derived, read back from a vcluster context it wrote (`server:
/// https://dev-vcluster.203-0-113-10.sslip.io:443`): what `verify` checks the routes against
/// without asking the cluster. `servers` are (context, server URL) pairs of the kubeconfig.
pub fn domain_from_contexts(env: &Env, servers: &[(String, String)]) -> Option<String> {
    let base = env.router.domain_from_address.as_ref()?;
    let pending = format!(".{}", pending_address_domain(base));
    env.vclusters.iter().find_map(|v| {
        let head = v.hostname.strip_suffix(&pending)?;
        let (_, server) = servers.iter().find(|(c, _)| *c == v.context)?;
        let host = server
            .split_once("://")
            .map_or(server.as_str(), |(_, rest)| rest)
            .split([':', '/'])
            .next()?;
        let domain = host.strip_prefix(head)?.strip_prefix('.')?;
        domain
            .ends_with(&format!(".{base}"))
            .then(|| domain.to_owned())
    })
}

/// Why there is no domain to derive yet, and what to do; None when there is one.
pub fn explain(address: &Address, namespace: &str, base: &str) -> Option<String> {
    match address {
        Address::Ip(_) => None,
        Address::Hostname(h) => Some(format!(
            "the router's load balancer publishes the name `{h}`, not an address, so no `<address>.{base}` domain can be derived\n  hint: point a domain you own at it (a CNAME) and set `router.domain`"
        )),
        Address::Ipv6(ip) => Some(format!(
            "the router's load balancer has the IPv6 address {ip}; `router.domainFromAddress` derives names from IPv4 addresses only\n  hint: set `router.domain` to a domain whose names point at {ip}"
        )),
        Address::Pending => Some(format!(
            "the router's LoadBalancer Service in namespace {namespace} has no address yet: does this cluster run a load balancer controller (a cloud's, MetalLB, cloud-provider-kind)?\n  hint: `kubectl -n {namespace} get service` shows EXTERNAL-IP; without one use `router.service: NodePort` with `router.domain`"
        )),
        Address::NoService => Some(format!(
            "the router has no LoadBalancer Service in namespace {namespace}\n  hint: check `router.values` does not change the Service type"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;
    use serde_json::json;

    fn env(yaml: &str) -> Env {
        let l = load_str(yaml, "t", &[]);
        assert!(!l.diags.has_errors(), "{:?}", l.diags.items);
        l.env.unwrap()
    }

    const SSLIP: &str = "cluster: {provider: existing, context: prod}\nrouter: {domainFromAddress: sslip.io}\nvclusters:\n  - name: dev\n";

    fn svc(release: &str, ty: &str, ingress: Value) -> Value {
        json!({"metadata": {"name": "x", "annotations": {"meta.helm.sh/release-name": release}},
               "spec": {"type": ty}, "status": {"loadBalancer": {"ingress": ingress}}})
    }

    #[test]
    fn the_address_of_our_releases_load_balancer() {
        let ours = svc(
            "ingress-nginx",
            "LoadBalancer",
            json!([{"ip": "203.0.113.10"}]),
        );
        let theirs = svc("other", "LoadBalancer", json!([{"ip": "198.51.100.1"}]));
        let node_port = svc("ingress-nginx", "NodePort", json!([]));
        assert_eq!(
            router_address(&[theirs.clone(), node_port.clone(), ours], "ingress-nginx"),
            Address::Ip("203.0.113.10".parse().unwrap())
        );
        assert_eq!(
            router_address(&[theirs, node_port], "ingress-nginx"),
            Address::NoService
        );
        assert_eq!(
            router_address(&[svc("r", "LoadBalancer", json!([]))], "r"),
            Address::Pending
        );
        assert_eq!(
            router_address(
                &[svc(
                    "r",
                    "LoadBalancer",
                    json!([{"hostname": "a.elb.amazonaws.com"}])
                )],
                "r"
            ),
            Address::Hostname("a.elb.amazonaws.com".into())
        );
        assert!(explain(&Address::Pending, "ingress-nginx", "sslip.io")
            .unwrap()
            .contains("no address yet"));
    }

    #[test]
    fn hostnames_move_to_the_address_domain() {
        let e = env(SSLIP);
        assert_eq!(
            e.vclusters[0].hostname,
            "dev-vcluster.load-balancer-address.sslip.io"
        );
        assert_eq!(e.router.https_port, 443, "a load balancer listens on 443");
        assert!(needs_address(&e));
        let d = address_domain("203.0.113.10".parse().unwrap(), "sslip.io");
        assert_eq!(d, "203-0-113-10.sslip.io");
        let r = with_domain(&e, &d);
        assert_eq!(r.router.domain, "203-0-113-10.sslip.io");
        assert_eq!(
            r.vclusters[0].hostname,
            "dev-vcluster.203-0-113-10.sslip.io"
        );
        let servers = vec![(
            "dev-vcluster".to_string(),
            "https://dev-vcluster.203-0-113-10.sslip.io:443".to_string(),
        )];
        assert_eq!(
            domain_from_contexts(&e, &servers).as_deref(),
            Some("203-0-113-10.sslip.io")
        );
        let elsewhere = vec![(
            "dev-vcluster".to_string(),
            "https://10.0.0.1:443".to_string(),
        )];
        assert_eq!(domain_from_contexts(&e, &elsewhere), None);
        let own = env("cluster: {provider: existing, context: prod}\nrouter: {domain: dev.example.com}\nvclusters:\n  - name: dev\n");
        assert!(!needs_address(&own));
        assert_eq!(own.vclusters[0].hostname, "dev-vcluster.dev.example.com");
    }
}
