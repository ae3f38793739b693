//! Command-line surface. Exit codes: 0 ok, 1 an operation or check failed, 2 invalid input/usage.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "bootstrap",
    version,
    about = "Bring up, verify and tear down a local Kubernetes platform from one file",
    long_about = "Bring up, verify and tear down a local Kubernetes platform (a kind cluster, an SSL-passthrough \
router, vclusters and kube contexts) from one declarative file, envs.yaml.\n\n\
Settings layer as: built-in defaults < the file < BOOTSTRAP_* variables < flags.",
    after_help = "Examples:\n  bootstrap plan -f envs/localdev.yaml\n  bootstrap up\n  bootstrap verify -o json\n  bootstrap render kind-config\n  bootstrap down\n\n\
Exit codes: 0 ok, 1 an operation or check failed, 2 invalid input or usage.\n\
Variables: BOOTSTRAP_FILE, BOOTSTRAP_CLUSTER_NAME, BOOTSTRAP_NODE_IMAGE, BOOTSTRAP_API_PORT,\n\
  BOOTSTRAP_HTTPS_PORT, BOOTSTRAP_DOMAIN, BOOTSTRAP_ACCESS, BOOTSTRAP_KUBECONFIG, BOOTSTRAP_KIND, BOOTSTRAP_HELM,\n  BOOTSTRAP_OFFLINE, BOOTSTRAP_DOWNLOAD_MIRROR, XDG_CACHE_HOME (downloaded tools: $XDG_CACHE_HOME/bootstrap),\n  XDG_STATE_HOME (a cluster create under way: $XDG_STATE_HOME/bootstrap)"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// The environment file
    #[arg(
        short = 'f',
        long = "file",
        env = "BOOTSTRAP_FILE",
        default_value = "envs.yaml",
        global = true
    )]
    pub file: PathBuf,
    /// Kubeconfig file to read and write [env: BOOTSTRAP_KUBECONFIG] (default: first existing file of $KUBECONFIG, else ~/.kube/config)
    #[arg(long, global = true)]
    pub kubeconfig: Option<String>,
    /// Where you stand, which decides the routes written to the kubeconfig [env: BOOTSTRAP_ACCESS]
    #[arg(long, global = true, value_parser = ["auto", "host", "devcontainer", "wsl2", "kind-network"])]
    pub access: Option<String>,
    /// Output format for commands that print data
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    /// Show what runs underneath, on stderr: -v each kind/helm run and kube API call with its
    /// status and duration; -vv adds sizes and lock waits; -vvv kube's own debug events
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// BOOTSTRAP_* variables and flags, each with where it came from: filled once for every
    /// command by `commands::resolve_variables`.
    #[arg(skip)]
    pub overrides: Vec<crate::core::config::Override>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reconcile: create or repair what the file describes, then verify it
    #[command(
        after_help = "Examples:\n  bootstrap up\n  bootstrap up -f envs/localdev.yaml --recreate\n  bootstrap up --wait 10m        # a slow machine pulling images the first time\n  BOOTSTRAP_API_PORT=7443 bootstrap up"
    )]
    Up(UpArgs),
    /// Prove every context works, layer by layer (dns, tcp, tls, auth, api)
    #[command(
        after_help = "Examples:\n  bootstrap verify\n  bootstrap verify --context dev-vcluster --context kind-localdev\n  bootstrap verify -o json --timeout 5s"
    )]
    Verify(VerifyArgs),
    /// Remove what `up` made, and nothing else
    #[command(
        after_help = "Examples:\n  bootstrap down\n  bootstrap down --keep-cluster\n  bootstrap down --force   # also what bootstrap did not make"
    )]
    Down(DownArgs),
    /// Show what `up` would do, changing nothing
    #[command(
        after_help = "Examples:\n  bootstrap plan\n  bootstrap plan -f envs/localdev.yaml -o json\n  bootstrap plan --offline"
    )]
    Plan(PlanArgs),
    /// Show where you stand (zone), Docker, the cluster and the contexts
    #[command(after_help = "Examples:\n  bootstrap status\n  bootstrap status -o json")]
    Status,
    /// Print what the file implies, as YAML
    #[command(
        after_help = "Examples:\n  bootstrap render kind-config\n  bootstrap render vcluster dev\n  bootstrap render contexts --access devcontainer"
    )]
    Render(RenderArgs),
    /// Print or manage kubeconfig entries bootstrap owns
    #[command(
        after_help = "Examples:\n  bootstrap kubeconfig dev-vcluster --print > dev.kubeconfig\n  KUBECONFIG=dev.kubeconfig kubectl get ns"
    )]
    Kubeconfig(KubeconfigArgs),
    /// Write a starter envs.yaml for the choices given (never overwrites a file)
    #[command(
        after_help = "Examples:\n  bootstrap init\n  bootstrap init -f envs/team.yaml --vcluster dev --vcluster staging --registry\n  bootstrap init --router gateway-api --no-vclusters"
    )]
    Init(InitArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  bootstrap completions bash > ~/.local/share/bash-completion/completions/bootstrap\n  bootstrap completions zsh > \"${fpath[1]}/_bootstrap\"\n  bootstrap completions fish > ~/.config/fish/completions/bootstrap.fish\n  bootstrap completions powershell >> $PROFILE"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a folder
    #[command(
        after_help = "Examples:\n  bootstrap man | man -l -\n  bootstrap man --dir ~/.local/share/man/man1"
    )]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The router that passes TLS through to the vclusters (ingress-nginx was retired in March
    /// 2026: new files get the Gateway API router)
    #[arg(long, value_parser = ["ingress-nginx", "gateway-api"], default_value = "gateway-api")]
    pub router: String,
    /// A vcluster to create (repeatable); default: dev
    #[arg(long = "vcluster", value_name = "NAME")]
    pub vclusters: Vec<String>,
    /// No vclusters: just the kind cluster and its router
    #[arg(long, conflicts_with = "vclusters")]
    pub no_vclusters: bool,
    /// Run a local image registry beside the cluster (localhost:5001)
    #[arg(long)]
    pub registry: bool,
    /// The kind cluster's name
    #[arg(long, default_value = "localdev")]
    pub cluster_name: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write bootstrap.1 and one bootstrap-<command>.1 per command into this folder
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Recreate the cluster when it drifted in something that cannot change in place
    #[arg(long)]
    pub recreate: bool,
    /// Skip the final verify
    #[arg(long)]
    pub no_verify: bool,
    /// Never download: use kind and helm from BOOTSTRAP_KIND/BOOTSTRAP_HELM, PATH or the cache
    /// (also BOOTSTRAP_OFFLINE=1)
    #[arg(long)]
    pub offline: bool,
    /// Per-layer timeout of route probes and the final verify, such as 2s
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Longest wait for one thing a change started: a release becoming ready (helm --wait), a
    /// vcluster publishing its kubeconfig Secret, the router's load balancer getting an address
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub wait: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan from the file alone: observe nothing (no Docker, helm, cluster or kubeconfig reads).
    /// Not what `up --offline` means (never download): that `up` plans as `plan` does
    #[arg(long)]
    pub offline: bool,
    /// Per-layer timeout of the read-only route probes, such as 2s
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Check this context (repeatable); works without an envs.yaml
    #[arg(long = "context")]
    pub contexts: Vec<String>,
    /// Per-layer timeout, such as 2s or 500ms
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Keep the kind cluster; remove only what was installed into it and the contexts
    #[arg(long)]
    pub keep_cluster: bool,
    /// Also remove what has our names but not our mark (a cluster made by hand, a user's release)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(subcommand)]
    pub what: RenderWhat,
}

#[derive(Debug, Subcommand)]
pub enum RenderWhat {
    /// kind's cluster configuration (kind.x-k8s.io/v1alpha4)
    KindConfig,
    /// The router's Helm release and values
    Router,
    /// A vcluster's Helm release and chart values
    Vcluster {
        /// The vcluster's name in the file
        name: String,
    },
    /// The passthrough routes: Ingresses (ingress-nginx), or the GatewayClass, Gateway and
    /// TLSRoutes (gateway-api)
    Routes,
    /// Each context's server, tls-server-name and CA source for the access mode
    Contexts,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// The context to print
    pub context: String,
    /// Print a standalone kubeconfig for the context (never hangs, unlike `vcluster connect`)
    #[arg(long)]
    pub print: bool,
}

pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (try 2s or 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s or m)")),
    };
    if !(secs > 0.0 && secs < 3600.0) {
        return Err(format!("`{s}` must be between 0 and 1h"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Whether a command line asks for JSON output, read without clap (for when clap refused it).
pub fn wants_json(args: impl IntoIterator<Item = String>) -> bool {
    let mut args = args.into_iter().skip(1);
    while let Some(a) = args.next() {
        let value = match a.as_str() {
            "-o" | "--output" => args.next(),
            _ => a
                .strip_prefix("--output=")
                .or_else(|| a.strip_prefix("-o="))
                .or_else(|| a.strip_prefix("-o"))
                .map(str::to_owned),
        };
        if value.as_deref() == Some("json") {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_seen_however_it_is_asked_for() {
        let w = |s: &str| wants_json(s.split(' ').map(str::to_owned));
        assert!(w("bootstrap up -o json"));
        assert!(w("bootstrap -ojson up"));
        assert!(w("bootstrap --output=json up"));
        assert!(w("bootstrap --output json bogus"));
        assert!(!w("bootstrap up -o table"));
        assert!(!w("bootstrap render vcluster json"));
    }
}
