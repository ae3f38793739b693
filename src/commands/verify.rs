//! `bootstrap verify`: the contexts the file declares (or those named with `--context`), checked
//! in parallel, printed as a table or JSON; exit 1 when any fails.

use crate::app::{Failure, Outcome};
use crate::cli::{Global, Output, VerifyArgs};
use crate::config::{self, AccessMode, Env, FlagOverrides};
use crate::verify::probe::{self, HostFacts, PassthroughExpect};
use crate::verify::report::{render_table, Report};
use crate::verify::{environment, target};

pub fn run(g: &Global, args: &VerifyArgs) -> Outcome {
    // Without --context the file is the list of what to check; with it, the file is optional and
    // only lends routes (for sharper diagnoses) when it is present and valid.
    let env = if args.contexts.is_empty() {
        Some(crate::app::load_env(g)?)
    } else {
        quiet_env(g)
    };
    let kubeconfig = g
        .kubeconfig
        .clone()
        .or_else(|| env.as_ref().and_then(|e| e.kubeconfig.path.clone()));
    let kc = target::load_kubeconfig(kubeconfig.as_deref())
        .map_err(|e| Failure::Failed(format!("{e:#}")))?;
    let names: Vec<String> = if args.contexts.is_empty() {
        env.as_ref()
            .map(environment::declared_contexts)
            .unwrap_or_default()
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    } else {
        args.contexts.clone()
    };
    let targets: Vec<target::Resolved> = names
        .iter()
        .map(|n| target::resolve(&kc, n, environment::route_for(env.as_ref(), n)))
        .collect();
    let facts = host_facts(g, env.as_ref());
    let passthrough = match (&env, args.contexts.is_empty()) {
        (Some(e), true) => environment::passthrough_routes(e).map(|(port, routes)| {
            let expects = routes
                .into_iter()
                .map(|(context, hostname)| {
                    let ca_pem = targets
                        .iter()
                        .flatten()
                        .find(|t| t.context == context)
                        .and_then(|t| t.ca_pem.clone());
                    PassthroughExpect {
                        context,
                        hostname,
                        ca_pem,
                    }
                })
                .collect::<Vec<_>>();
            (port, expects)
        }),
        _ => None,
    };
    let not_checked = match (&env, args.contexts.is_empty()) {
        (Some(e), true) => environment::not_checked(e),
        _ => Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("starting the async runtime: {e}")))?;
    let timeout = args.timeout;
    let report = runtime.block_on(async move {
        let router = async {
            match passthrough {
                Some((port, expects)) => {
                    probe::check_passthrough(port, expects, timeout, facts).await
                }
                None => Vec::new(),
            }
        };
        let (contexts, mut checks) =
            tokio::join!(probe::probe_all(targets, timeout, facts), router);
        checks.extend(not_checked);
        Report::new(contexts, checks)
    });
    match g.output {
        Output::Json => println!("{}", report.to_json()),
        Output::Table => print!("{}", render_table(&report)),
    }
    if report.ok {
        Ok(())
    } else {
        Err(Failure::Failed(String::new()))
    }
}

fn quiet_env(g: &Global) -> Option<Env> {
    if !g.file.exists() {
        return None;
    }
    let flags = FlagOverrides {
        access: g.access.clone(),
        kubeconfig: g.kubeconfig.clone(),
    };
    let overrides = config::gather_overrides(&flags).ok()?;
    config::load_file(&g.file, &overrides).ok()?.env
}

/// `--access` (or the file's access mode) says where we stand; `auto` looks for evidence.
fn host_facts(g: &Global, env: Option<&Env>) -> HostFacts {
    let mode = g
        .access
        .as_deref()
        .and_then(AccessMode::parse)
        .or_else(|| env.map(|e| e.access.mode))
        .unwrap_or(AccessMode::Auto);
    match mode {
        AccessMode::Host | AccessMode::Wsl2 => HostFacts {
            in_container: false,
        },
        AccessMode::Devcontainer | AccessMode::KindNetwork => HostFacts { in_container: true },
        AccessMode::Auto => HostFacts::detect(),
    }
}
