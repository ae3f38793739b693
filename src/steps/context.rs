//! The context every step shares: the file, the mode, the options, progress, and what earlier
//! steps learned (the Docker connection, where we stand, the host cluster's credentials and API,
//! each vcluster's credentials, the kubeconfig entries to write, verify's report). Steps of one
//! stage run side by side, so what they learn goes behind locks.

use crate::core::config::Env;
use crate::core::kubeconfig::doc::Credentials;
use crate::core::kubeconfig::Entry;
use crate::core::zone::ZoneVerdict;
use crate::drivers::docker::Conn;
use crate::drivers::helm::Helm;
use crate::drivers::kubeconfig::{Paths, StoreError};
use crate::drivers::toolchain::Pinned;
use crate::progress::Progress;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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
    /// The kubeconfig files, as the command found them (`commands::kubeconfig_paths`); None:
    /// the file's `kubeconfig.path` (relative to where we stand), else KUBECONFIG, else
    /// `~/.kube/config`.
    pub kubeconfig: Option<crate::drivers::kubeconfig::Paths>,
    /// `down --keep-cluster`.
    pub keep_cluster: bool,
    /// `down --force`: also remove same-named things bootstrap did not make.
    pub force: bool,
    /// `up --offline` (or BOOTSTRAP_OFFLINE=1): never download a tool; say how to get it.
    pub offline: bool,
    /// The Docker config file the pull-through caches take upstream credentials from
    /// (`cache.credentials`, made absolute by the command; else the user's own when it exists).
    pub cache_credentials: Option<std::path::PathBuf>,
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
            offline: false,
            cache_credentials: None,
        }
    }
}

/// The host cluster's API, once a route to it verified: a client for our reads and applies, and
/// a private kubeconfig holding just that route, for helm.
pub struct Api {
    pub client: kube::Client,
    /// Keeps the private kubeconfig (and its folder) alive while helm may need it.
    pub _scratch: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub context: String,
}

impl Api {
    /// helm, at `bin`, driven through our private kubeconfig.
    pub fn helm(&self, bin: PathBuf) -> Helm {
        Helm {
            bin,
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

/// The entry chosen for a context, with the probe that proved it (none when there was only one
/// candidate: verify judges that one).
pub struct Chosen {
    pub entry: Entry,
    pub proof: Option<crate::core::verify::report::ContextReport>,
}

pub struct Cx<'a> {
    pub env: &'a Env,
    pub mode: Mode,
    pub opts: &'a Options,
    pub progress: &'a Progress,
    pub paths: Paths,
    docker: Mutex<Option<Conn>>,
    zone: Mutex<Option<ZoneVerdict>>,
    /// The host cluster's admin credentials (kind's admin kubeconfig, or the user's context).
    host_creds: Mutex<Option<Credentials>>,
    /// Set by the cluster step in `down` when it will delete the whole cluster: the steps inside
    /// it then need not remove their parts one by one.
    cluster_goes: Mutex<bool>,
    api: Mutex<Option<std::sync::Arc<Api>>>,
    /// Each vcluster's credentials, by vcluster name, once it runs.
    vclusters: Mutex<BTreeMap<String, Credentials>>,
    /// Kubeconfig entries to write, host cluster first.
    entries: Mutex<Vec<Entry>>,
    /// Changes made so far in this run (any step), which tells later steps to look again and
    /// the vcluster dial step that a just-installed vcluster may need a moment.
    pub(super) changed: Mutex<usize>,
    report: Mutex<Option<crate::core::verify::Report>>,
    /// Each context whose dial a probe of this run proved, with the entry it proved: `up`'s
    /// verify does not dial again what nothing has changed since.
    proven: Mutex<BTreeMap<String, (Entry, crate::core::verify::report::ContextReport)>>,
    /// The releases the planned changes install (`cache:` on), each from its kept archive: set
    /// once before the first change (`runner::get_downloads`), read by the cache step, which
    /// warms their images while the cluster is made.
    pub(super) installs: Mutex<Vec<crate::core::release::Release>>,
    memo: Memo,
}

/// What the run looked up once and reuses: caches of reads and lookups, filled on first use by
/// whichever step asks first. Not data one step hands another (that is `Output`): a step that
/// reads one of these would get the same answer by looking itself, only slower.
#[derive(Default)]
struct Memo {
    /// Where each tool was found (or why not), looked up once and only when a step needs it:
    /// a converged `up` looks up none (a version check runs the tool).
    tools: Mutex<BTreeMap<&'static str, std::result::Result<PathBuf, String>>>,
    /// The user's kubeconfig files as this run read them, each once: the steps that look at it
    /// (the host cluster's context, our entries) share one read of a file that may hold tens of
    /// thousands of contexts. A write re-reads its file under the lock and empties this.
    kubeconfig_reads:
        Mutex<BTreeMap<PathBuf, Option<Arc<crate::drivers::kubeconfig::store::Read>>>>,
    /// Chart archives kept by digest (`cache:` on), found or fetched before the first change,
    /// by `core::charts::key`: the releases install from these.
    charts: Mutex<BTreeMap<String, PathBuf>>,
    /// `provider: existing`: the user's context, alone (`doc::standalone` of what kubectl sees),
    /// taken once and shared by the cluster step (its credentials) and the host dial (its
    /// private kubeconfig).
    host_context: Mutex<Option<serde_json::Value>>,
    /// The images of the releases the planned changes install (`Cx::installs`), rendered once
    /// (`helm template`) for the offline check and the warm-up.
    images: tokio::sync::OnceCell<std::result::Result<Vec<String>, String>>,
}

impl<'a> Cx<'a> {
    pub fn new(
        env: &'a Env,
        mode: Mode,
        opts: &'a Options,
        progress: &'a Progress,
    ) -> anyhow::Result<Self> {
        let paths = match &opts.kubeconfig {
            Some(p) => p.clone(),
            None => crate::drivers::kubeconfig::paths::from_env(env.kubeconfig.path.as_deref())
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        };
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
            proven: Mutex::new(BTreeMap::new()),
            installs: Mutex::new(Vec::new()),
            memo: Memo::default(),
        })
    }

    /// Keep the proofs of what the route probes chose; the entries, for the kubeconfig step.
    pub fn proved(&self, chosen: Vec<Chosen>) -> Vec<Entry> {
        let mut proven = self.proven.lock().ok();
        chosen
            .into_iter()
            .map(|c| {
                if let (Some(p), Some(proof)) = (proven.as_mut(), c.proof) {
                    p.insert(c.entry.context.clone(), (c.entry.clone(), proof));
                }
                c.entry
            })
            .collect()
    }

    /// The proofs kept, when nothing has changed since they were made (a converged run).
    pub fn proofs(&self) -> BTreeMap<String, (Entry, crate::core::verify::report::ContextReport)> {
        if self.changed_so_far() > 0 {
            return BTreeMap::new();
        }
        self.proven.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// One kubeconfig file as read in this run (None: it does not exist).
    pub fn kubeconfig_file(
        &self,
        path: &std::path::Path,
    ) -> std::result::Result<Option<Arc<crate::drivers::kubeconfig::store::Read>>, StoreError> {
        if let Some(found) = self
            .memo
            .kubeconfig_reads
            .lock()
            .ok()
            .and_then(|r| r.get(path).cloned())
        {
            return Ok(found);
        }
        let read = crate::drivers::kubeconfig::store::read_keeping_bytes(path)?.map(Arc::new);
        if let Ok(mut r) = self.memo.kubeconfig_reads.lock() {
            r.insert(path.to_owned(), read.clone());
        }
        Ok(read)
    }

    /// What kubectl sees of the kubeconfig files: all of them merged, each read once per run.
    pub fn kubeconfig_merged(&self) -> std::result::Result<serde_json::Value, StoreError> {
        crate::drivers::kubeconfig::store::read_merged_with(&self.paths, |p| {
            Ok(self.kubeconfig_file(p)?.map(|r| r.tree.clone()))
        })
    }

    /// The user's context named by `cluster.context`, alone, as kubectl would see it: one read
    /// per run, whichever step asks first. The outer error is the files' (unreadable), the inner
    /// the context's (absent, dangling), which `down` lives with.
    pub fn host_context(
        &self,
    ) -> std::result::Result<
        std::result::Result<serde_json::Value, crate::core::kubeconfig::doc::DocError>,
        StoreError,
    > {
        if let Some(v) = self.memo.host_context.lock().ok().and_then(|h| h.clone()) {
            return Ok(Ok(v));
        }
        let merged = self.kubeconfig_merged()?;
        let one = crate::core::kubeconfig::doc::standalone(&merged, &self.env.cluster.context);
        if let (Ok(v), Ok(mut h)) = (&one, self.memo.host_context.lock()) {
            *h = Some(v.clone());
        }
        Ok(one)
    }

    /// The file our entries live in (`ours_target`), looked for in what this run read.
    pub fn kubeconfig_target(&self) -> PathBuf {
        crate::drivers::kubeconfig::ours_target_with(&self.paths, &self.owner(), |p| {
            self.kubeconfig_file(p)
                .ok()
                .flatten()
                .map(|r| r.tree.clone())
        })
    }

    /// A write session that starts from what this run already read of each file.
    pub fn kubeconfig_session(&self) -> crate::drivers::kubeconfig::Session {
        let mut s = crate::drivers::kubeconfig::Session::default();
        if let Ok(r) = self.memo.kubeconfig_reads.lock() {
            for (path, read) in r.iter() {
                if let Some(read) = read {
                    s.know(path, read.clone());
                }
            }
        }
        s
    }

    /// After a write: what was read is no longer what the files hold.
    pub fn kubeconfig_written(&self) {
        if let Ok(mut r) = self.memo.kubeconfig_reads.lock() {
            r.clear();
        }
    }

    pub fn toolchain_options(&self) -> crate::drivers::toolchain::Options {
        crate::drivers::toolchain::Options::from_env(self.opts.offline)
    }

    /// Whether tools may be downloaded in this run.
    pub fn may_download(&self) -> bool {
        self.mode == Mode::Up && !self.toolchain_options().offline
    }

    /// Where a tool is, without downloading: its variable, PATH at a fitting version, the cache.
    pub fn find_tool(&self, pin: &'static Pinned) -> std::result::Result<PathBuf, String> {
        if let Some(found) = self
            .memo
            .tools
            .lock()
            .ok()
            .and_then(|t| t.get(pin.tool.name).cloned())
        {
            return found;
        }
        let found = crate::drivers::toolchain::observe(pin, &self.toolchain_options())
            .map(|l| l.path)
            .map_err(|e| e.to_string());
        if let Ok(mut t) = self.memo.tools.lock() {
            t.insert(pin.tool.name, found.clone());
        }
        found
    }

    /// A tool to run now: found, or (in `up`, unless offline) the pinned release fetched into
    /// the cache and checked against its sha256.
    pub async fn tool(&self, pin: &'static Pinned) -> anyhow::Result<PathBuf> {
        if let Ok(p) = self.find_tool(pin) {
            return Ok(p);
        }
        if !self.may_download() {
            return self.find_tool(pin).map_err(|e| anyhow::anyhow!("{e}"));
        }
        let opts = self.toolchain_options();
        let located =
            tokio::task::spawn_blocking(move || crate::drivers::toolchain::ensure(pin, &opts))
                .await
                .map_err(|e| anyhow::anyhow!("fetching {}: {e}", pin.tool.name))?
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!("toolchain: {}: {}", pin.tool.name, located.describe(pin));
        if let Ok(mut t) = self.memo.tools.lock() {
            t.insert(pin.tool.name, Ok(located.path.clone()));
        }
        Ok(located.path)
    }

    /// A pinned file (a release's manifests), from the cache or fetched into it, through the
    /// same offline switch (`--offline`, BOOTSTRAP_OFFLINE) and mirror
    /// (BOOTSTRAP_DOWNLOAD_MIRROR) as the pinned tools: the pin still decides which bytes are
    /// accepted.
    /// The kept archive of a chart (`drivers::charts`), fetched and kept first when it is not.
    pub async fn chart(&self, c: &crate::core::config::Chart) -> anyhow::Result<PathBuf> {
        let (Some(repo), Some(version)) = (c.repo.clone(), c.version.clone()) else {
            anyhow::bail!("chart {} names no repository and version", c.name);
        };
        let k = crate::core::charts::key(&repo, &c.name, &version);
        if let Some(p) = self.memo.charts.lock().unwrap().get(&k) {
            return Ok(p.clone());
        }
        let o = crate::drivers::toolchain::Options::from_env(self.opts.offline);
        let mut fetcher = crate::drivers::fetch::Fetcher::new(o.cache, o.show);
        fetcher.offline = o.offline;
        let name = c.name.clone();
        let path = tokio::task::spawn_blocking(move || {
            crate::drivers::charts::ensure(&fetcher, o.offline, &repo, &name, &version)
        })
        .await
        .map_err(|e| anyhow::anyhow!("keeping chart {}: {e}", c.name))??;
        self.memo.charts.lock().unwrap().insert(k, path.clone());
        Ok(path)
    }

    /// Every image the releases in `installs` run, each once: their charts rendered by `helm
    /// template` with the values `up` installs them with (the list follows the chart version).
    pub async fn planned_images(&self) -> std::result::Result<Vec<String>, String> {
        self.memo
            .images
            .get_or_init(|| async {
                let installs = self.installs.lock().map(|i| i.clone()).unwrap_or_default();
                if installs.is_empty() {
                    return Ok(Vec::new());
                }
                let helm = crate::drivers::helm::Helm {
                    bin: self
                        .tool(&crate::drivers::toolchain::HELM_PIN)
                        .await
                        .map_err(|e| format!("{e:#}"))?,
                    kubeconfig: PathBuf::new(),
                    context: String::new(),
                };
                let rendered =
                    futures::future::join_all(installs.iter().map(|r| helm.template(r))).await;
                let mut all: Vec<String> = Vec::new();
                for (r, text) in installs.iter().zip(rendered) {
                    let text =
                        text.map_err(|e| format!("rendering {}/{}: {e:#}", r.namespace, r.name))?;
                    for i in crate::core::images::in_manifest(&text)
                        .map_err(|e| format!("{}/{}: {e}", r.namespace, r.name))?
                    {
                        if !all.contains(&i) {
                            all.push(i);
                        }
                    }
                }
                Ok(all)
            })
            .await
            .clone()
    }

    /// The kept archive of this chart, when `up` found or fetched it before its first change.
    pub fn kept_chart(&self, c: &crate::core::config::Chart) -> Option<PathBuf> {
        let (repo, version) = (c.repo.as_ref()?, c.version.as_ref()?);
        let k = crate::core::charts::key(repo, &c.name, version);
        self.memo.charts.lock().unwrap().get(&k).cloned()
    }

    pub async fn file(&self, p: &crate::core::router::PinnedManifest) -> anyhow::Result<PathBuf> {
        let o = crate::drivers::toolchain::Options::from_env(self.opts.offline);
        let url = crate::drivers::toolchain::through_mirror(p.url, o.mirror.as_deref());
        let mut fetcher = crate::drivers::fetch::Fetcher::new(o.cache, o.show);
        fetcher.offline = o.offline;
        let sha = p.sha256.to_owned();
        let (what, shown) = (p.what, p.url);
        tokio::task::spawn_blocking(move || fetcher.fetch(&url, &sha))
            .await
            .map_err(|e| anyhow::anyhow!("fetching {shown}: {e}"))?
            .map_err(|e| anyhow::anyhow!("fetching {what}: {e}"))
    }

    /// For a step's diff: the blocker when `pin` is needed and can be neither found nor fetched.
    pub fn tool_blocker(&self, pin: &'static Pinned) -> Option<String> {
        match self.find_tool(pin) {
            Ok(_) => None,
            // `down` never downloads and does without (Docker removes kind's nodes).
            Err(_) if self.mode == Mode::Down => None,
            Err(_) if !self.toolchain_options().offline => None,
            // Offline: say what a fetch would have needed, as `ensure` says it (no request).
            Err(e) => Some(
                crate::drivers::toolchain::ensure(pin, &self.toolchain_options())
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or(e),
            ),
        }
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

    pub fn host_creds(&self) -> Option<Credentials> {
        self.host_creds.lock().ok()?.clone()
    }

    pub fn vcluster_creds(&self, name: &str) -> Option<Credentials> {
        self.vclusters.lock().ok()?.get(name).cloned()
    }

    fn set<T>(slot: &Mutex<T>, value: T) {
        if let Ok(mut g) = slot.lock() {
            *g = value;
        }
    }

    /// Keep what a step made for the steps after it (the runner's call, never a step's).
    pub(super) fn publish(&self, out: super::Output) {
        use super::Output;
        match out {
            Output::Docker(c) => Self::set(&self.docker, Some(c)),
            Output::Zone(z) => Self::set(&self.zone, Some(z)),
            Output::HostCreds(c) => Self::set(&self.host_creds, Some(c)),
            Output::ClusterGoes(g) => Self::set(&self.cluster_goes, g),
            Output::Api(a) => Self::set(&self.api, Some(a)),
            Output::HostEntry(e) => {
                if let Ok(mut all) = self.entries.lock() {
                    all.retain(|x| x.context != e.context);
                    all.insert(0, e);
                }
            }
            Output::VclusterCreds(name, c) => {
                if let Ok(mut m) = self.vclusters.lock() {
                    m.insert(name, c);
                }
            }
            Output::VclusterEntries(entries) => {
                if let Ok(mut all) = self.entries.lock() {
                    all.retain(|e| !entries.iter().any(|n| n.context == e.context));
                    all.extend(entries);
                }
            }
            Output::Report(r) => Self::set(&self.report, Some(r)),
        }
    }

    /// The kubeconfig entries to write, the host cluster's first.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Every running vcluster's credentials, by name.
    pub fn all_vcluster_creds(&self) -> BTreeMap<String, Credentials> {
        self.vclusters.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Verify's report, once (the command's outcome takes it).
    pub(super) fn take_report(&self) -> Option<crate::core::verify::Report> {
        self.report.lock().ok().and_then(|mut r| r.take())
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
