//! `bootstrap kubeconfig CONTEXT [--print]`: a local read of the user's kubeconfig, never a
//! network call, so it cannot hang (unlike `vcluster connect --print`).

use super::{Failure, Outcome};
use crate::cli::{Global, KubeconfigArgs, Output};
use crate::core::kubeconfig::{doc, DocError};
use crate::drivers::kubeconfig::store;

pub fn run(g: &Global, args: &KubeconfigArgs) -> Outcome {
    // The file lends its `kubeconfig.path` when it is there and valid, as for `verify --context`.
    let env = super::verify::quiet_env(g);
    let paths = super::kubeconfig_paths(g, env.as_ref())?;
    let merged = store::read_merged(&paths).map_err(|e| Failure::Failed(e.to_string()))?;
    let read_from = || {
        paths
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let not_found = |e: DocError| {
        let mut msg = format!("{e} (read: {})", read_from());
        if let DocError::NoSuchContext { name, available } = &e {
            if let Some(best) = closest(name, available) {
                msg.push_str(&format!("\n  hint: did you mean `{best}`?"));
            }
        }
        Failure::Failed(msg)
    };
    if !args.print {
        let v = doc::context_view(&merged, &args.context).ok_or_else(|| {
            not_found(DocError::NoSuchContext {
                name: args.context.clone(),
                available: doc::context_names(&merged),
            })
        })?;
        let text = match g.output {
            Output::Json => serde_json::to_string_pretty(&serde_json::json!({
                "context": v.name, "cluster": v.cluster, "user": v.user, "namespace": v.namespace,
                "server": v.server, "tlsServerName": v.tls_server_name,
                "insecureSkipTlsVerify": v.insecure_skip_tls_verify, "owner": v.owner,
            }))
            .unwrap_or_default(),
            Output::Table => {
                let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
                format!(
                    "context          {}\ncluster          {}\nuser             {}\nnamespace        {}\nserver           {}\ntls-server-name  {}{}\nowned by         {}",
                    v.name,
                    v.cluster,
                    v.user,
                    opt(&v.namespace),
                    opt(&v.server),
                    opt(&v.tls_server_name),
                    if v.insecure_skip_tls_verify { "\ninsecure         yes (certificate NOT verified)" } else { "" },
                    v.owner.as_deref().map(|o| format!("bootstrap ({o})")).unwrap_or_else(|| "not bootstrap".into()),
                )
            }
        };
        return emit(&text);
    }
    let mut one = doc::standalone(&merged, &args.context).map_err(not_found)?;
    doc::flatten(&mut one, &mut |p| std::fs::read(p))
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let text = match g.output {
        Output::Json => {
            serde_json::to_string_pretty(&one).map_err(|e| Failure::Failed(e.to_string()))?
        }
        Output::Table => doc::to_yaml(&one).map_err(|e| Failure::Failed(e.to_string()))?,
    };
    emit(text.trim_end())
}

fn emit(text: &str) -> Outcome {
    println!("{text}");
    Ok(())
}

fn closest<'a>(name: &str, available: &'a [String]) -> Option<&'a str> {
    available
        .iter()
        .map(|a| (strsim::jaro_winkler(name, a), a))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, a)| a.as_str())
}
