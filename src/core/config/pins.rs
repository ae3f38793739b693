//! The versions bootstrap pins for a file that names none, and where each was checked. A file
//! that names a version keeps it (envs/localdev.yaml names vcluster 0.26.0, the seeds' stack).
//! Each pin below was read from the upstream source at the tag named, through the project's
//! stored copies of those repositories.

// The kind and helm executables are pinned where they are fetched, with their sha256 and its
// source: `drivers::toolchain`. kind v0.32.0 (tagged 2026-06-02) is the newest release in the
// stored copy of kubernetes-sigs/kind (newest commit 2026-08-22); v0.33.0 (default node
// kindest/node:v1.37.0) has been released since, and no checksums for it were at hand to pin
// (cashapp/hermit-packages' kind.hcl stops at 0.32.0). helm v4.2.3 is the Helm the chart tests run
// through the real engine (PyPI helm-python-sdk 0.2.2, its newest); v4.2.4 (2026-08-13, checksums
// in hermit's helm.hcl) and v4.3.x are newer, and would not be the engine the tests run.
//
// Checked on 2026-12-06 against each project's newest release (tags of the stored copies, newest
// commits 2026-08-21 to 2026-08-23, and later releases named in other projects' update PRs):
// - ingress-nginx 4.15.1: final. The project was archived in March 2026; 4.15.1 is the last
//   chart (gh-pages index.yaml), 4.14.5 closed the 4.14 line, 4.13.9 the 4.13 line.
// - vcluster 0.36.1: newest stable tag in the stored copy (0.37.0-rc.1 there); 0.37.1 has been
//   released since, and has no chart archive or values schema here to test against.
// - Traefik chart 41.3.0: newest in the stored copy (its master); 41.4.0 and 41.5.0 since, not
//   testable here (only the 41.3.0 archive is in ../shared/contracts).
// - Gateway API v1.6.1: newest tag in the stored copy; v1.6.2, v1.6.3 and v1.7.0 since. The
//   sha256 below is rebuilt from the source at the tag, which for those is not at hand.

/// kind v0.32.0's default node image: `pkg/apis/config/defaults/image.go` at tag v0.32.0. It is
/// what `kind create cluster` uses when `cluster.nodeImage` is unset.
pub const KIND_DEFAULT_NODE_IMAGE: &str =
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";

/// vcluster chart: loft-sh/vcluster v0.36.1, the newest stable chart in ../shared/contracts
/// (its values schema has `controlPlane.tlsRoute`, added in 0.34).
pub const VCLUSTER_REPO: &str = "https://charts.loft.sh";
pub const VCLUSTER_VERSION: &str = "0.36.1";

/// ingress-nginx chart 4.15.1 (controller v1.15.1): kubernetes/ingress-nginx tag
/// helm-chart-4.15.1, the last release before the project was retired (March 2026).
pub const INGRESS_NGINX_REPO: &str = "https://kubernetes.github.io/ingress-nginx";
pub const INGRESS_NGINX_VERSION: &str = "4.15.1";

/// The newest Kubernetes minor each ingress-nginx chart line was tested on: the "Supported
/// Versions table" of README.md at kubernetes/ingress-nginx tag helm-chart-4.15.1 (v1.15.x: 1.35
/// down to 1.31; v1.14.x: 1.34; v1.13.x: 1.33).
pub const INGRESS_NGINX_MAX_KUBERNETES: &[(&str, (u32, u32))] =
    &[("4.15.", (1, 35)), ("4.14.", (1, 34)), ("4.13.", (1, 33))];

/// Traefik chart 41.3.0 (Traefik v3.7.11): traefik/traefik-helm-chart tag v41.3.0, the Gateway API
/// implementation behind `router.kind: gateway-api` (README, "The Gateway API router").
pub const TRAEFIK_REPO: &str = "https://traefik.github.io/charts";
pub const TRAEFIK_CHART: &str = "traefik";
pub const TRAEFIK_VERSION: &str = "41.3.0";

/// Gateway API: kubernetes-sigs/gateway-api tag v1.6.1 (2026-07-16). TLSRoute is served only as
/// `gateway.networking.k8s.io/v1` by its standard channel (v1alpha2/v1alpha3 are `served: false`).
pub const GATEWAY_API_VERSION: &str = "v1.6.1";
pub const GATEWAY_API_STANDARD_INSTALL_URL: &str =
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml";
/// sha256 of the release asset `standard-install.yaml`, rebuilt from the source at tag v1.6.1
/// exactly as the release does (`make build-install-yaml`, i.e. `hack/build-install-yaml.sh`: the
/// boilerplate, which carries no year, then each `config/crd/standard/gateway*.yaml` behind a
/// `# <path>` header). The project's `verify-release-artifacts` workflow checks the published
/// asset equals that build. No internet here to download the asset itself: the first real fetch
/// confirms this pin, or refuses the file and says so. Its documents, comments aside, equal
/// ../shared/contracts/crds/gateway-api-v1.6.1-standard-install.yaml (checked when pinned).
pub const GATEWAY_API_STANDARD_INSTALL_SHA256: &str =
    "24d931f22abd8e40c973264319ead7cfa09d0fb7716b7ab1ee2ff174cb063a73";

/// `v1.36.1` (or `kindest/node:v1.36.1@sha256:...`) as (major, minor); None when the tag is no
/// Kubernetes version (a locally built image, `latest`).
pub fn kubernetes_minor(image: &str) -> Option<(u32, u32)> {
    let without_digest = image.split('@').next()?;
    // The tag is after the last ':' that follows the last '/', so registry ports do not confuse it.
    let name_start = without_digest.rfind('/').map_or(0, |i| i + 1);
    let tag = without_digest[name_start..].split_once(':')?.1;
    let (major, minor) = crate::core::version::major_minor(tag.strip_prefix('v')?)?;
    Some((major.try_into().ok()?, minor.try_into().ok()?))
}

/// The newest Kubernetes minor an ingress-nginx chart version is known to support.
pub fn ingress_nginx_max_kubernetes(chart_version: &str) -> Option<(u32, u32)> {
    let v = chart_version.trim_start_matches('v');
    INGRESS_NGINX_MAX_KUBERNETES
        .iter()
        .find(|(prefix, _)| v.starts_with(prefix))
        .map(|(_, max)| *max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_version_of_node_images() {
        assert_eq!(kubernetes_minor(KIND_DEFAULT_NODE_IMAGE), Some((1, 36)));
        assert_eq!(kubernetes_minor("kindest/node:v1.35.0"), Some((1, 35)));
        assert_eq!(
            kubernetes_minor("registry.local:5000/kindest/node:v1.33.4"),
            Some((1, 33))
        );
        assert_eq!(kubernetes_minor("my/node:latest"), None);
        assert_eq!(kubernetes_minor("registry.local:5000/node"), None);
    }

    #[test]
    fn ingress_nginx_support_by_chart_line() {
        assert_eq!(ingress_nginx_max_kubernetes("4.15.1"), Some((1, 35)));
        assert_eq!(ingress_nginx_max_kubernetes("4.14.1"), Some((1, 34)));
        assert_eq!(ingress_nginx_max_kubernetes("9.0.0"), None);
    }
}
