//! The kind executable: create and delete clusters. kind owns node bootstrapping; we hand it a
//! rendered config and a private kubeconfig path, so it never edits the user's kubeconfig (the
//! kubeconfig work owns that file).

use crate::core::config::Env;
use crate::progress::Step;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// kind pulls a ~1 GB node image on first use; past this something is stuck.
const CREATE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(3 * 60);

/// What `kind create cluster` left us: the cluster's admin kubeconfig, for the kubeconfig step.
#[derive(Debug, Clone)]
pub struct Created {
    pub kubeconfig: String,
}

/// `kind create cluster --config <rendered> --name <name> --kubeconfig <private file>`.
pub async fn create(kind: &Path, env: &Env, step: &Step) -> Result<Created> {
    let dir = tempfile::Builder::new()
        .prefix("bootstrap-kind-")
        .tempdir()
        .context("creating a private temporary folder for kind")?;
    let config = dir.path().join("kind-config.yaml");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&config, crate::core::render::kind_config(env))
        .with_context(|| format!("writing {}", config.display()))?;
    let name = env.cluster.name.as_str();
    let args = [
        "create".as_ref(),
        "cluster".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--name".as_ref(),
        name.as_ref(),
        "--kubeconfig".as_ref(),
        kubeconfig.as_os_str(),
    ];
    run(kind, &args, &kubeconfig, step, CREATE_TIMEOUT).await?;
    let text = std::fs::read_to_string(&kubeconfig).with_context(|| {
        format!(
            "kind succeeded but wrote no kubeconfig at {}",
            kubeconfig.display()
        )
    })?;
    Ok(Created { kubeconfig: text })
}

/// `kind delete cluster --name <name>`, with a throwaway kubeconfig: kind would otherwise remove
/// its entries from the user's file, which is the kubeconfig work's job.
pub async fn delete(kind: &Path, name: &str, step: &Step) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("bootstrap-kind-")
        .tempdir()
        .context("creating a private temporary folder for kind")?;
    let kubeconfig = dir.path().join("kubeconfig");
    let args = [
        "delete".as_ref(),
        "cluster".as_ref(),
        "--name".as_ref(),
        name.as_ref(),
        "--kubeconfig".as_ref(),
        kubeconfig.as_os_str(),
    ];
    run(kind, &args, &kubeconfig, step, DELETE_TIMEOUT).await
}

async fn run(
    kind: &Path,
    args: &[&std::ffi::OsStr],
    kubeconfig: &Path,
    step: &Step,
    limit: Duration,
) -> Result<()> {
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let started = std::time::Instant::now();
    let mut cmd = tokio::process::Command::new(kind);
    cmd.args(args)
        // Belt and braces: kind honours --kubeconfig, and KUBECONFIG too where a flag is missed.
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Killed with bootstrap: a kind left running would go on creating a cluster whose create
    // record (drivers::state) the next `up` reads as interrupted.
    super::process::die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", kind.display()))?;
    let _running = super::process::register(child.id());
    let mut out = BufReader::new(child.stdout.take().context("kind's stdout")?).lines();
    let mut err = BufReader::new(child.stderr.take().context("kind's stderr")?).lines();
    let mut tail: Vec<String> = Vec::new();
    let work = async {
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            let line = tokio::select! {
                l = out.next_line(), if out_open => l.inspect(|l| if l.is_none() { out_open = false }),
                l = err.next_line(), if err_open => l.inspect(|l| if l.is_none() { err_open = false }),
            };
            if let Some(line) = line.context("reading kind's output")? {
                step.note(&line);
                tail.push(line);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
        }
        child.wait().await.context("waiting for kind")
    };
    let status = match tokio::time::timeout(limit, work).await {
        Ok(s) => {
            let s = s?;
            crate::logging::ran("kind", &shown, &s.to_string(), started.elapsed(), || {
                format!(
                    "{} output lines, the last {} kept",
                    tail.len(),
                    tail.len().min(20)
                )
            });
            s
        }
        Err(_) => {
            crate::logging::ran(
                "kind",
                &shown,
                "stopped: timed out",
                started.elapsed(),
                String::new,
            );
            bail!(
                "`kind {shown}` did not finish within {}s and was stopped",
                limit.as_secs()
            )
        }
    };
    if !status.success() {
        bail!(
            "`{} {shown}` failed ({status}); its last lines:\n  {}",
            kind.display(),
            tail.join("\n  ")
        );
    }
    Ok(())
}
