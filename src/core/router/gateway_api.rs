//! `router.kind: gateway-api`, served by Traefik: the chart's values, the GatewayClass, Gateway
//! and TLSRoutes (`core::render::gateway` writes those documents), the Gateway API CRDs it
//! needs, and what proves it serves.

use super::{DefaultCertificate, Kind, ObjectType, PinnedManifest, Readiness};
use crate::core::config::Env;
use crate::core::release::Release;
use crate::core::render::gateway;
use serde_json::Value;

/// Traefik chart 41.3.0 (Traefik v3.7.11): traefik/traefik-helm-chart tag v41.3.0, the Gateway API
/// implementation behind `router.kind: gateway-api` (README, "The Gateway API router").
const TRAEFIK_REPO: &str = "https://traefik.github.io/charts";
const TRAEFIK_CHART: &str = "traefik";
const TRAEFIK_VERSION: &str = "41.3.0";

/// Gateway API: kubernetes-sigs/gateway-api tag v1.6.1 (2026-07-16). TLSRoute is served only as
/// `gateway.networking.k8s.io/v1` by its standard channel (v1alpha2/v1alpha3 are `served: false`).
const GATEWAY_API_VERSION: &str = "v1.6.1";
const GATEWAY_API_STANDARD_INSTALL_URL: &str =
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml";
/// sha256 of the release asset `standard-install.yaml`, rebuilt from the source at tag v1.6.1
/// exactly as the release does (`make build-install-yaml`, i.e. `hack/build-install-yaml.sh`: the
/// boilerplate, which carries no year, then each `config/crd/standard/gateway*.yaml` behind a
/// `# <path>` header). The project's `verify-release-artifacts` workflow checks the published
/// asset equals that build. No internet here to download the asset itself: the first real fetch
/// confirms this pin, or refuses the file and says so. Its documents, comments aside, equal
/// ../shared/contracts/crds/gateway-api-v1.6.1-standard-install.yaml (checked when pinned).
const GATEWAY_API_STANDARD_INSTALL_SHA256: &str =
    "24d931f22abd8e40c973264319ead7cfa09d0fb7716b7ab1ee2ff174cb063a73";

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

/// `router.kind: gateway-api`, served by Traefik (README: "The Gateway API router").
pub struct GatewayApi;

/// The Gateway API v1.6.1 standard channel (TLSRoute v1), which Traefik's chart does not ship
/// (traefik/traefik-helm-chart commit ab7dbb15 "fix: remove Gateway API CRDs"; the chart's
/// NOTES.txt tells users to apply the release's standard-install.yaml).
pub const GATEWAY_API_CRDS: PinnedManifest = PinnedManifest {
    what: "Gateway API v1.6.1 CRDs (standard channel)",
    url: GATEWAY_API_STANDARD_INSTALL_URL,
    sha256: GATEWAY_API_STANDARD_INSTALL_SHA256,
    bundle_version: GATEWAY_API_VERSION,
};

impl Kind for GatewayApi {
    fn name(&self) -> &'static str {
        "gateway-api"
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

    fn defaults(&self) -> super::Defaults {
        super::Defaults {
            name: "traefik",
            repo: TRAEFIK_REPO,
            chart: TRAEFIK_CHART,
            version: TRAEFIK_VERSION,
        }
    }

    fn about(&self) -> &'static str {
        "# The router: a Gateway API Gateway with a TLS passthrough listener; each vcluster's\n# TLSRoute sends its hostname (SNI) to it.\n"
    }

    fn node_selector(&self) -> &'static str {
        "/nodeSelector"
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
