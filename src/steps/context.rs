//! The context every step shares: the file, the mode, the options, progress, and what earlier
//! steps learned (the Docker connection, where we stand, the host cluster's credentials and API,
//! each vcluster's credentials, the kubeconfig entries to write, verify's report). Steps of one
//! stage run side by side, so what they learn goes behind locks.

use crate::core::config::Env;
use crate::core::kubeconfig::Entry;
use crate::drivers::docker::Conn;
use crate::drivers::helm::Helm;
use crate::drivers::kubeconfig::Paths;
use crate::progress::Progress;
use crate::steps::routes::Creds;
use crate::zone::ZoneVerdict;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `plan --offline`: nothing is observed.
    Offline,
    /// `plan`: observe and diff, change nothing.
    Plan,
    Up,
    Down,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// `up --recreate`: recreate a cluster of ours that drifted in what cannot change in place.
    pub recreate: bool,
    /// `up` ends with verify (not with --no-verify).
    pub verify: bool,
    /// Per-layer timeout of route probes and verify.
    pub timeout: Duration,
    /// helm --wait timeout for one release.
    pub helm_timeout: Duration,
    /// How long to wait for a vcluster to publish its kubeconfig secret.
    pub secret_timeout: Duration,
    /// --kubeconfig, else the file's `kubeconfig.path`, else KUBECONFIG / ~/.kube/config.
    pub kubeconfig: Option<String>,
    /// `down --keep-cluster`.
    pub keep_cluster: bool,
    /// `down --force`: also remove same-named things bootstrap did not make.
    pub force: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            recreate: false,
            verify: true,
            timeout: Duration::from_secs(2),
            helm_timeout: Duration::from_secs(300),
            secret_timeout: Duration::from_secs(180),
            kubeconfig: None,
            keep_cluster: false,
            force: false,
        }
    }
}

/// The host cluster's API, once a route to it verified: a client for our reads and applies, and
/// helm pointed at the same private kubeconfig.
pub struct Api {
    pub client: kube::Client,
    pub helm: Helm,
    /// Keeps the private kubeconfig (and its folder) alive while helm may need it.
    pub _scratch: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

pub struct Cx<'a> {
    pub env: &'a Env,
    pub mode: Mode,
    pub opts: &'a Options,
    pub progress: &'a Progress,
    pub paths: Paths,
    pub docker: Mutex<Option<Conn>>,
    pub zone: Mutex<Option<ZoneVerdict>>,
    /// The host cluster's admin credentials (kind's admin kubeconfig, or the user's context).
    pub host_creds: Mutex<Option<Creds>>,
    /// Set by the cluster step in `down` when it will delete the whole cluster: the steps inside
    /// it then need not remove their parts one by one.
    pub cluster_goes: Mutex<bool>,
    pub api: Mutex<Option<std::sync::Arc<Api>>>,
    /// Each vcluster's credentials, by vcluster name, once it runs.
    pub vclusters: Mutex<BTreeMap<String, Creds>>,
    /// Kubeconfig entries to write, host cluster first.
    pub entries: Mutex<Vec<Entry>>,
    /// Changes made so far in this run (any step), which tells later steps to look again and
    /// the routes step that a just-installed vcluster may need a moment.
    pub changed: Mutex<usize>,
    pub report: Mutex<Option<crate::verify::Report>>,
}

impl<'a> Cx<'a> {
    pub fn new(
        env: &'a Env,
        mode: Mode,
        opts: &'a Options,
        progress: &'a Progress,
    ) -> anyhow::Result<Self> {
        let explicit = opts
            .kubeconfig
            .clone()
            .or_else(|| env.kubeconfig.path.clone());
        let paths = crate::drivers::kubeconfig::paths::from_env(explicit.as_deref())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Cx {
            env,
            mode,
            opts,
            progress,
            paths,
            docker: Mutex::new(None),
            zone: Mutex::new(None),
            host_creds: Mutex::new(None),
            cluster_goes: Mutex::new(false),
            api: Mutex::new(None),
            vclusters: Mutex::new(BTreeMap::new()),
            entries: Mutex::new(Vec::new()),
            changed: Mutex::new(0),
            report: Mutex::new(None),
        })
    }

    /// The owner of everything this environment makes (kubeconfig entries' mark).
    pub fn owner(&self) -> String {
        crate::core::ownership::owner(&self.env.cluster.name)
    }

    pub fn cluster(&self) -> &str {
        &self.env.cluster.name
    }

    pub fn docker(&self) -> Option<Conn> {
        self.docker.lock().ok()?.clone()
    }

    pub fn api(&self) -> Option<std::sync::Arc<Api>> {
        self.api.lock().ok()?.clone()
    }

    pub fn zone(&self) -> Option<ZoneVerdict> {
        self.zone.lock().ok()?.clone()
    }

    pub fn host_creds(&self) -> Option<Creds> {
        self.host_creds.lock().ok()?.clone()
    }

    pub fn vcluster_creds(&self, name: &str) -> Option<Creds> {
        self.vclusters.lock().ok()?.get(name).cloned()
    }

    pub fn set<T>(slot: &Mutex<T>, value: T) {
        if let Ok(mut g) = slot.lock() {
            *g = value;
        }
    }

    pub fn changed_so_far(&self) -> usize {
        self.changed.lock().map(|c| *c).unwrap_or(0)
    }

    pub fn cluster_goes(&self) -> bool {
        self.cluster_goes.lock().map(|c| *c).unwrap_or(false)
    }

    /// `plan` and `plan --offline` change nothing.
    pub fn dry_run(&self) -> bool {
        matches!(self.mode, Mode::Offline | Mode::Plan)
    }
}
