//! The one table of resource kinds the apiserver double serves: discovery, OpenAPI, routing and
//! storage all read it, plus the kinds that applied CustomResourceDefinitions add.
//!
//! The built-in rows cover every kind the contract charts render (vcluster 0.26.0/0.36.1,
//! ingress-nginx 4.14.1/4.15.1, Envoy Gateway, Traefik, NGINX Gateway Fabric: Deployment,
//! StatefulSet, Job, Service, ServiceAccount, ConfigMap, Secret, RBAC, IngressClass, webhook and
//! admission-policy configurations, CRDs) and what bootstrap and kubectl touch (Namespace,
//! Ingress, SelfSubjectAccessReview). Short names, categories and verbs are the ones the real
//! kube-apiserver lists: kubernetes/kubernetes `pkg/registry/<group>/<resource>/storage`
//! (`ShortNames()`, `Categories()`), `namespaces` having no `deletecollection`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    /// Served because a CustomResourceDefinition was applied.
    pub custom: bool,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn group_version(&self) -> String {
        self.api_version()
    }

    /// The URL prefix of this group/version: `/api/v1` or `/apis/<group>/<version>`.
    pub fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// Only creatable, never stored (SelfSubjectAccessReview and friends).
    pub fn is_review(&self) -> bool {
        self.verbs == ["create"]
    }
}

const STANDARD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// (group, version, kind, plural, namespaced, short names, categories)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

const BUILT_IN: &[Row] = &[
    ("", "v1", "ConfigMap", "configmaps", true, &["cm"], &[]),
    ("", "v1", "Endpoints", "endpoints", true, &["ep"], &[]),
    ("", "v1", "Event", "events", true, &["ev"], &[]),
    (
        "",
        "v1",
        "LimitRange",
        "limitranges",
        true,
        &["limits"],
        &[],
    ),
    ("", "v1", "Namespace", "namespaces", false, &["ns"], &[]),
    ("", "v1", "Node", "nodes", false, &["no"], &[]),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
        &[],
    ),
    (
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        false,
        &["pv"],
        &[],
    ),
    ("", "v1", "Pod", "pods", true, &["po"], &["all"]),
    (
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        &["quota"],
        &[],
    ),
    ("", "v1", "Secret", "secrets", true, &[], &[]),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        &["sa"],
        &[],
    ),
    ("", "v1", "Service", "services", true, &["svc"], &["all"]),
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
        &[],
        &["api-extensions"],
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        false,
        &[],
        &["api-extensions"],
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
        &[],
        &["api-extensions"],
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
        &[],
        &["api-extensions"],
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
        &["api-extensions"],
    ),
    (
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        true,
        &[],
        &[],
    ),
    (
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        true,
        &["ds"],
        &["all"],
    ),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
        &["all"],
    ),
    (
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        true,
        &["rs"],
        &["all"],
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        &["sts"],
        &["all"],
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
        &["all"],
    ),
    (
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        true,
        &["cj"],
        &["all"],
    ),
    ("batch", "v1", "Job", "jobs", true, &[], &["all"]),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        true,
        &[],
        &[],
    ),
    (
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        true,
        &[],
        &[],
    ),
    (
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        false,
        &[],
        &[],
    ),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        &["ing"],
        &[],
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        &["netpol"],
        &[],
    ),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        &["pdb"],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        &[],
        &[],
    ),
    (
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
        &["pc"],
        &[],
    ),
    (
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
        &["sc"],
        &[],
    ),
];

/// Kinds that can only be created: the answer is computed, nothing is stored.
const REVIEWS: &[(&str, &str, &str, &str)] = &[(
    "authorization.k8s.io",
    "v1",
    "SelfSubjectAccessReview",
    "selfsubjectaccessreviews",
)];

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The built-in kinds, in table order.
pub fn built_in() -> Vec<Resource> {
    let mut out: Vec<Resource> = BUILT_IN
        .iter()
        .map(|(g, v, k, p, ns, short, cat)| {
            let verbs: &[&str] = if *p == "namespaces" {
                &[
                    "create", "delete", "get", "list", "patch", "update", "watch",
                ]
            } else {
                STANDARD
            };
            Resource {
                group: (*g).into(),
                version: (*v).into(),
                kind: (*k).into(),
                plural: (*p).into(),
                singular: k.to_lowercase(),
                namespaced: *ns,
                short_names: owned(short),
                categories: owned(cat),
                verbs: owned(verbs),
                custom: false,
            }
        })
        .collect();
    out.extend(REVIEWS.iter().map(|(g, v, k, p)| Resource {
        group: (*g).into(),
        version: (*v).into(),
        kind: (*k).into(),
        plural: (*p).into(),
        singular: k.to_lowercase(),
        namespaced: false,
        short_names: vec![],
        categories: vec![],
        verbs: owned(&["create"]),
        custom: false,
    }));
    out
}

/// The kinds an applied CustomResourceDefinition serves, once it is Established: one row per
/// served version (apiextensions.k8s.io/v1 `spec.names`, `spec.scope`, `spec.versions[].served`).
pub fn from_crd(crd: &Value) -> Vec<Resource> {
    let established = crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    if !established {
        return vec![];
    }
    let spec = &crd["spec"];
    let names = &spec["names"];
    let (Some(group), Some(kind), Some(plural)) = (
        spec["group"].as_str(),
        names["kind"].as_str(),
        names["plural"].as_str(),
    ) else {
        return vec![];
    };
    let singular = names["singular"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| kind.to_lowercase());
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"] != false)
        .filter_map(|v| v["name"].as_str())
        .map(|version| Resource {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: singular.clone(),
            namespaced: spec["scope"] != "Cluster",
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            verbs: owned(STANDARD),
            custom: true,
        })
        .collect()
}

/// Every kind served now: the built-in table plus what the given CRDs add.
pub fn served<'a>(crds: impl IntoIterator<Item = &'a Value>) -> Vec<Resource> {
    let mut all = built_in();
    for crd in crds {
        for r in from_crd(crd) {
            if !all
                .iter()
                .any(|b| b.group == r.group && b.version == r.version && b.plural == r.plural)
            {
                all.push(r);
            }
        }
    }
    all
}

/// Split an `apiVersion` into group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubectl_short_names_are_listed() {
        let all = built_in();
        let find = |p: &str| all.iter().find(|r| r.plural == p).unwrap();
        assert_eq!(find("namespaces").short_names, ["ns"]);
        assert!(!find("namespaces")
            .verbs
            .contains(&"deletecollection".into()));
        assert_eq!(
            find("customresourcedefinitions").short_names,
            ["crd", "crds"]
        );
        assert!(find("deployments").categories.contains(&"all".into()));
        assert!(find("secrets").namespaced);
        assert!(!find("clusterroles").namespaced);
        assert!(find("selfsubjectaccessreviews").is_review());
    }

    #[test]
    fn an_established_crd_adds_its_served_versions() {
        let crd = json!({"spec": {"group": "gateway.networking.k8s.io", "scope": "Namespaced",
            "names": {"kind": "TLSRoute", "plural": "tlsroutes", "singular": "tlsroute", "categories": ["gateway-api"]},
            "versions": [{"name": "v1", "served": true}, {"name": "v1alpha2", "served": false}]},
            "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        let rows = from_crd(&crd);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].api_version(), "gateway.networking.k8s.io/v1");
        assert!(rows[0].namespaced);
        let mut pending = crd.clone();
        pending["status"] = json!({});
        assert!(
            from_crd(&pending).is_empty(),
            "not served before Established"
        );
    }
}
