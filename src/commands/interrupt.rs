//! Interrupts of a command that changes things (`up`, `down`): SIGINT (Ctrl-C), SIGTERM (`docker
//! stop`, systemd, CI cancelling a job) and SIGHUP (the terminal or SSH session closed).
//!
//! The first lets the step that runs end cleanly: its helm or kind child is asked to stop as a
//! terminal would ask it, and no further step starts. A second stops at once. Either way the
//! command returns through its own code, so every guard of ours runs: the kubeconfig lock
//! (`<file>.lock`, which would make every kubectl write fail with "file exists"), temporary
//! files and helm's values file are removed. A kubeconfig write is never cut: it runs to its
//! end on this thread before a signal is even looked at, so the file is the old one or the new
//! one. Without this, the default action of each signal ended the process where it stood.

use super::Failure;
use tokio::signal::unix::{signal, SignalKind};

/// Run `work`, stopping it as above on INT, TERM or HUP; `again` is the command that resumes.
pub async fn interruptible<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
    again: &str,
) -> Result<T, Failure> {
    let watch = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| Failure::Failed(format!("watching for {name}: {e}")))
    };
    let mut int = watch(SignalKind::interrupt(), "SIGINT")?;
    let mut term = watch(SignalKind::terminate(), "SIGTERM")?;
    let mut hup = watch(SignalKind::hangup(), "SIGHUP")?;
    let resume = format!("interrupted; run `{again}` again to resume");
    tokio::pin!(work);
    let first = tokio::select! {
        r = &mut work => return r.map_err(Failure::from),
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    };
    // stderr may be gone with the terminal (SIGHUP): never fail on it.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("interrupt: letting the running step end cleanly ({first}; Ctrl-C again to stop at once)\n")
            .as_bytes(),
    );
    crate::drivers::process::interrupt();
    tokio::select! {
        r = &mut work => match r {
            Ok(_) => Err(Failure::Failed(resume)),
            Err(e) => Err(Failure::Failed(format!("{e:#}\n{resume}"))),
        },
        _ = int.recv() => Err(Failure::Failed(resume)),
        _ = term.recv() => Err(Failure::Failed(resume)),
        _ = hup.recv() => Err(Failure::Failed(resume)),
        _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => Err(Failure::Failed(format!("{resume} (the running step did not end within 60s and was stopped)"))),
    }
}
