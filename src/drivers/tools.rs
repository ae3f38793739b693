//! The outside programs we drive (kind, helm): where they are, or how to get them. Fetching
//! the pinned releases when they are missing is `toolchain`'s job.

/// An outside program we drive, the variable that overrides where it is, and how to get it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub var: &'static str,
    pub hint: &'static str,
}

pub const KIND: Tool = Tool {
    name: "kind",
    var: "BOOTSTRAP_KIND",
    hint: "install kind v0.32.0: `go install sigs.k8s.io/kind@v0.32.0`, or download \
https://kind.sigs.k8s.io/dl/v0.32.0/kind-linux-amd64 (kind-darwin-arm64 on Apple silicon) into your PATH; \
with network access `bootstrap up` fetches it into its cache by itself",
};

pub const HELM: Tool = Tool {
    name: "helm",
    var: "BOOTSTRAP_HELM",
    hint: "install helm 3 or 4 (v4.2.3 is pinned): https://get.helm.sh/helm-v4.2.3-linux-amd64.tar.gz \
(helm-v4.2.3-darwin-arm64.tar.gz on Apple silicon), or `brew install helm`; with network access \
`bootstrap up` fetches it into its cache by itself",
};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Not usable from PATH or the cache, and not fetched (offline, no network, no pin).
    #[error("{why}\n  hint: {hint}; or set {var} to its path")]
    Unavailable {
        name: &'static str,
        var: &'static str,
        hint: &'static str,
        why: String,
    },
    #[error("{var}={value} does not name an executable ({cause})\n  hint: point {var} at the {name} binary, or unset it to search PATH")]
    BadOverride {
        name: &'static str,
        var: &'static str,
        value: String,
        cause: String,
    },
}
