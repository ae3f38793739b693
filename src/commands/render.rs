//! `bootstrap render`: print what the file implies.

use super::{Failure, Outcome};
use crate::cli::{Global, Output, RenderArgs, RenderWhat};
use crate::core::access::Zone;
use crate::core::config::{AccessMode, Chart};
use crate::core::render::{self, to_yaml};

fn helm_comment(release: &str, namespace: &str, chart: &Chart) -> String {
    let source = match (&chart.path, &chart.repo) {
        (Some(path), _) => path.clone(),
        (None, Some(repo)) => format!("{} --repo {repo}", chart.name),
        (None, None) => chart.name.clone(),
    };
    let version = chart
        .version
        .as_ref()
        .map(|v| format!(" --version {v}"))
        .unwrap_or_default();
    format!("# helm upgrade --install {release} {source}{version} -n {namespace} --create-namespace -f -\n")
}

pub fn run(g: &Global, args: &RenderArgs) -> Outcome {
    let env = super::load_env(g)?;
    let json = g.output == Output::Json;
    let print = |v: &serde_json::Value, header: String| {
        if json {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            print!("{header}{}", to_yaml(v));
        }
    };
    match &args.what {
        RenderWhat::KindConfig => print(&render::kind::kind_config_value(&env), String::new()),
        RenderWhat::Router => {
            let r = &env.router;
            print(
                &render::router_values(&env),
                helm_comment(&r.release, &r.namespace, &r.chart),
            );
        }
        RenderWhat::Vcluster { name } => {
            let Some(v) = env.vclusters.iter().find(|v| &v.name == name) else {
                let names: Vec<_> = env.vclusters.iter().map(|v| v.name.as_str()).collect();
                return Err(Failure::Invalid(format!(
                    "no vcluster named `{name}` in {}; the file defines: {}",
                    g.file.display(),
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                )));
            };
            print(
                &render::vcluster_values(&env, v),
                helm_comment(&v.release, &v.namespace, &v.chart),
            );
        }
        RenderWhat::Routes => {
            let routes = render::routes(&env);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&routes).unwrap_or_default()
                );
            } else if routes.is_empty() {
                println!("# no vcluster is reached through the router");
            } else {
                for r in &routes {
                    print!("---\n{}", to_yaml(r));
                }
            }
        }
        RenderWhat::Contexts => {
            let mode = env.access.mode;
            let doc = serde_json::json!({
                "accessMode": mode.as_str(),
                "zonesTried": Zone::for_mode(mode),
                "contexts": render::contexts(&env, mode),
            });
            let header = if mode == AccessMode::Auto {
                "# auto: each context's routes are probed in parallel at `up`; the first that completes\n# TLS and an authenticated /version is written. Pin one with --access or access.mode.\n"
            } else {
                ""
            };
            print(&doc, header.to_owned());
        }
    }
    Ok(())
}
