//! The passthrough router behind one interface: each router kind says which Helm release, which
//! upstream manifests, which objects and which routes are its own, what proves it serves, and what
//! it answers when no route matches. The router step installs the kind the file names and, with
//! `removals`, removes the other kind's release and objects (only those carrying our mark).

use crate::core::config::{Env, RouterKind};
use crate::core::release::Release;
use crate::core::render::{self, gateway};
use serde_json::Value;

/// An object type a router kind owns objects of, so the router step can list ours (by the
/// `bootstrap/env` label, see `core::ownership`) and remove them when the router changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectType {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
}

const INGRESS: ObjectType = ObjectType {
    api_version: "networking.k8s.io/v1",
    kind: "Ingress",
    namespaced: true,
};
const GATEWAY_CLASS: ObjectType = ObjectType {
    api_version: gateway::API_VERSION,
    kind: "GatewayClass",
    namespaced: false,
};
const GATEWAY: ObjectType = ObjectType {
    api_version: gateway::API_VERSION,
    kind: "Gateway",
    namespaced: true,
};
const TLS_ROUTE: ObjectType = ObjectType {
    api_version: gateway::API_VERSION,
    kind: "TLSRoute",
    namespaced: true,
};

/// A manifest from an upstream release, downloaded once and checked against its sha256 (the
/// shell's `fetch_pinned(url, sha256) -> PathBuf`, into the XDG cache), then applied server-side
/// before the chart. CRDs are cluster-wide and may be shared with the user's own controllers:
/// never removed by `down` or by a router switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedManifest {
    pub what: &'static str,
    pub url: &'static str,
    pub sha256: &'static str,
    /// `gateway.networking.k8s.io/bundle-version` of the CRDs in it.
    pub bundle_version: &'static str,
}

/// A fact to wait for once applied: the named object's condition `condition` is `True`.
/// For a route, the condition is the one its status reports for our Gateway as parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
    pub condition: &'static str,
    /// Set for routes: read `status.parents[]` for this Gateway (namespace, name).
    pub parent: Option<(String, String)>,
}

/// What the router answers with when no route matches the SNI: the subject of its own
/// certificate (verify names it as "router default certificate").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultCertificate {
    pub subject_cn: &'static str,
    /// Where that was read.
    pub source: &'static str,
}

pub trait Router {
    fn kind(&self) -> RouterKind;
    /// The router's Helm release.
    fn release(&self, env: &Env) -> Release;
    /// Upstream manifests the chart does not ship, applied before it.
    fn prerequisites(&self) -> Vec<PinnedManifest> {
        Vec::new()
    }
    /// Our objects applied after the chart and before the routes (GatewayClass, Gateway).
    fn objects(&self, _env: &Env) -> Vec<Value> {
        Vec::new()
    }
    /// The route objects sending `v`'s hostname to its service, TLS untouched, labelled
    /// `bootstrap/vcluster: <name>`; rendered alone, so each vcluster's step costs the same
    /// however many the file has.
    fn vcluster_routes(&self, env: &Env, v: &crate::core::config::Vcluster) -> Vec<Value>;
    /// Every vcluster's route objects, in file order.
    fn route_objects(&self, env: &Env) -> Vec<Value> {
        env.vclusters
            .iter()
            .flat_map(|v| self.vcluster_routes(env, v))
            .collect()
    }
    /// The types of `objects` and `route_objects`: what a switch away from this kind removes.
    fn owned_types(&self) -> &'static [ObjectType];
    /// What proves the router serves once applied (beyond helm's own wait for its pods).
    fn readiness(&self, _env: &Env) -> Vec<Readiness> {
        Vec::new()
    }
    fn default_certificate(&self) -> DefaultCertificate;
    /// The chart this kind installs by default: how its release is recognised after the file
    /// switched to the other kind (and so no longer names it).
    fn default_chart(&self) -> &'static str;
}

pub struct IngressNginx;

impl Router for IngressNginx {
    fn kind(&self) -> RouterKind {
        RouterKind::IngressNginx
    }

    fn release(&self, env: &Env) -> Release {
        Release {
            name: env.router.release.clone(),
            namespace: env.router.namespace.clone(),
            chart: env.router.chart.clone(),
            values: render::router::ingress_nginx_values(env),
        }
    }

    fn vcluster_routes(&self, env: &Env, v: &crate::core::config::Vcluster) -> Vec<Value> {
        vec![render::routes::ingress(env, v)]
    }

    fn owned_types(&self) -> &'static [ObjectType] {
        &[INGRESS]
    }

    fn default_chart(&self) -> &'static str {
        "ingress-nginx"
    }

    fn default_certificate(&self) -> DefaultCertificate {
        DefaultCertificate {
            subject_cn: "Kubernetes Ingress Controller Fake Certificate",
            source: "kubernetes/ingress-nginx controller-v1.15.1: internal/net/ssl/ssl.go (its fake default certificate)",
        }
    }
}

/// `router.kind: gateway-api`, served by Traefik (README: "The Gateway API router").
pub struct GatewayApi;

/// The Gateway API v1.6.1 standard channel (TLSRoute v1), which Traefik's chart does not ship
/// (traefik/traefik-helm-chart commit ab7dbb15 "fix: remove Gateway API CRDs"; the chart's
/// NOTES.txt tells users to apply the release's standard-install.yaml).
pub const GATEWAY_API_CRDS: PinnedManifest = PinnedManifest {
    what: "Gateway API v1.6.1 CRDs (standard channel)",
    url: crate::core::config::pins::GATEWAY_API_STANDARD_INSTALL_URL,
    sha256: crate::core::config::pins::GATEWAY_API_STANDARD_INSTALL_SHA256,
    bundle_version: crate::core::config::pins::GATEWAY_API_VERSION,
};

impl Router for GatewayApi {
    fn kind(&self) -> RouterKind {
        RouterKind::GatewayApi
    }

    fn release(&self, env: &Env) -> Release {
        Release {
            name: env.router.release.clone(),
            namespace: env.router.namespace.clone(),
            chart: env.router.chart.clone(),
            values: gateway::traefik_values(env),
        }
    }

    fn prerequisites(&self) -> Vec<PinnedManifest> {
        vec![GATEWAY_API_CRDS]
    }

    fn objects(&self, env: &Env) -> Vec<Value> {
        gateway::gateway_objects(env)
    }

    fn vcluster_routes(&self, env: &Env, v: &crate::core::config::Vcluster) -> Vec<Value> {
        gateway::tls_route(env, v).into_iter().collect()
    }

    fn owned_types(&self) -> &'static [ObjectType] {
        &[GATEWAY_CLASS, GATEWAY, TLS_ROUTE]
    }

    fn default_chart(&self) -> &'static str {
        crate::core::config::pins::TRAEFIK_CHART
    }

    /// The class accepted by Traefik, the Gateway programmed, each route accepted by our Gateway
    /// with its backend resolved. Traefik sets exactly these (`makeGatewayStatus`,
    /// `pkg/provider/kubernetes/gateway/kubernetes.go` at v3.7.9).
    fn readiness(&self, env: &Env) -> Vec<Readiness> {
        let ns = env.router.namespace.clone();
        let mut facts = vec![
            Readiness {
                api_version: gateway::API_VERSION,
                kind: "GatewayClass",
                namespace: None,
                name: gateway::GATEWAY_CLASS.into(),
                condition: "Accepted",
                parent: None,
            },
            Readiness {
                api_version: gateway::API_VERSION,
                kind: "Gateway",
                namespace: Some(ns.clone()),
                name: gateway::GATEWAY.into(),
                condition: "Programmed",
                parent: None,
            },
        ];
        for r in gateway::tls_routes(env) {
            for condition in ["Accepted", "ResolvedRefs"] {
                facts.push(Readiness {
                    api_version: gateway::API_VERSION,
                    kind: "TLSRoute",
                    namespace: r["metadata"]["namespace"].as_str().map(str::to_owned),
                    name: r["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    condition,
                    parent: Some((ns.clone(), gateway::GATEWAY.into())),
                });
            }
        }
        facts
    }

    /// An SNI no TCP route takes falls through to Traefik's HTTPS handler, which terminates TLS
    /// with the default store's certificate: generated, self-signed, CN `TRAEFIK DEFAULT CERT`
    /// (`pkg/server/router/tcp/router.go` ServeTCP → httpsForwarder; `pkg/tls/generate/generate.go`).
    fn default_certificate(&self) -> DefaultCertificate {
        DefaultCertificate {
            subject_cn: "TRAEFIK DEFAULT CERT",
            source: "traefik/traefik v3.7.9: pkg/server/router/tcp/router.go, pkg/tls/generate/generate.go",
        }
    }
}

/// The router the file asks for.
pub fn router_for(env: &Env) -> Box<dyn Router + Send + Sync> {
    router_of(env.router.kind)
}

pub fn router_of(kind: RouterKind) -> Box<dyn Router + Send + Sync> {
    match kind {
        RouterKind::IngressNginx => Box::new(IngressNginx),
        RouterKind::GatewayApi => Box::new(GatewayApi),
    }
}

pub const ALL_KINDS: [RouterKind; 2] = [RouterKind::IngressNginx, RouterKind::GatewayApi];

/// Does a live object (or a rendered one) satisfy a readiness fact? `Err` says what is missing,
/// for the step to report while it waits.
pub fn is_ready(fact: &Readiness, live: &Value) -> Result<(), String> {
    let conditions = match &fact.parent {
        None => live.pointer("/status/conditions"),
        Some((ns, name)) => live
            .pointer("/status/parents")
            .and_then(Value::as_array)
            .and_then(|parents| {
                parents.iter().find(|p| {
                    let r = &p["parentRef"];
                    r["name"] == name.as_str()
                        && r.get("namespace")
                            .and_then(Value::as_str)
                            .or(live["metadata"]["namespace"].as_str())
                            == Some(ns.as_str())
                })
            })
            .and_then(|p| p.get("conditions")),
    };
    let what = format!(
        "{} {}{}",
        fact.kind,
        fact.namespace
            .as_ref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        fact.name
    );
    let Some(c) = conditions
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == fact.condition))
    else {
        return Err(format!("{what}: no `{}` condition yet", fact.condition));
    };
    if c["status"] == "True" {
        Ok(())
    } else {
        Err(format!(
            "{what}: {} is {} ({}: {})",
            fact.condition,
            c["status"].as_str().unwrap_or("?"),
            c["reason"].as_str().unwrap_or(""),
            c["message"].as_str().unwrap_or("")
        ))
    }
}

/// What to do with the Gateway API CRDs, given the live `gateways.gateway.networking.k8s.io`
/// CRD (None: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrdAction {
    /// Absent, or an older bundle: apply ours.
    Apply,
    /// Already there at our bundle version or newer, or the experimental channel (a superset of
    /// the standard one, which the safe-upgrades policy forbids replacing with standard).
    Keep(String),
}

pub fn crd_action(pinned: &PinnedManifest, live_gateway_crd: Option<&Value>) -> CrdAction {
    let Some(crd) = live_gateway_crd else {
        return CrdAction::Apply;
    };
    let ann = &crd["metadata"]["annotations"];
    let version = ann["gateway.networking.k8s.io/bundle-version"]
        .as_str()
        .unwrap_or("");
    let channel = ann["gateway.networking.k8s.io/channel"]
        .as_str()
        .unwrap_or("");
    // A pre-release of the same version counts as that version, as it always has here.
    let parse = |v: &str| crate::core::version::parse(v).map(|v| (v.major, v.minor, v.patch));
    if channel == "experimental" {
        return CrdAction::Keep(format!(
            "the experimental channel {version} is installed (a superset of the standard one)"
        ));
    }
    match (parse(version), parse(pinned.bundle_version)) {
        (Some(live), Some(ours)) if live >= ours => {
            CrdAction::Keep(format!("{version} is installed ({channel} channel)"))
        }
        _ => CrdAction::Apply,
    }
}

/// A Helm release seen in the cluster (`helm list -A` row), and whether it carries our mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRelease {
    pub name: String,
    pub namespace: String,
    /// The chart's name and version, as helm's release record keeps them.
    pub chart: String,
    pub version: String,
    /// Set by the shell from the mark bootstrap records on its releases. A release without it is
    /// the user's own: never removed, never taken over.
    pub ours: bool,
}

/// An object to remove or that is to be added: type, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn of(v: &Value) -> ObjectRef {
        ObjectRef {
            api_version: v["apiVersion"].as_str().unwrap_or_default().into(),
            kind: v["kind"].as_str().unwrap_or_default().into(),
            namespace: v["metadata"]["namespace"].as_str().map(str::to_owned),
            name: v["metadata"]["name"].as_str().unwrap_or_default().into(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One action of the router step, in the order to run them.
#[derive(Debug, Clone, PartialEq)]
pub enum Removal {
    /// Delete an object of ours the router no longer wants (the other kind's, or a route of a
    /// vcluster gone from the file).
    Delete(ObjectRef),
    /// `helm uninstall` a router release of ours of the other kind.
    Uninstall { name: String, namespace: String },
}

impl std::fmt::Display for Removal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Removal::Delete(o) => write!(f, "delete {o}"),
            Removal::Uninstall { name, namespace } => {
                write!(f, "helm uninstall {namespace}/{name}")
            }
        }
    }
}

/// Ours: this environment's mark (`core::ownership`), not merely bootstrap's managed-by claim.
fn is_ours(env: &Env, v: &Value) -> bool {
    crate::core::ownership::holder(v.pointer("/metadata/labels"), &env.cluster.name)
        == crate::core::ownership::Holder::Ours
}

/// What a router switch (or a vcluster leaving the file) removes, pure: from the file and what
/// was seen (releases, and the live objects of every router kind's owned types, listed by our
/// label), the objects of ours no kind wants now and the other kind's releases of ours. Objects
/// and releases without our mark are never in it; the routes the file's vclusters still have
/// are wanted, so never removed here (they are the vcluster steps').
///
/// Order: routes (namespaced) before the cluster-wide objects they hang from, then the other
/// kind's release: both routers bind the node's 443 (hostPort), so the new router's pod cannot
/// start beside the old one; the step removes all of these before it installs.
pub fn removals(env: &Env, releases: &[SeenRelease], live: &[Value]) -> Vec<Removal> {
    let want = router_for(env);
    let wanted_release = want.release(env);
    let mut wanted: Vec<Value> = want.objects(env);
    wanted.extend(want.route_objects(env));
    // A set: looked up once per live object, so a cluster with thousands of routes stays linear.
    let wanted_refs: std::collections::HashSet<ObjectRef> =
        wanted.iter().map(ObjectRef::of).collect();

    let mut stale: Vec<ObjectRef> = live
        .iter()
        .filter(|o| is_ours(env, o))
        .filter(|o| {
            ALL_KINDS.iter().any(|k| {
                router_of(*k)
                    .owned_types()
                    .iter()
                    .any(|t| o["apiVersion"] == t.api_version && o["kind"] == t.kind)
            })
        })
        .map(ObjectRef::of)
        .filter(|r| !wanted_refs.contains(r))
        .collect();
    let rank = |r: &ObjectRef| match r.kind.as_str() {
        "Ingress" | "TLSRoute" => 0,
        "Gateway" => 1,
        _ => 2,
    };
    stale.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    stale.dedup();
    let mut out: Vec<Removal> = stale.into_iter().map(Removal::Delete).collect();

    for other in ALL_KINDS.iter().filter(|k| **k != env.router.kind) {
        let other_chart = router_of(*other).default_chart();
        for r in releases {
            let same_slot =
                r.name == wanted_release.name && r.namespace == wanted_release.namespace;
            if r.ours && !same_slot && r.chart == other_chart {
                out.push(Removal::Uninstall {
                    name: r.name.clone(),
                    namespace: r.namespace.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::load_str;
    use serde_json::json;

    const VCS: &str = "vclusters:\n  - name: dev\n  - name: staging\n";

    fn env(router: &str) -> Env {
        let l = load_str(&format!("router: {{kind: {router}}}\n{VCS}"), "t", &[]);
        l.env.unwrap()
    }

    fn live_of(env: &Env) -> Vec<Value> {
        let r = router_for(env);
        let mut all = r.objects(env);
        all.extend(r.route_objects(env));
        all
    }

    fn ours(kind: &str, chart: &str, ns: &str) -> SeenRelease {
        SeenRelease {
            name: kind.into(),
            namespace: ns.into(),
            chart: chart.into(),
            version: "1.0.0".into(),
            ours: true,
        }
    }

    fn deletes(plan: &[Removal]) -> Vec<String> {
        plan.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ingress_nginx_to_gateway_api_removes_the_routes_then_the_release() {
        let old = env("ingress-nginx");
        let new = env("gateway-api");
        let releases = [ours("ingress-nginx", "ingress-nginx", "ingress-nginx")];
        let plan = removals(&new, &releases, &live_of(&old));
        assert_eq!(
            deletes(&plan),
            [
                "delete Ingress dev-vcluster/vcluster-dev-api",
                "delete Ingress staging-vcluster/vcluster-staging-api",
                "helm uninstall ingress-nginx/ingress-nginx",
            ]
        );
    }

    #[test]
    fn gateway_api_back_to_ingress_nginx_removes_routes_before_gateway_before_class() {
        let old = env("gateway-api");
        let new = env("ingress-nginx");
        let releases = [ours("traefik", "traefik", "traefik")];
        let plan = removals(&new, &releases, &live_of(&old));
        // The Gateway API CRDs are never removed: other tools' routes may use them.
        assert_eq!(
            deletes(&plan),
            [
                "delete TLSRoute dev-vcluster/vcluster-dev-api",
                "delete TLSRoute staging-vcluster/vcluster-staging-api",
                "delete Gateway traefik/bootstrap",
                "delete GatewayClass bootstrap",
                "helm uninstall traefik/traefik",
            ]
        );
    }

    #[test]
    fn converged_router_plans_no_removal() {
        for kind in ["ingress-nginx", "gateway-api"] {
            let e = env(kind);
            let r = router_for(&e).release(&e);
            let plan = removals(
                &e,
                &[ours(&r.name, &r.chart.name, &r.namespace)],
                &live_of(&e),
            );
            assert!(deletes(&plan).is_empty(), "{kind}: {:?}", deletes(&plan));
        }
    }

    #[test]
    fn never_removes_what_is_not_ours() {
        let new = env("gateway-api");
        let mut users_ingress = live_of(&env("ingress-nginx"));
        for o in &mut users_ingress {
            o["metadata"]["labels"] = json!({"app": "theirs"});
        }
        let users_release = SeenRelease {
            ours: false,
            ..ours("ingress-nginx", "ingress-nginx", "ingress-nginx")
        };
        let plan = removals(&new, &[users_release], &users_ingress);
        assert!(deletes(&plan).is_empty(), "{:?}", deletes(&plan));
    }

    #[test]
    fn a_vcluster_gone_from_the_file_loses_its_route_only() {
        let before = env("gateway-api");
        let after = load_str(
            "router: {kind: gateway-api}\nvclusters:\n  - name: dev\n",
            "t",
            &[],
        )
        .env
        .unwrap();
        let plan = removals(&after, &[], &live_of(&before));
        assert_eq!(
            deletes(&plan),
            ["delete TLSRoute staging-vcluster/vcluster-staging-api"]
        );
    }

    #[test]
    fn a_release_in_the_wanted_slot_is_upgraded_not_uninstalled() {
        // The user kept `release: edge` across the switch: helm replaces the chart in place.
        let l = load_str(
            "router: {kind: gateway-api, release: edge, namespace: edge}\n",
            "t",
            &[],
        );
        let e = l.env.unwrap();
        let plan = removals(&e, &[ours("edge", "ingress-nginx", "edge")], &[]);
        assert!(deletes(&plan).is_empty());
    }

    #[test]
    fn crds_applied_when_absent_or_older_kept_otherwise() {
        let crd = |v: &str, ch: &str| {
            json!({"metadata": {"annotations": {
                "gateway.networking.k8s.io/bundle-version": v,
                "gateway.networking.k8s.io/channel": ch}}})
        };
        assert_eq!(crd_action(&GATEWAY_API_CRDS, None), CrdAction::Apply);
        assert_eq!(
            crd_action(&GATEWAY_API_CRDS, Some(&crd("v1.4.1", "standard"))),
            CrdAction::Apply
        );
        assert!(matches!(
            crd_action(&GATEWAY_API_CRDS, Some(&crd("v1.6.1", "standard"))),
            CrdAction::Keep(_)
        ));
        assert!(matches!(
            crd_action(&GATEWAY_API_CRDS, Some(&crd("v1.7.0", "standard"))),
            CrdAction::Keep(_)
        ));
        assert!(matches!(
            crd_action(&GATEWAY_API_CRDS, Some(&crd("v1.5.0", "experimental"))),
            CrdAction::Keep(_)
        ));
    }

    #[test]
    fn readiness_reads_conditions_and_route_parents() {
        let e = env("gateway-api");
        let facts = GatewayApi.readiness(&e);
        assert_eq!(facts.len(), 2 + 2 * 2);
        let gw = &facts[1];
        let mut live = gateway::gateway(&e);
        assert!(is_ready(gw, &live).unwrap_err().contains("no `Programmed`"));
        live["status"] = json!({"conditions": [{"type": "Programmed", "status": "False", "reason": "Pending", "message": "x"}]});
        assert!(is_ready(gw, &live).unwrap_err().contains("False"));
        live["status"]["conditions"][0]["status"] = json!("True");
        assert_eq!(is_ready(gw, &live), Ok(()));

        let route_fact = &facts[2];
        let mut route = gateway::tls_routes(&e)[0].clone();
        route["status"] = json!({"parents": [{
            "parentRef": {"name": "other", "namespace": "traefik"},
            "conditions": [{"type": "Accepted", "status": "True"}]}]});
        assert!(
            is_ready(route_fact, &route).is_err(),
            "another Gateway's acceptance is not ours"
        );
        route["status"]["parents"][0]["parentRef"]["name"] = json!("bootstrap");
        assert_eq!(is_ready(route_fact, &route), Ok(()));
    }

    #[test]
    fn routes_for_one_vcluster_alone() {
        let e = env("gateway-api");
        let y = render::to_yaml(&GatewayApi.vcluster_routes(&e, &e.vclusters[0]));
        assert!(y.contains("kind: TLSRoute") && y.contains("dev-vcluster.localtest.me"));
        assert!(!y.contains("staging"));
        let e = env("ingress-nginx");
        let y = render::to_yaml(&IngressNginx.vcluster_routes(&e, &e.vclusters[1]));
        assert!(y.contains("kind: Ingress") && !y.contains("vcluster-dev"));
        // Each alone is what the whole list holds for it.
        for r in [&IngressNginx as &dyn Router, &GatewayApi] {
            let alone: Vec<Value> = e
                .vclusters
                .iter()
                .flat_map(|v| r.vcluster_routes(&e, v))
                .collect();
            assert_eq!(alone, r.route_objects(&e));
        }
    }
}
