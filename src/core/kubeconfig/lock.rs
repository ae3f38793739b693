//! Judging a kubeconfig lock, pure: what a lock file says about its holder, whether that
//! holder is gone, may be writing, or left it long ago, and how long to wait for it. The files
//! themselves (creating, reading, removing the lock) are `drivers::kubeconfig::lock`'s.
//!
//! Our lock records pid, host, program, start time and boot, so a lock left by a bootstrap of
//! this host that is gone (killed, crashed, the machine restarted) is taken over at once. A
//! live holder, a lock written on another host and kubectl's empty locks are never removed:
//! they are waited for, then refused, naming pid, program, host and age.

use std::time::{Duration, Instant};

/// A process that runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// The program's name as the system shows it (Linux: /proc/PID/comm, 15 characters at most).
    pub program: Option<String>,
    /// Start time in clock ticks since boot (Linux: field 22 of /proc/PID/stat).
    pub started: Option<u64>,
}

/// What an existing lock file tells about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockInfo {
    pub age: Duration,
    /// Tells one holder from the next (inode and modification time of the lock file).
    pub identity: (u64, i64, i64),
    /// Ours write "pid\nhost\nprogram\nstart\nboot\n" (older ones the first two lines);
    /// kubectl and kind leave the file empty.
    pub pid: Option<u32>,
    pub host: Option<String>,
    pub program: Option<String>,
    /// The writer's start time in clock ticks since boot: a pid reused since is told apart.
    pub started: Option<u64>,
    /// The boot the writer ran in: a lock from an earlier boot was left by a process now gone.
    pub boot: Option<String>,
}

impl LockInfo {
    /// Pure: read a lock file's content (the first 256 bytes are plenty).
    pub fn parse(content: &str, age: Duration, identity: (u64, i64, i64)) -> LockInfo {
        let mut lines = content.lines().map(str::trim);
        let mut field = || lines.next().filter(|l| !l.is_empty()).map(str::to_owned);
        let pid = field().and_then(|l| l.parse::<u32>().ok());
        LockInfo {
            age,
            identity,
            pid,
            host: field(),
            program: field(),
            started: field().and_then(|l| l.parse().ok()),
            boot: field(),
        }
    }

    /// What our own lock holds: enough for the next writer to tell whether we still run.
    pub fn content(pid: u32, here: &Here, program: &str, started: Option<u64>) -> String {
        format!(
            "{pid}\n{}\n{program}\n{}\n{}\n",
            here.host,
            started.map(|s| s.to_string()).unwrap_or_default(),
            here.boot.as_deref().unwrap_or_default()
        )
    }
}

/// Where we stand when judging a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Here {
    pub host: String,
    pub boot: Option<String>,
}

/// Who holds a lock, as far as this host can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Left by a bootstrap process of this host that is gone: taken over.
    Gone(String),
    /// Someone may be writing right now: wait for them, then refuse, naming them.
    Live(String),
    /// Too old to be anyone's transaction, and not provably ours: refused, with how to remove it.
    Stale(String),
}

/// Decide who holds a lock; pure. `running` answers for a pid on this host.
pub fn judge(
    info: &LockInfo,
    here: &Here,
    stale_after: Duration,
    running: impl Fn(u32) -> Option<Running>,
) -> Holder {
    let age = format!("{}s old", info.age.as_secs());
    let program = |p: Option<&String>| {
        p.or(info.program.as_ref())
            .map(|p| format!(" (`{p}`)"))
            .unwrap_or_default()
    };
    let same_host = info.host.as_deref().is_none_or(|h| h == here.host);
    let old = info.age > stale_after;
    match info.pid {
        Some(pid) if same_host => {
            let written = format!("bootstrap process {pid}{}", program(None));
            if let (Some(then), Some(now)) = (&info.boot, &here.boot) {
                if then != now {
                    return Holder::Gone(format!(
                        "it was left by {written} before this machine restarted ({age})"
                    ));
                }
            }
            match running(pid) {
                None => Holder::Gone(format!(
                    "it was left by {written}, which is no longer running ({age})"
                )),
                Some(now)
                    if info.started.is_some()
                        && now.started.is_some()
                        && info.started != now.started =>
                {
                    Holder::Gone(format!(
                        "it was left by {written}, which is no longer running; pid {pid} is now another process{} ({age})",
                        program(now.program.as_ref())
                    ))
                }
                Some(now) => {
                    let who = format!(
                        "process {pid}{} on this host ({}), lock {age}",
                        program(now.program.as_ref()),
                        here.host
                    );
                    if old {
                        Holder::Stale(format!(
                            "it is held by {who}, and kubectl, kind and bootstrap hold their locks for milliseconds: that process may be stuck"
                        ))
                    } else {
                        Holder::Live(who)
                    }
                }
            }
        }
        Some(pid) => {
            let who = format!(
                "bootstrap process {pid}{} on host {}, lock {age}; that host's processes cannot be seen from here",
                program(None),
                info.host.as_deref().unwrap_or_default()
            );
            if old {
                Holder::Stale(format!("it was written by {who}"))
            } else {
                Holder::Live(who)
            }
        }
        None => {
            let who = format!(
                "an empty lock, the kind kubectl and kind make (no process to check), {age}"
            );
            if old {
                Holder::Stale(format!(
                    "it is {who}, and kubectl, kind and bootstrap hold their locks for milliseconds"
                ))
            } else {
                Holder::Live(who)
            }
        }
    }
}

/// Tells one holder of a lock file from the next (inode and modification time of the file).
pub type Identity = (u64, i64, i64);

/// What to do about a live holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Look again after this long (before the caller's jitter).
    Wait(Duration),
    /// Waited long enough: report the lock as held, after `waited`, by `holder`.
    GiveUp { waited: Duration, holder: String },
}

/// The wait for a lock, bounded per holder (a holder that keeps it `lock_timeout` is reported)
/// and overall (a file that keeps changing hands for six times that long is reported as busy),
/// so a run never waits forever and never gives up on a file that is merely popular.
#[derive(Debug, Clone)]
pub struct Waiting {
    start: Instant,
    lock_timeout: Duration,
    holder: Option<(Identity, Instant)>,
    handovers: u32,
    delay: Duration,
}

impl Waiting {
    pub fn new(start: Instant, lock_timeout: Duration) -> Waiting {
        Waiting {
            start,
            lock_timeout,
            holder: None,
            handovers: 0,
            delay: Duration::from_millis(1),
        }
    }

    /// A live holder, `who`, holds the lock with `identity` at `now`. The naps double from 1 ms
    /// up to 8: holders keep a lock for milliseconds.
    pub fn held(&mut self, identity: Identity, who: String, now: Instant) -> Next {
        let since = match self.holder {
            Some((id, since)) if id == identity => since,
            _ => {
                if self.holder.is_some() {
                    self.handovers += 1;
                }
                self.holder = Some((identity, now));
                now
            }
        };
        let waited = now - self.start;
        if now - since >= self.lock_timeout {
            return Next::GiveUp {
                waited,
                holder: who,
            };
        }
        if waited >= self.lock_timeout * 6 {
            return Next::GiveUp {
                waited,
                holder: format!("taken by {} other writers in turn", self.handovers),
            };
        }
        let delay = self.delay;
        self.delay = (delay * 2).min(Duration::from_millis(8));
        Next::Wait(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(age: u64, pid: Option<u32>, host: Option<&str>) -> LockInfo {
        LockInfo {
            age: Duration::from_secs(age),
            identity: (1, 0, 0),
            pid,
            host: host.map(str::to_owned),
            program: Some("bootstrap".into()),
            started: Some(100),
            boot: Some("b1".into()),
        }
    }

    fn here() -> Here {
        Here {
            host: "me".into(),
            boot: Some("b1".into()),
        }
    }

    const TEN: Duration = Duration::from_secs(10);

    fn runs(started: u64, program: &str) -> impl Fn(u32) -> Option<Running> + '_ {
        move |_| {
            Some(Running {
                program: Some(program.into()),
                started: Some(started),
            })
        }
    }

    #[test]
    fn a_dead_holder_on_this_host_is_gone_at_once() {
        let Holder::Gone(why) = judge(&info(0, Some(42), Some("me")), &here(), TEN, |_| None)
        else {
            panic!()
        };
        assert!(
            why.contains("process 42 (`bootstrap`)") && why.contains("no longer running"),
            "{why}"
        );
    }

    #[test]
    fn a_reused_pid_or_an_earlier_boot_is_gone_too() {
        let Holder::Gone(why) = judge(
            &info(0, Some(42), Some("me")),
            &here(),
            TEN,
            runs(999, "sshd"),
        ) else {
            panic!()
        };
        assert!(
            why.contains("pid 42 is now another process (`sshd`)"),
            "{why}"
        );
        let mut before = info(0, Some(42), Some("me"));
        before.boot = Some("b0".into());
        assert!(matches!(
            judge(&before, &here(), TEN, runs(100, "bootstrap")),
            Holder::Gone(w) if w.contains("before this machine restarted")
        ));
    }

    #[test]
    fn a_live_holder_is_named_with_pid_program_host_and_age() {
        let Holder::Live(who) = judge(
            &info(3, Some(42), Some("me")),
            &here(),
            TEN,
            runs(100, "bootstrap"),
        ) else {
            panic!()
        };
        assert_eq!(
            who,
            "process 42 (`bootstrap`) on this host (me), lock 3s old"
        );
        assert!(matches!(
            judge(&info(11, Some(42), Some("me")), &here(), TEN, runs(100, "bootstrap")),
            Holder::Stale(w) if w.contains("may be stuck")
        ));
    }

    #[test]
    fn a_lock_from_another_host_is_never_taken_over() {
        let Holder::Live(who) = judge(&info(3, Some(42), Some("other")), &here(), TEN, |_| None)
        else {
            panic!()
        };
        assert!(
            who.contains("process 42 (`bootstrap`) on host other, lock 3s old"),
            "{who}"
        );
        assert!(matches!(
            judge(&info(60, Some(42), Some("other")), &here(), TEN, |_| None),
            Holder::Stale(w) if w.contains("on host other")
        ));
    }

    #[test]
    fn an_empty_kubectl_lock_is_waited_for_then_stale_when_old() {
        let empty = |age| LockInfo {
            age: Duration::from_secs(age),
            ..LockInfo::default()
        };
        assert!(matches!(
            judge(&empty(1), &here(), TEN, |_| None),
            Holder::Live(_)
        ));
        let Holder::Stale(why) = judge(&empty(60), &here(), TEN, |_| None) else {
            panic!()
        };
        assert!(why.contains("60s old") && why.contains("empty"), "{why}");
    }

    #[test]
    fn lock_content_round_trips_and_old_locks_still_read() {
        let text = LockInfo::content(42, &here(), "bootstrap", Some(100));
        let back = LockInfo::parse(&text, Duration::from_secs(3), (1, 0, 0));
        assert_eq!(back, info(3, Some(42), Some("me")));
        let old = LockInfo::parse("42\nme\n", Duration::ZERO, (1, 0, 0));
        assert_eq!(
            (old.pid, old.host.as_deref(), old.started),
            (Some(42), Some("me"), None)
        );
        let kubectl = LockInfo::parse("", Duration::ZERO, (1, 0, 0));
        assert_eq!(kubectl.pid, None);
    }

    #[test]
    fn a_live_holder_is_waited_for_then_named_and_the_naps_grow_to_8ms() {
        let t0 = Instant::now();
        let mut w = Waiting::new(t0, Duration::from_secs(5));
        assert_eq!(
            w.held((1, 0, 0), "a".into(), t0),
            Next::Wait(Duration::from_millis(1))
        );
        assert_eq!(
            w.held((1, 0, 0), "a".into(), t0),
            Next::Wait(Duration::from_millis(2))
        );
        for _ in 0..4 {
            w.held((1, 0, 0), "a".into(), t0);
        }
        assert_eq!(
            w.held((1, 0, 0), "a".into(), t0),
            Next::Wait(Duration::from_millis(8))
        );
        assert_eq!(
            w.held((1, 0, 0), "a".into(), t0 + Duration::from_secs(5)),
            Next::GiveUp {
                waited: Duration::from_secs(5),
                holder: "a".into()
            }
        );
    }

    #[test]
    fn a_file_that_keeps_changing_hands_is_reported_busy_after_six_timeouts() {
        let t0 = Instant::now();
        let mut w = Waiting::new(t0, Duration::from_secs(1));
        for s in 0..6 {
            let now = t0 + Duration::from_millis(s * 1000 + 500);
            assert!(matches!(w.held((s, 0, 0), "x".into(), now), Next::Wait(_)));
        }
        let now = t0 + Duration::from_secs(6);
        assert_eq!(
            w.held((9, 0, 0), "x".into(), now),
            Next::GiveUp {
                waited: Duration::from_secs(6),
                holder: "taken by 6 other writers in turn".into()
            }
        );
    }
}
