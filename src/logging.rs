//! `-v`: what bootstrap does under the hood, on stderr, each line stamped like the progress
//! lines. `-v` shows each program run (kind, helm: its arguments, exit status and duration) and
//! each kube API call (method, path, status, duration); `-vv` adds detail (response and output
//! sizes, lock waits); `-vvv` adds kube's own debug events. Without `-v` nothing is installed,
//! so nothing changes.

use std::time::Duration;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::prelude::*;

/// Where our events go; the filter is by these targets.
pub const TARGET: &str = "bootstrap";

/// Pure: which targets log at which level for a count of `-v`.
pub fn targets(verbose: u8) -> Option<Targets> {
    use tracing::Level;
    match verbose {
        0 => None,
        1 => Some(Targets::new().with_target(TARGET, Level::DEBUG)),
        2 => Some(Targets::new().with_target(TARGET, Level::TRACE)),
        _ => Some(
            Targets::new()
                .with_target(TARGET, Level::TRACE)
                .with_target("kube", Level::DEBUG)
                .with_target("kube_client", Level::DEBUG),
        ),
    }
}

struct Stamp;

impl FormatTime for Stamp {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        w.write_str(&crate::progress::stamp())
    }
}

/// Install the stderr logger for `-v`, `-vv`, `-vvv`; nothing for 0.
pub fn init(verbose: u8) {
    let Some(targets) = targets(verbose) else {
        return;
    };
    crate::progress::set_plain();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(|| crate::output::Stderr)
        .with_timer(Stamp)
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        // Its own write errors would go through std's eprintln, which panics on a closed pipe.
        .log_internal_errors(false)
        .with_filter(targets);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Pure: a duration as the logs show it.
pub fn took(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(10) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Whether `-vv` asked for detail.
pub fn detailed() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::TRACE)
}

/// A program we ran: `run kind create cluster ... -> exit status: 0 (812ms)`; with `-vv`, the
/// `detail` (output sizes) on the same line.
pub fn ran(program: &str, args: &str, outcome: &str, d: Duration, detail: impl FnOnce() -> String) {
    if detailed() {
        tracing::trace!(target: TARGET, "run {program} {args} -> {outcome} ({}; {})", took(d), detail());
    } else {
        tracing::debug!(target: TARGET, "run {program} {args} -> {outcome} ({})", took(d));
    }
}

/// Pure: a byte count for the logs; None when the body is streamed and its size not known yet.
pub fn bytes(n: Option<u64>) -> String {
    n.map(|n| format!("{n} bytes"))
        .unwrap_or_else(|| "streamed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_levels() {
        assert!(targets(0).is_none());
        let one = targets(1).unwrap();
        assert!(one.would_enable(TARGET, &tracing::Level::DEBUG));
        assert!(!one.would_enable(TARGET, &tracing::Level::TRACE));
        assert!(!one.would_enable("kube_client", &tracing::Level::DEBUG));
        assert!(targets(2)
            .unwrap()
            .would_enable(TARGET, &tracing::Level::TRACE));
        assert!(targets(3)
            .unwrap()
            .would_enable("kube_client", &tracing::Level::DEBUG));
    }

    #[test]
    fn durations() {
        assert_eq!(took(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(took(Duration::from_millis(812)), "812ms");
        assert_eq!(took(Duration::from_secs(12)), "12.0s");
    }
}
