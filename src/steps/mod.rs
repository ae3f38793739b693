//! The pipeline `plan`, `up` and `down` walk: every part of the environment is one step with
//! the same small interface, modelled on kind's cluster creation (a list of actions sharing one
//! context). `plan` is observe + diff, `plan --offline` is diff against nothing observed, `up`
//! adds apply, `down` walks the list backwards with remove. One description of the sequence
//! (`pipeline`), so the four cannot disagree; adding a step is a file and a line there.

pub mod argocd;
pub mod cache;
pub mod cluster;
pub mod context;
pub mod exposure;
pub mod host_dial;
pub mod kubeconfig;
pub mod network;
pub mod preflight;
pub mod registry;
pub mod releases;
pub mod router;
pub mod runner;
pub mod vcluster;
pub mod vcluster_dial;
pub mod verify;

pub use context::{Cx, Mode, Options};
pub use runner::{down, plan, up, Outcome};

use crate::core::config::{Env, Provider};
use crate::core::plan::Action;
use anyhow::Result;

/// What a step found to do, and what stops `up` before any change (a port taken, something of
/// someone else's under a name we would use).
#[derive(Debug, Default, Clone)]
pub struct Diff {
    pub actions: Vec<Action>,
    pub blockers: Vec<String>,
}

impl Diff {
    pub fn one(a: Action) -> Diff {
        Diff {
            actions: vec![a],
            blockers: Vec::new(),
        }
    }

    /// Something `apply` must do: a change, or a check that runs on `up`.
    pub fn needs_apply(&self) -> bool {
        self.actions.iter().any(|a| !a.op.is_note())
    }

    pub fn changes(&self) -> usize {
        self.actions.iter().filter(|a| a.op.is_change()).count()
    }
}

/// Whether `observe` could look, and if not, why (said in the plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Looked {
    Yes,
    /// Nothing to look at yet: what this step needs comes from an earlier step's change.
    Not(String),
}

/// What a step hands to the steps after it. A step returns these (`Step::outputs`) and never
/// writes the shared context itself; the runner keeps each in `Cx` the moment the step's call
/// returns, where later steps read it. Who makes what:
///
/// | output          | made by                               | read by                              |
/// |-----------------|---------------------------------------|--------------------------------------|
/// | `Docker`, `Zone`| preflight                             | every step that talks to Docker; vcluster dial |
/// | `HostCreds`     | cluster (kind) or existing cluster    | host dial                            |
/// | `ClusterGoes`   | cluster, in `down`                    | the steps inside it (their `remove`) |
/// | `Api`           | host dial                             | registry, router, vclusters, argocd, verify |
/// | `HostEntry`     | host dial                             | kubeconfig                           |
/// | `VclusterCreds` | each vcluster                         | vcluster dial, argocd                |
/// | `VclusterEntries` | vcluster dial                       | kubeconfig                           |
/// | `Report`        | verify                                | the command (`up`'s outcome)         |
///
/// The runner's own: the count of changes made so far, and the releases the planned changes
/// install (`runner::get_downloads`, read by the cache step's warm-up).
pub enum Output {
    Docker(crate::drivers::docker::connect::Conn),
    Zone(crate::core::zone::ZoneVerdict),
    HostCreds(crate::core::kubeconfig::doc::Credentials),
    ClusterGoes(bool),
    Api(std::sync::Arc<context::Api>),
    HostEntry(crate::core::kubeconfig::Entry),
    VclusterCreds(String, crate::core::kubeconfig::doc::Credentials),
    VclusterEntries(Vec<crate::core::kubeconfig::Entry>),
    Report(crate::core::verify::Report),
}

/// Which step this is, for the walk to tell them apart (`name` is for people: it is what
/// progress prints, and a vcluster's carries its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepId {
    Preflight,
    Cluster,
    ExistingCluster,
    Cache,
    Network,
    HostDial,
    Registry,
    CacheHosts,
    Router,
    Vcluster,
    VclusterDial,
    Kubeconfig,
    Argocd,
    Verify,
}

/// One part of the environment. `observe` reads (never writes), `diff` is pure over what
/// `observe` stored in the step (or nothing, offline), `apply` makes the difference and says
/// what it changed, `remove` takes away what this step made: only what carries our mark.
#[async_trait::async_trait(?Send)]
pub trait Step {
    fn id(&self) -> StepId;
    /// What the step made for the steps after it since last asked (see `Output`).
    fn outputs(&mut self) -> Vec<Output> {
        Vec::new()
    }
    /// For progress lines: "cluster", "vcluster dev".
    fn name(&self) -> String;
    async fn observe(&mut self, cx: &Cx<'_>) -> Result<Looked>;
    /// Finish what `observe` left running in the background (a slow read that the next steps
    /// need not wait for); called for every step once all have observed, before any diff.
    async fn settle(&mut self, _cx: &Cx<'_>) -> Result<()> {
        Ok(())
    }
    /// Nothing to do, unless the step says otherwise (preflight and the host route only look).
    fn diff(&self, _cx: &Cx<'_>) -> Diff {
        Diff::default()
    }
    async fn apply(&mut self, _cx: &Cx<'_>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Nothing of its own to remove, unless the step made something.
    async fn remove(&mut self, _cx: &Cx<'_>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// The executables `apply` will run for the difference `diff` found. `up` gets them all
    /// (found, or fetched into the cache) before the first change, so a tool that cannot be had
    /// stops `up` with nothing changed rather than halfway.
    fn tools(&self, _cx: &Cx<'_>) -> Vec<&'static crate::drivers::toolchain::Pinned> {
        Vec::new()
    }
    /// The helm releases the planned changes install from a repository (`cache:` on): their
    /// charts are kept by digest before the first change, and their images warmed.
    fn installs(&self, _cx: &Cx<'_>) -> Vec<crate::core::release::Release> {
        Vec::new()
    }
    /// The pinned files (release manifests) `apply` will read, fetched before the first change
    /// for the same reason.
    fn files(&self, _cx: &Cx<'_>) -> Vec<crate::core::router::PinnedManifest> {
        Vec::new()
    }
    /// Anything else from the network `apply` will need (a container image), got before the
    /// first change. Only called when `diff` says there is something to apply.
    async fn prefetch(&self, _cx: &Cx<'_>) -> Result<()> {
        Ok(())
    }
}

/// Keep what the step made for the steps after it (`Output`), right as its call returns.
pub(crate) fn keep(s: &mut dyn Step, cx: &Cx<'_>) {
    for out in s.outputs() {
        cx.publish(out);
    }
}

/// `observe`, then keep what it made.
pub(crate) async fn look(s: &mut dyn Step, cx: &Cx<'_>) -> Result<Looked> {
    let r = s.observe(cx).await;
    keep(s, cx);
    r
}

/// End a step's progress line with what its apply did.
pub(crate) fn finish(
    step: crate::progress::Step,
    result: Result<Vec<String>>,
) -> Result<Vec<String>> {
    match &result {
        Ok(c) if c.is_empty() => step.finish("converged"),
        Ok(c) => step.finish(&format!("{} change(s)", c.len())),
        Err(_) => step.fail("failed"),
    }
    result
}

/// Steps that run side by side (the vclusters); stages run in order.
pub type Stage = Vec<Box<dyn Step>>;

/// The one description of the sequence.
pub fn pipeline(env: &Env) -> Vec<Stage> {
    let mut stages: Vec<Stage> = vec![vec![Box::new(preflight::Preflight::default())]];
    match env.cluster.provider {
        Provider::Kind => {
            // The caches are made and warmed while kind makes the nodes: the images the charts
            // will run cross the network once, beside `kind create cluster`.
            stages.push(vec![
                Box::new(cluster::Cluster::default()),
                Box::new(cache::Cache::default()),
            ]);
            stages.push(vec![Box::new(network::Network::default())]);
        }
        Provider::Existing => stages.push(vec![Box::new(cluster::Existing::default())]),
    }
    stages.push(vec![Box::new(host_dial::HostDial::default())]);
    if env.cluster.provider == Provider::Kind {
        // Also when the file dropped the section: `down` still finds a registry of ours.
        stages.push(vec![Box::new(registry::Registry::default())]);
        // Before the charts: their images are pulled through the caches.
        stages.push(vec![Box::new(cache::CacheHosts::default())]);
    }
    if !env.vclusters.is_empty() {
        stages.push(vec![Box::new(router::Router::new(env))]);
        stages.push(
            (0..env.vclusters.len())
                .map(|i| Box::new(vcluster::Vcluster::new(env, i)) as Box<dyn Step>)
                .collect(),
        );
        stages.push(vec![Box::new(vcluster_dial::VclusterDial::default())]);
    }
    stages.push(vec![Box::new(kubeconfig::Kubeconfig::default())]);
    if env.argocd.register && !env.vclusters.is_empty() {
        stages.push(vec![Box::new(argocd::Argocd::default())]);
    }
    stages.push(vec![Box::new(verify::Verify::default())]);
    stages
}
