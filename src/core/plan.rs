//! The plan: what `up` would do, as ordered actions. Each step of the pipeline (`steps`) says
//! its own part from what it observed; this module holds the shared vocabulary and prints it.

use serde::Serialize;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Op {
    Preflight,
    CreateCluster,
    StartCluster,
    RecreateCluster,
    JoinNetwork,
    InstallRouter,
    UpgradeRouter,
    InstallVcluster,
    UpgradeVcluster,
    /// A release of ours left `pending-*` by an interrupted helm, recovered before it is upgraded.
    RecoverRelease,
    /// Upstream manifests a router needs (the Gateway API CRDs), fetched pinned by sha256.
    ApplyCrds,
    /// The router's own objects besides its chart (GatewayClass, Gateway).
    ApplyObject,
    /// Something of ours the file no longer wants (the previous router's release and objects).
    Remove,
    /// The local registry: its container, the nodes' host files, the KEP-1755 ConfigMap.
    Registry,
    /// The pull-through caches: their containers and the nodes' host files for each upstream.
    Cache,
    /// Pull the images the charts run into the pull-through caches (a fetch, not a change).
    WarmCache,
    ApplyRoute,
    /// A vcluster whose release is converged but whose kubeconfig secret is not there yet.
    WaitVcluster,
    WriteContext,
    RegisterArgocd,
    /// Something of the user's that already is what the file wants: used, never changed.
    Adopt,
    /// A cluster bootstrap began creating, interrupted before it carried our record.
    RecordCluster,
    Verify,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub op: Op,
    pub target: String,
    pub detail: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Counted changes (checks and notes excluded): zero means converged.
    pub changes: usize,
}

impl Op {
    /// Its serde name (strum derives the same from the variants).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Counts as a change: zero changes means converged.
    pub fn is_change(self) -> bool {
        !matches!(
            self,
            Op::Preflight | Op::Verify | Op::Adopt | Op::WaitVcluster | Op::WarmCache
        )
    }

    /// Said, but nothing runs for it.
    pub fn is_note(self) -> bool {
        matches!(self, Op::Preflight | Op::Adopt)
    }
}

/// An action, built by a step.
pub fn act(op: Op, target: impl Into<String>, detail: impl Into<String>, reason: &str) -> Action {
    Action {
        op,
        target: target.into(),
        detail: detail.into(),
        reason: reason.to_owned(),
    }
}

/// `chart vcluster 0.26.0`, as plans show a chart.
pub fn chart_ref(c: &crate::core::config::Chart) -> String {
    match (&c.path, &c.version) {
        (Some(p), _) => format!("chart {p}"),
        (None, Some(v)) => format!("chart {} {v}", c.name),
        (None, None) => format!("chart {}", c.name),
    }
}

impl Plan {
    pub fn new(actions: Vec<Action>) -> Plan {
        let changes = actions.iter().filter(|a| a.op.is_change()).count();
        Plan { actions, changes }
    }
}

/// The plan as a person reads it.
pub fn format_plan(p: &Plan) -> String {
    let mut s = String::new();
    let width = p
        .actions
        .iter()
        .map(|a| a.op.as_str().len())
        .max()
        .unwrap_or(0);
    for (i, a) in p.actions.iter().enumerate() {
        s.push_str(&format!(
            "{:>2}. {:<width$}  {}\n    {}  ({})\n",
            i + 1,
            a.op.as_str(),
            a.target,
            a.detail,
            a.reason
        ));
    }
    if p.changes == 0 {
        s.push_str("Nothing to change: the environment is converged.\n");
    } else {
        s.push_str(&format!(
            "{} change{} to make.\n",
            p.changes,
            if p.changes == 1 { "" } else { "s" }
        ));
    }
    s
}
