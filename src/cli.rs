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
    #[arg(long, global = true, value_parser = clap::builder::PossibleValuesParser::new(crate::core::config::AccessMode::NAMES))]
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
        after_help = "Examples:\n  bootstrap render kind-config\n  bootstrap render vcluster dev\n  bootstrap render contexts --access devcontainer\n  bootstrap render images -o json"
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
    /// Show or remove the pull-through image caches (shared by every environment here)
    #[command(
        after_help = "Examples:\n  bootstrap cache status\n  bootstrap cache status -o json\n  bootstrap cache prune\n  bootstrap cache prune docker.io\n\nThe caches are the containers and volumes labelled dev.bootstrap.cache; `up` makes them\nwhen the file has a `cache:` section, and `down` leaves them for the next cluster."
    )]
    Cache(CacheArgs),
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub action: CacheAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum CacheAction {
    /// Each upstream's cache: its state, its volume's size, and its hits since it started
    Status,
    /// Remove the cache containers and volumes (only those carrying the cache's label)
    Prune {
        /// Only the caches of these upstreams (such as docker.io); default: all of them
        upstreams: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The router that passes TLS through to the vclusters (ingress-nginx was retired in March
    /// 2026: new files get the Gateway API router)
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::core::router::kind_names()), default_value = "gateway-api")]
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
    /// The container images the router and the vclusters run (their charts rendered by `helm
    /// template` with the values `up` installs), and the pull-through cache serving each
    Images,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// The context to print
    pub context: String,
    /// Print a standalone kubeconfig for the context (never hangs, unlike `vcluster connect`)
    #[arg(long)]
    pub print: bool,
}

/// The longest duration a flag takes; `1h` itself is allowed, so that the unit the range names
/// is one the parser reads.
const LONGEST: f64 = 3600.0;

/// A duration such as `500ms`, `2s`, `5m` or `1h` (a bare number is seconds). clap prints the
/// value before this message ("invalid value '2h' for '--timeout <TIMEOUT>': ..."), so the
/// message does not repeat it.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    const VALID: &str =
        "a number and a unit (ms, s, m or h), such as 500ms, 2s or 5m, from 1ms to 1h";
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("not a duration: {VALID}"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown unit `{other}`: {VALID}")),
    };
    // Below a millisecond a timeout cannot be met; a probe would fail before it started.
    if !(0.001..=LONGEST).contains(&secs) {
        return Err(format!("out of range: {VALID}"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Whether a command line asks for JSON output, read without clap (for when clap refused it).
/// Arguments are taken as the OS gave them: one that is not UTF-8 is simply not `-o json`.
pub fn wants_json<A: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = A>) -> bool {
    let mut args = args.into_iter().skip(1);
    while let Some(a) = args.next() {
        let Some(a) = a.as_ref().to_str() else {
            continue;
        };
        let value = match a {
            "--" => return false,
            "-o" | "--output" => args
                .next()
                .and_then(|v| v.as_ref().to_str().map(str::to_owned)),
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

/// An argument as a person can read it: UTF-8 text as it is, other bytes as `\xFF`.
pub fn shown(arg: &std::ffi::OsStr) -> String {
    let mut out = String::new();
    for chunk in arg.as_encoded_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// The first argument (after the program's name) that is not UTF-8, with its position from 1.
pub fn first_not_utf8<A: AsRef<std::ffi::OsStr>>(
    args: impl IntoIterator<Item = A>,
) -> Option<(usize, String)> {
    args.into_iter()
        .enumerate()
        .skip(1)
        .find(|(_, a)| a.as_ref().to_str().is_none())
        .map(|(i, a)| (i, shown(a.as_ref())))
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
        assert!(!w("bootstrap render -- -o json"));
    }

    #[test]
    fn arguments_that_are_not_utf8_are_read_without_a_panic() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(b"a\xffb".to_vec());
        let args = |rest: Vec<OsString>| {
            let mut v = vec![OsString::from("bootstrap")];
            v.extend(rest);
            v
        };
        assert!(wants_json(args(vec![
            bad.clone(),
            "-o".into(),
            "json".into()
        ])));
        assert!(!wants_json(args(vec!["-o".into(), bad.clone()])));
        assert!(!wants_json(args(vec![bad.clone()])));
        assert_eq!(
            first_not_utf8(args(vec!["render".into(), bad.clone()])),
            Some((2, "a\\xFFb".to_owned()))
        );
        assert_eq!(first_not_utf8(args(vec!["render".into()])), None);
    }

    #[test]
    fn durations_and_their_messages_agree() {
        use std::time::Duration;
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        // The range the messages name ends at 1h, so 1h is read and allowed.
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for (bad, start) in [
            ("2h", "out of range"),
            ("0s", "out of range"),
            ("0.0001s", "out of range"),
            ("2d", "unknown unit `d`"),
            ("abc", "not a duration"),
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.starts_with(start), "{bad}: {e}");
            assert!(e.ends_with("from 1ms to 1h"), "{bad}: {e}");
            // clap prints the value itself, just before this message.
            assert!(!e.contains(bad), "{bad} is said twice: {e}");
        }
    }
}
