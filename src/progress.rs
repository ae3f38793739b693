//! What a long command is doing, on stderr: a live line per step on a terminal, plain timestamped
//! lines elsewhere (CI logs, pipes), and each step's duration at the end. Outside programs' output
//! (kind's) is folded into the step it belongs to.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
struct Record {
    name: String,
    took: Duration,
    ok: bool,
}

#[derive(Clone)]
pub struct Progress {
    live: bool,
    records: Arc<Mutex<Vec<Record>>>,
}

pub struct Step {
    name: String,
    started: Instant,
    bar: Option<ProgressBar>,
    records: Arc<Mutex<Vec<Record>>>,
}

/// Set by `-v`: log lines and a redrawn line would garble each other, so steps print plainly.
static PLAIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Print steps as plain lines even on a terminal.
pub fn set_plain() {
    PLAIN.store(true, std::sync::atomic::Ordering::Relaxed);
}

impl Progress {
    /// Live when stderr is a terminal that can redraw a line (and no `-v` logs interleave).
    pub fn auto() -> Self {
        let live = std::io::stderr().is_terminal()
            && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
            && !PLAIN.load(std::sync::atomic::Ordering::Relaxed);
        Self::new(live)
    }

    pub fn new(live: bool) -> Self {
        Progress {
            live,
            records: Arc::default(),
        }
    }

    pub fn begin(&self, name: &str) -> Step {
        let bar = self.live.then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {wide_msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_prefix(name.to_owned());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        if !self.live {
            eprintln!("{} {name}: started", stamp());
        }
        Step {
            name: name.to_owned(),
            started: Instant::now(),
            bar,
            records: self.records.clone(),
        }
    }

    /// Print each finished step's duration; call once at the end of a command.
    pub fn summary(&self) {
        let records = self.records.lock().map(|r| r.clone()).unwrap_or_default();
        if records.is_empty() {
            return;
        }
        let parts: Vec<String> = records
            .iter()
            .map(|r| {
                format!(
                    "{} {}{}",
                    r.name,
                    secs(r.took),
                    if r.ok { "" } else { " (failed)" }
                )
            })
            .collect();
        eprintln!("steps: {}", parts.join(", "));
    }
}

impl Step {
    /// A line of detail, such as one of kind's progress lines.
    pub fn note(&self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        match &self.bar {
            Some(b) => b.set_message(line.to_owned()),
            None => eprintln!("{} {}: {line}", stamp(), self.name),
        }
    }

    pub fn finish(self, msg: &str) {
        self.end(msg, true)
    }

    pub fn fail(self, msg: &str) {
        self.end(msg, false)
    }

    fn end(mut self, msg: &str, ok: bool) {
        let took = self.started.elapsed();
        if let Ok(mut r) = self.records.lock() {
            r.push(Record {
                name: self.name.clone(),
                took,
                ok,
            });
        }
        let mark = if ok { "ok" } else { "FAILED" };
        match self.bar.take() {
            Some(b) => {
                b.finish_and_clear();
                eprintln!(
                    "{} {}: {msg} ({})",
                    if ok { "✓" } else { "✗" },
                    self.name,
                    secs(took)
                );
            }
            None => eprintln!("{} {}: {mark}: {msg} ({})", stamp(), self.name, secs(took)),
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        // A step abandoned by an early return still leaves a clean terminal line.
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// UTC wall-clock time of day, HH:MM:SS.mmm: enough to line our steps up with other logs.
pub fn stamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_stamp(now)
}

fn format_stamp(since_epoch: Duration) -> String {
    let s = since_epoch.as_secs() % 86_400;
    format!(
        "[{:02}:{:02}:{:02}.{:03}Z]",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        since_epoch.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_time_of_day() {
        // 2026-11-21T13:55:41.250Z
        let t = Duration::from_millis(1_795_269_341_250);
        assert_eq!(format_stamp(t), "[13:55:41.250Z]");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(secs(Duration::from_millis(42)), "42ms");
        assert_eq!(secs(Duration::from_millis(12_340)), "12.3s");
    }

    #[test]
    fn finished_steps_are_recorded() {
        let p = Progress::new(false);
        p.begin("cluster").finish("converged");
        p.begin("preflight").fail("port taken");
        let r = p.records.lock().unwrap();
        assert_eq!(r.len(), 2);
        assert!(r[0].ok && !r[1].ok);
    }
}
