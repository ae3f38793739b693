//! `bootstrap render`: print what the file implies.

use super::{Failure, Outcome};
use crate::cli::{Global, Output, RenderArgs, RenderWhat};
use crate::core::access::Origin;
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
                &crate::core::router::router_for(&env).release(&env).values,
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
            let routes = crate::core::router::router_for(&env).all_objects(&env);
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
                "zonesTried": Origin::for_mode(mode),
                "contexts": render::contexts(&env, mode),
            });
            let header = if mode == AccessMode::Auto {
                "# auto: each context's routes are probed in parallel at `up`; the first that completes\n# TLS and an authenticated /version is written. Pin one with --access or access.mode.\n"
            } else {
                ""
            };
            print(&doc, header.to_owned());
        }
        RenderWhat::Images => images(g, &env)?,
    }
    Ok(())
}

/// `render images`: each release's chart rendered by `helm template` (from the kept archive when
/// the caches keep it, else from its repository), its images listed with the cache serving each.
fn images(g: &Global, env: &crate::core::config::Env) -> Outcome {
    use crate::steps::{Cx, Mode, Options};
    let mut releases = Vec::new();
    if !env.vclusters.is_empty() {
        releases.push(crate::core::router::router_of(env.router.kind).release(env));
    }
    for v in &env.vclusters {
        releases.push(crate::steps::vcluster::vcluster_release(env, v));
    }
    let opts = Options {
        kubeconfig: Some(super::kubeconfig_paths(g, Some(env))?),
        ..Options::default()
    };
    let progress = crate::progress::Progress::new(false);
    let rows = super::runtime()?.block_on(async {
        let cx = Cx::new(env, Mode::Plan, &opts, &progress)
            .map_err(|e| Failure::Failed(format!("{e:#}")))?;
        let helm = crate::drivers::helm::Helm {
            bin: cx
                .tool(&crate::drivers::toolchain::HELM_PIN)
                .await
                .map_err(|e| Failure::Failed(format!("{e:#}")))?,
            kubeconfig: Default::default(),
            context: String::new(),
        };
        let mut rows = Vec::new();
        for mut r in releases {
            let c = &r.chart;
            if env.cache.enabled && c.path.is_none() && c.repo.is_some() && c.version.is_some() {
                let kept = cx
                    .chart(c)
                    .await
                    .map_err(|e| Failure::Failed(format!("{e:#}")))?;
                r.chart.path = Some(kept.display().to_string());
            }
            let text = helm.template(&r).await.map_err(|e| {
                Failure::Failed(format!("rendering {}/{}: {e:#}", r.namespace, r.name))
            })?;
            let found = crate::core::images::in_manifest(&text).map_err(Failure::Failed)?;
            let sources =
                crate::core::images::sources(&found, &env.cache).map_err(Failure::Failed)?;
            for (_, s) in sources {
                rows.push(serde_json::json!({
                    "release": format!("{}/{}", r.namespace, r.name),
                    "image": s.image,
                    "cache": s.cache,
                }));
            }
        }
        Ok::<_, Failure>(rows)
    })?;
    if g.output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "images": rows }))
                .unwrap_or_default()
        );
    } else {
        println!(
            "# images each release runs (helm template), and the pull-through cache serving it"
        );
        for r in &rows {
            println!(
                "{}\t{}\t{}",
                r["release"].as_str().unwrap_or_default(),
                r["image"].as_str().unwrap_or_default(),
                r["cache"]
                    .as_str()
                    .map_or_else(|| "no cache".to_owned(), |c| format!("cache {c}"))
            );
        }
    }
    Ok(())
}
