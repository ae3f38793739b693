//! `up` and `down`, whole: the cluster step, each context's route, everything inside the
//! cluster, the kubeconfig, then verify. Each step observes first and acts only on the
//! difference, so a second `up` changes nothing and a failed one resumes where it stopped.

use super::in_cluster::{self, Settings};
use super::routes::{choose, Creds, Want};
use crate::core::access::Endpoint;
use crate::core::config::{Env, Provider};
use crate::core::kubeconfig::{doc, Entry};
use crate::drivers::helm::Helm;
use crate::drivers::kubeconfig::{self, Paths, Session};
use crate::drivers::tools;
use crate::progress::Progress;
use crate::verify::diagnose::Route as VerifyRoute;
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Options {
    pub recreate: bool,
    pub verify: bool,
    /// Per-layer timeout of route probes and verify.
    pub timeout: Duration,
    pub kubeconfig: Option<String>,
    pub settings: Settings,
}

pub struct Summary {
    /// One line per change made; empty when the environment was converged.
    pub changes: Vec<String>,
    pub kubeconfig: PathBuf,
    pub report: Option<crate::verify::Report>,
}

/// Whose entries in the kubeconfig these are: the environment's cluster name.
pub fn owner(env: &Env) -> String {
    format!("env/{}", env.cluster.name)
}

fn paths(env: &Env, explicit: Option<&str>) -> Result<Paths> {
    let explicit = explicit
        .map(str::to_owned)
        .or_else(|| env.kubeconfig.path.clone());
    kubeconfig::paths::from_env(explicit.as_deref()).map_err(|e| anyhow!("{e}"))
}

fn creds_of(text: &str, context: &str) -> Result<Creds> {
    let d = doc::parse(text)?;
    let c = doc::credentials(&d, context)?;
    Ok(Creds {
        ca_pem: c.ca_pem,
        client_cert_pem: c.client_cert_pem,
        client_key_pem: c.client_key_pem,
        token: c.token,
    })
}

/// One context of the user's kubeconfig, standalone, with file references read in.
fn host_context(paths: &Paths, context: &str) -> Result<serde_json::Value> {
    let merged = kubeconfig::store::read_merged(paths)?;
    let mut one = doc::standalone(&merged, context)?;
    doc::flatten(&mut one, &mut |p| std::fs::read(p))?;
    Ok(one)
}

/// A kubeconfig of our own holding just the host cluster's context, for helm and the kube
/// client: the user's file is written once, at the end, with everything verified.
fn private_kubeconfig(dir: &Path, entry: &Entry) -> Result<PathBuf> {
    let mut d = doc::parse("apiVersion: v1\nkind: Config\n")?;
    doc::upsert(&mut d, std::slice::from_ref(entry), "private")?;
    doc::set_current(&mut d, &entry.context, "private")?;
    let path = dir.join("host.kubeconfig");
    std::fs::write(&path, doc::to_yaml(&d)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

pub async fn up(env: &Env, opts: &Options, progress: &Progress) -> Result<Summary> {
    let mut changes = Vec::new();
    let paths = paths(env, opts.kubeconfig.as_deref())?;
    let mut here = None;
    // Kept for the registry step, which runs once the cluster's API answers.
    let mut docker_conn = None;

    // 1. The host cluster and its admin credentials.
    let (host_creds, host_route_kind) = match env.cluster.provider {
        Provider::Kind => {
            let step = progress.begin("docker");
            let conn = match crate::drivers::docker::connect().await {
                Ok(c) => c,
                Err(e) => {
                    step.fail("unreachable");
                    return Err(e.into());
                }
            };
            step.finish(&format!("{} (API {})", conn.endpoint.uri, conn.api_version));
            if opts.settings.dry_run {
                let (_, verdict, action) =
                    crate::steps::cluster::assess(env, &conn, opts.recreate).await?;
                if action != crate::core::cluster_diff::Action::Nothing {
                    // Nothing inside a cluster that is not running can be looked at: the plan is
                    // the file's, with the cluster as observed.
                    return Ok(Summary {
                        changes: not_running_plan(env, &verdict),
                        kubeconfig: paths.write_target(),
                        report: None,
                    });
                }
            }
            let out = crate::steps::cluster::up(env, &conn, opts.recreate, progress).await?;
            // Where we stand orders the routes to try; asked after the cluster step so a daemon
            // that fails is reported by the step that needed it.
            let verdict = crate::zone::detect(&conn).await;
            here = verdict.access;
            if crate::drivers::docker::network::should_join(&verdict) && !opts.settings.dry_run {
                let me = crate::drivers::docker::network::this_container().unwrap_or_default();
                let net = crate::drivers::docker::network::KIND_NETWORK;
                if crate::drivers::docker::network::join(&conn, &me, net, &owner(env)).await? {
                    eprintln!("joined this container ({me}) to the `{net}` network: on a Linux engine that is how a devcontainer reaches the API kind publishes on 127.0.0.1");
                    changes.push(format!("joined container {me} to network {net}"));
                }
            }
            eprintln!(
                "you stand in: {} ({})",
                verdict.zone.as_str(),
                verdict.reasons.join("; ")
            );
            use crate::core::cluster_diff::Action;
            let what = match &out.action {
                Action::Nothing => "converged, nothing to do".to_owned(),
                Action::Create => "created".to_owned(),
                Action::Start { nodes } => format!("started {}", nodes.join(", ")),
                Action::Recreate { .. } => "recreated".to_owned(),
                Action::Refuse { .. } => "drifted".to_owned(),
            };
            eprintln!("cluster `{}`: {what}", env.cluster.name);
            if out.action != Action::Nothing {
                changes.push(format!("cluster `{}` {what}", env.cluster.name));
            }
            docker_conn = Some(conn.clone());
            let text = match out.kubeconfig {
                Some(t) => t,
                None => {
                    let kind = tools::locate(tools::KIND).map_err(|e| anyhow!("{e}"))?;
                    crate::drivers::kind::get_kubeconfig(&kind, &env.cluster.name).await?
                }
            };
            (
                creds_of(&text, &format!("kind-{}", env.cluster.name))
                    .context("reading kind's admin kubeconfig")?,
                true,
            )
        }
        Provider::Existing => {
            let c = doc::credentials(
                &host_context(&paths, &env.cluster.context)?,
                &env.cluster.context,
            )?;
            (
                Creds {
                    ca_pem: c.ca_pem,
                    client_cert_pem: c.client_cert_pem,
                    client_key_pem: c.client_key_pem,
                    token: c.token,
                },
                false,
            )
        }
    };
    // helm is needed only when something is installed into the cluster.
    let helm_bin = if env.vclusters.is_empty() {
        PathBuf::from("helm")
    } else {
        tools::locate(tools::HELM).map_err(|e| anyhow!("{e}"))?
    };

    // 2. The host context's route (for an existing cluster: the user's own server, unchanged).
    let step = progress.begin("host route");
    let host_entry = if host_route_kind {
        let wants = [Want {
            context: env.cluster.context.clone(),
            endpoint: Endpoint::KindApi,
            creds: host_creds,
            verify_route: VerifyRoute::Api,
        }];
        match choose(env, &wants, here, opts.timeout).await {
            Ok(mut e) => e.remove(0),
            Err(e) => {
                step.fail("no route verified");
                return Err(e);
            }
        }
    } else {
        let one = host_context(&paths, &env.cluster.context)?;
        let view = doc::context_view(&one, &env.cluster.context)
            .ok_or_else(|| anyhow!("context `{}` not found", env.cluster.context))?;
        let c = doc::credentials(&one, &env.cluster.context)?;
        Entry {
            context: env.cluster.context.clone(),
            cluster: view.cluster.clone(),
            user: view.user.clone(),
            server: c.server,
            tls_server_name: view.tls_server_name.clone(),
            ca_pem: host_creds.ca_pem,
            client_cert_pem: host_creds.client_cert_pem,
            client_key_pem: host_creds.client_key_pem,
            token: host_creds.token,
            insecure_skip_tls_verify: false,
            namespace: None,
        }
    };
    step.finish(&format!(
        "{}{}",
        host_entry.server,
        host_entry
            .tls_server_name
            .as_ref()
            .map(|t| format!(" (tls-server-name {t})"))
            .unwrap_or_default()
    ));

    // 3. Inside the cluster: router, vclusters, routes, secrets, registrations.
    let scratch = tempfile::Builder::new().prefix("bootstrap-up-").tempdir()?;
    let host_kc = private_kubeconfig(scratch.path(), &host_entry)?;
    let client = crate::drivers::kube::client_for_context(&host_kc, &host_entry.context).await?;
    let helm = Helm {
        bin: helm_bin,
        kubeconfig: host_kc.clone(),
        context: host_entry.context.clone(),
    };
    let step = progress.begin("router and vclusters");
    let report = |l: &str| step.note(l);
    let inside = match in_cluster::converge(env, &client, &helm, &opts.settings, &report).await {
        Ok(o) => o,
        Err(e) => {
            step.fail("failed");
            return Err(e);
        }
    };
    step.finish(&if inside.changes.is_empty() {
        "converged".to_owned()
    } else {
        format!("{} change(s)", inside.changes.len())
    });
    changes.extend(inside.changes);

    // 3b. The local registry: container, nodes' host files, the local-registry-hosting ConfigMap.
    // TODO(pipeline): the registry step of the new pipeline calls the same functions.
    if let (true, Some(conn)) = (env.registry.enabled, docker_conn.as_ref()) {
        let step = progress.begin("registry");
        let report = |l: &str| step.note(l);
        match crate::drivers::registry::apply(
            conn,
            env,
            Some(&client),
            opts.settings.dry_run,
            &report,
        )
        .await
        {
            Ok(c) => {
                step.finish(&if c.is_empty() {
                    format!("{} converged", env.registry.host())
                } else {
                    format!("{} change(s); push to {}/...", c.len(), env.registry.host())
                });
                changes.extend(c);
            }
            Err(e) => {
                step.fail("failed");
                return Err(e);
            }
        }
    }

    // 4. Each vcluster's route.
    let step = progress.begin("vcluster routes");
    let wants: Vec<Want> = inside
        .vclusters
        .iter()
        .filter_map(|r| {
            env.vclusters
                .iter()
                .find(|v| v.name == r.vcluster)
                .map(|v| (r, v))
        })
        .map(|(r, v)| Want {
            context: v.context.clone(),
            endpoint: Endpoint::Vcluster(v),
            creds: Creds {
                ca_pem: r.secret.ca_pem.clone(),
                client_cert_pem: Some(r.secret.cert_pem.clone()),
                client_key_pem: Some(r.secret.key_pem.clone()),
                token: r
                    .secret
                    .token
                    .clone()
                    .filter(|_| r.secret.cert_pem.is_empty()),
            },
            verify_route: crate::verify::environment::route_for(Some(env), &v.context),
        })
        .collect();
    // A vcluster just installed may publish its secret before its API answers through the
    // route: keep trying, bounded, and report the last failure.
    let deadline = std::time::Instant::now() + opts.settings.secret_timeout;
    let mut entries = loop {
        match choose(env, &wants, here, opts.timeout).await {
            Ok(e) => break e,
            Err(e)
                if std::time::Instant::now() < deadline
                    && !changes.is_empty()
                    && !opts.settings.dry_run =>
            {
                step.note(&format!(
                    "waiting for the vcluster APIs: {}",
                    e.to_string().lines().next().unwrap_or("")
                ));
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => {
                step.fail("no route verified");
                return Err(e);
            }
        }
    };
    step.finish(&format!("{} context(s)", entries.len()));
    if host_route_kind {
        entries.insert(0, host_entry);
    }

    // 5. The user's kubeconfig: one locked write, none when nothing changed.
    let step = progress.begin("kubeconfig");
    let target = paths.write_target();
    if opts.settings.dry_run {
        let mut d = match kubeconfig::store::read(&target)? {
            Some(d) => d,
            None => doc::parse("apiVersion: v1\nkind: Config\n")?,
        };
        let mut would = doc::upsert(&mut d, &entries, &owner(env))?;
        if let Some(c) = env.kubeconfig.current_context.as_deref() {
            would.extend(doc::set_current(&mut d, c, &owner(env))?);
        }
        step.finish(&format!(
            "{} change(s) to {}",
            would.iter().count(),
            target.display()
        ));
        changes.extend(
            would
                .iter()
                .map(|c| format!("would change kubeconfig: {c}")),
        );
        return Ok(Summary {
            changes,
            kubeconfig: target,
            report: None,
        });
    }
    let mut session = Session::default();
    let edited = kubeconfig::write_entries(
        &mut session,
        &paths,
        &entries,
        &owner(env),
        env.kubeconfig.current_context.as_deref(),
    )?;
    if edited.changes.is_empty() {
        step.finish(&format!("{} unchanged", target.display()));
    } else {
        step.finish(&format!(
            "{} updated ({} change(s))",
            target.display(),
            edited.changes.iter().count()
        ));
        changes.extend(edited.changes.iter().map(|c| format!("kubeconfig: {c}")));
    }

    // 6. Prove it.
    let report = if opts.verify {
        let step = progress.begin("verify");
        let kc = crate::verify::load_kubeconfig(Some(&target.display().to_string()))?;
        let r = crate::verify::verify_env(env, &kc, opts.timeout, None).await;
        if r.ok {
            step.finish("every context answered");
        } else {
            step.fail("some contexts failed");
        }
        Some(r)
    } else {
        None
    };
    Ok(Summary {
        changes,
        kubeconfig: target,
        report,
    })
}

/// The plan when the cluster is absent, stopped or drifted: every step the file implies, with
/// the cluster's state as Docker showed it.
fn not_running_plan(env: &Env, verdict: &crate::core::cluster_diff::Verdict) -> Vec<String> {
    use crate::core::cluster_diff::Verdict;
    let obs = crate::core::plan::Observed {
        looked: true,
        cluster_running: match verdict {
            Verdict::Absent => None,
            Verdict::Stopped { .. } => Some(false),
            _ => Some(true),
        },
        cluster_drift: match verdict {
            Verdict::Drifted { differences } => differences.clone(),
            _ => Vec::new(),
        },
        ..Default::default()
    };
    crate::core::plan::plan(env, &obs)
        .actions
        .into_iter()
        .filter(|a| {
            !matches!(
                a.op,
                crate::core::plan::Op::Preflight | crate::core::plan::Op::Verify
            )
        })
        .map(|a| format!("would {} {}: {}", a.op.as_str(), a.target, a.detail))
        .collect()
}

/// Undo the join `up` made of this container to kind's network (recorded on the endpoint), and
/// only that: outside a container, or attached by the user, nothing changes.
async fn leave_kind_network(env: &Env) -> Result<Option<String>> {
    let in_container = crate::zone::needs_engine_info(&crate::zone::gather(None, None));
    if env.cluster.provider != Provider::Kind || !in_container {
        return Ok(None);
    }
    let Some(me) = crate::drivers::docker::network::this_container() else {
        return Ok(None);
    };
    let conn = crate::drivers::docker::connect().await?;
    let net = crate::drivers::docker::network::KIND_NETWORK;
    Ok(
        if crate::drivers::docker::network::leave(&conn, &me, net, &owner(env)).await? {
            eprintln!("left the `{net}` network that `up` joined this container ({me}) to");
            Some(format!("network join of container {me} to {net}"))
        } else {
            None
        },
    )
}

pub struct DownOptions {
    pub keep_cluster: bool,
    pub kubeconfig: Option<String>,
}

/// Remove what `up` made, in reverse: registrations, routes, vclusters and router (when the
/// cluster stays; deleting a kind cluster takes them all at once), our contexts, the cluster.
pub async fn down(env: &Env, opts: &DownOptions, progress: &Progress) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let paths = paths(env, opts.kubeconfig.as_deref())?;
    let in_cluster_teardown = opts.keep_cluster || env.cluster.provider == Provider::Existing;
    if in_cluster_teardown {
        if let Ok(one) = host_context(&paths, &env.cluster.context) {
            let step = progress.begin("inside the cluster");
            let scratch = tempfile::Builder::new()
                .prefix("bootstrap-down-")
                .tempdir()?;
            let kc = scratch.path().join("host.kubeconfig");
            std::fs::write(&kc, doc::to_yaml(&one)?)?;
            let client =
                crate::drivers::kube::client_for_context(&kc, &env.cluster.context).await?;
            let helm = Helm {
                bin: if env.vclusters.is_empty() {
                    PathBuf::from("helm")
                } else {
                    tools::locate(tools::HELM).map_err(|e| anyhow!("{e}"))?
                },
                kubeconfig: kc.clone(),
                context: env.cluster.context.clone(),
            };
            let report = |l: &str| step.note(l);
            match in_cluster::teardown(env, &client, &helm, &report).await {
                Ok(r) => {
                    step.finish(&format!("{} removed", r.len()));
                    removed.extend(r);
                }
                Err(e) => {
                    step.fail("failed");
                    return Err(e);
                }
            }
            if env.cluster.provider == Provider::Kind {
                // The cluster stays: its ConfigMap and the nodes' host files go one by one.
                let conn = crate::drivers::docker::connect().await?;
                removed.extend(
                    crate::drivers::registry::remove(&conn, env, Some(&client), true).await?,
                );
            }
        } else {
            eprintln!(
                "inside the cluster: context `{}` not found, nothing to remove there",
                env.cluster.context
            );
        }
    }
    let step = progress.begin("kubeconfig");
    let mut session = Session::default();
    let edited = kubeconfig::remove_entries(&mut session, &paths, &owner(env))?;
    step.finish(&format!(
        "{} entr{} removed",
        edited.changes.iter().count(),
        if edited.changes.iter().count() == 1 {
            "y"
        } else {
            "ies"
        }
    ));
    removed.extend(edited.changes.iter().map(|c| format!("kubeconfig: {c}")));
    if let Some(left) = leave_kind_network(env).await? {
        removed.push(left);
    }
    if env.cluster.provider == Provider::Kind && !opts.keep_cluster {
        let conn = crate::drivers::docker::connect().await?;
        // The registry container is outside the cluster; the ConfigMap and the nodes' host
        // files go with the cluster.
        removed.extend(crate::drivers::registry::remove(&conn, env, None, false).await?);
        match crate::steps::cluster::down(env, &conn, progress).await? {
            crate::steps::cluster::DownOutcome::Deleted { nodes, by } => {
                eprintln!(
                    "cluster `{}`: deleted {} through {by}",
                    env.cluster.name,
                    nodes.join(", ")
                );
                removed.push(format!(
                    "cluster {} ({}) through {by}",
                    env.cluster.name,
                    nodes.join(", ")
                ));
            }
            crate::steps::cluster::DownOutcome::AlreadyAbsent => {
                eprintln!("cluster `{}`: already absent", env.cluster.name)
            }
            crate::steps::cluster::DownOutcome::NotManaged => {}
        }
    }
    Ok(removed)
}
