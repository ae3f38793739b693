//! `bootstrap verify`: the contexts the file declares (or those named with `--context`), checked
//! in parallel, printed as a table or JSON; exit 1 when any fails.

use super::{Failure, Outcome};
use crate::cli::{Global, Output, VerifyArgs};
use crate::core::config::{AccessMode, Env};
use crate::core::verify::environment;
use crate::core::verify::report::render_table;
use crate::drivers::probe::resolve;
use crate::drivers::probe::{verify_contexts, verify_contexts_with, HostFacts};
use crate::steps::verify::verify_env;

pub fn run(g: &Global, args: &VerifyArgs) -> Outcome {
    // Without --context the file is the list of what to check; with it, the file is optional and
    // only lends routes (for sharper diagnoses) when it is present and valid.
    let env = if args.contexts.is_empty() {
        Some(super::load_env(g)?)
    } else {
        quiet_env(g)
    };
    let paths = super::kubeconfig_paths(g, env.as_ref())?;
    let kc = crate::drivers::kubeconfig::read_for_lookup(&paths).map_err(Failure::Failed)?;
    let access = g
        .access
        .as_deref()
        .and_then(|a| a.parse().ok())
        .or_else(|| env.as_ref().map(|e| e.access.mode))
        .unwrap_or(AccessMode::Auto);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(super::STACK)
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("starting the async runtime: {e}")))?;
    // `auto` is left to the probe, which asks only when a diagnosis depends on it
    let facts =
        (access != AccessMode::Auto).then(|| runtime.block_on(HostFacts::for_access(access)));
    let report = match (&env, args.contexts.is_empty()) {
        (Some(env), true) => runtime.block_on(verify_env(
            env,
            &kc,
            args.timeout,
            facts,
            Default::default(),
        )),
        _ => {
            let targets = args
                .contexts
                .iter()
                .map(|n| resolve(&kc, n, environment::via_for(env.as_ref(), n)))
                .collect();
            match facts {
                Some(f) => runtime.block_on(verify_contexts_with(targets, args.timeout, f)),
                None => runtime.block_on(verify_contexts(targets, args.timeout)),
            }
        }
    };
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

/// The environment file when it is there and valid, without printing its findings.
pub(super) fn quiet_env(g: &Global) -> Option<Env> {
    if !g.file.exists() {
        return None;
    }
    crate::drivers::config::load_file(&g.file, &g.overrides)
        .ok()?
        .env
}
