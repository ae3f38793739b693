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
//   sha256 is rebuilt from the source at the tag, which for those is not at hand.
//
// A router kind's pins (its chart, the manifests it needs) live in its own file of
// `core::router`, with the same notes: a new kind is one file.

/// kind v0.32.0's default node image: `pkg/apis/config/defaults/image.go` at tag v0.32.0. It is
/// what `kind create cluster` uses when `cluster.nodeImage` is unset.
pub const KIND_DEFAULT_NODE_IMAGE: &str =
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";

/// vcluster chart: loft-sh/vcluster v0.36.1, the newest stable chart in ../shared/contracts
/// (its values schema has `controlPlane.tlsRoute`, added in 0.34).
pub const VCLUSTER_REPO: &str = "https://charts.loft.sh";
pub const VCLUSTER_VERSION: &str = "0.36.1";

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
}
