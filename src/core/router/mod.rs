//! The passthrough router behind one interface: each router kind says which Helm release, which
//! upstream manifests, which objects and which routes are its own, what proves it serves, and what
//! it answers when no route matches. The router step installs the kind the file names and, with
//! `removals`, removes the other kind's release and objects (only those carrying our mark).

mod gateway_api;
mod ingress_nginx;

pub use gateway_api::{GatewayApi, GATEWAY_API_CRDS};
pub use ingress_nginx::{IngressNginx, INGRESS_READY_LABEL};

use crate::core::config::{Env, RouterKind};
use crate::core::release::Release;
use serde_json::Value;

/// An object type a router kind owns objects of, so the router step can list ours (by the
/// `bootstrap/env` label, see `core::ownership`) and remove them when the router changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectType {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
}

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

/// A router kind's behaviour: one implementation per file of this module (`ingress_nginx`,
/// `gateway_api`); everything kind-specific the rest of the tree needs is asked of it.
pub trait Kind {
    /// What the file calls it (`router.kind`).
    fn name(&self) -> &'static str;
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
    /// `bootstrap/vcluster: <name>` (`ownership::VCLUSTER_LABEL`: the vcluster's step owns them); rendered alone, so each vcluster's step costs the same
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
    /// The chart this kind installs by default, and where: what the file gets when its
    /// `router` section does not say, and how its release is recognised after the file switched
    /// to the other kind (and so no longer names it).
    fn defaults(&self) -> Defaults;
    /// What `init` writes above the router section.
    fn about(&self) -> &'static str;
    /// Labels the first node must carry for the router's pods to be scheduled on it (kind puts
    /// them there).
    fn node_labels(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Where the chart's values hold the router pods' nodeSelector (a JSON pointer): checked
    /// against the file's node labels before anything runs.
    fn node_selector(&self) -> &'static str;
    /// What to tell the user when this kind's chart is not known to run on the node image's
    /// Kubernetes: the message and the hint.
    fn kubernetes_support(&self, _env: &Env, _node_image: &str) -> Option<(String, String)> {
        None
    }
    /// Every object this kind applies besides its chart: our objects, then the routes (what
    /// `render routes` prints).
    fn all_objects(&self, env: &Env) -> Vec<Value> {
        let mut all = self.objects(env);
        all.extend(self.route_objects(env));
        all
    }
}

/// A router kind's default chart, release and namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// The release's name and namespace.
    pub name: &'static str,
    pub repo: &'static str,
    pub chart: &'static str,
    pub version: &'static str,
}

/// Every router kind, in the order `init` and the errors offer them; the first is what a file
/// that names none gets. A new kind is a file of this module (`impl Kind`), its `mod` line and
/// its entry here: the config's choices, `init`, `render`, kind's node labels, validation and
/// the removal order are all asked of this list.
pub static KINDS: &[&(dyn Kind + Sync)] = &[&IngressNginx, &GatewayApi];

/// The kind named `name` in the file, if there is one.
pub fn kind_named(name: &str) -> Option<RouterKind> {
    KINDS
        .iter()
        .find(|k| k.name() == name)
        .map(|k| RouterKind::named(k.name()))
}

/// What a file that names no router gets.
pub fn default_kind() -> RouterKind {
    RouterKind::named(KINDS[0].name())
}

/// Every kind's name, for choices and help.
pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name()).collect()
}

/// The router the file asks for.
pub fn router_for(env: &Env) -> &'static (dyn Kind + Sync) {
    router_of(env.router.kind)
}

pub fn router_of(kind: RouterKind) -> &'static (dyn Kind + Sync) {
    KINDS
        .iter()
        .copied()
        .find(|k| k.name() == kind.as_str())
        // `RouterKind` is made only by `kind_named`/`default_kind`, from this list.
        .expect("a RouterKind names one of KINDS")
}

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

    /// The object by its identity alone: what a delete (or a look-up) needs.
    pub fn manifest(&self) -> Value {
        serde_json::json!({"apiVersion": self.api_version, "kind": self.kind,
            "metadata": {"name": self.name, "namespace": self.namespace}})
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
            KINDS.iter().any(|k| {
                k.owned_types()
                    .iter()
                    .any(|t| o["apiVersion"] == t.api_version && o["kind"] == t.kind)
            })
        })
        .map(ObjectRef::of)
        .filter(|r| !wanted_refs.contains(r))
        .collect();
    // In the reverse of the order each kind applies its types in: routes before the Gateway
    // they hang from, before its class.
    let rank = |r: &ObjectRef| {
        KINDS
            .iter()
            .filter_map(|k| {
                let types = k.owned_types();
                types
                    .iter()
                    .position(|t| t.kind == r.kind && t.api_version == r.api_version)
                    .map(|i| types.len() - 1 - i)
            })
            .min()
            .unwrap_or(usize::MAX)
    };
    stale.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    stale.dedup();
    let mut out: Vec<Removal> = stale.into_iter().map(Removal::Delete).collect();

    for other in KINDS
        .iter()
        .filter(|k| k.name() != env.router.kind.as_str())
    {
        let other_chart = other.defaults().chart;
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
    use crate::core::render::{self, gateway};
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

    /// The list of kinds is the only place a kind is named: the file's choice, its defaults and
    /// the default kind all come from it.
    #[test]
    fn every_kind_is_chosen_by_its_name_and_brings_its_defaults() {
        let names = kind_names();
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), KINDS.len(), "names must be unique: {names:?}");
        for k in KINDS {
            let text = format!("router: {{kind: {}}}\n", k.name());
            let env = load_str(&text, "t", &[]).env.unwrap();
            assert_eq!(env.router.kind.as_str(), k.name());
            assert!(std::ptr::addr_eq(router_for(&env), *k));
            let d = k.defaults();
            assert_eq!(
                (env.router.chart.name.as_str(), env.router.release.as_str()),
                (d.chart, d.name)
            );
        }
        let unnamed = load_str("cluster: {name: a}\n", "t", &[]).env.unwrap();
        assert_eq!(unnamed.router.kind, default_kind());
        assert_eq!(default_kind().as_str(), KINDS[0].name());
        let wrong = load_str("router: {kind: envoy}\n", "t", &[]);
        let e = wrong
            .diags
            .errors()
            .next()
            .expect("an unknown kind is an error");
        assert!(names.iter().all(|n| e.to_string().contains(n)), "{e}");
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
        for r in [&IngressNginx as &dyn Kind, &GatewayApi] {
            let alone: Vec<Value> = e
                .vclusters
                .iter()
                .flat_map(|v| r.vcluster_routes(&e, v))
                .collect();
            assert_eq!(alone, r.route_objects(&e));
        }
    }
}
