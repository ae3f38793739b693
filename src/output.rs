//! The one way bootstrap writes to stdout and stderr. std's `println!` panics when a write fails
//! ("failed printing to stdout: Broken pipe" under `| head -c1`, "No space left on device" into
//! /dev/full); the crate's print macros (defined in lib.rs, shadowing std's) come here instead:
//!
//! - a closed pipe means the reader is done: further output is dropped quietly and the command
//!   ends with the status it would have had, as `| head` users expect;
//! - any other failure on stdout is remembered, further stdout output is dropped, and the
//!   command ends with an error message on stderr and exit 1 (`finish`);
//! - stderr is for people: a failure there is dropped, never a panic, never a changed status.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static STDOUT_DONE: AtomicBool = AtomicBool::new(false);
static STDERR_DONE: AtomicBool = AtomicBool::new(false);
static STDOUT_WROTE: AtomicBool = AtomicBool::new(false);
static STDOUT_ERROR: Mutex<Option<io::Error>> = Mutex::new(None);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

fn write(stream: Stream, args: fmt::Arguments, newline: bool) {
    let done = match stream {
        Stream::Out => &STDOUT_DONE,
        Stream::Err => &STDERR_DONE,
    };
    if done.load(Ordering::Relaxed) {
        return;
    }
    let result = match stream {
        Stream::Out => {
            STDOUT_WROTE.store(true, Ordering::Relaxed);
            let mut o = io::stdout().lock();
            o.write_fmt(args)
                .and_then(|_| if newline { o.write_all(b"\n") } else { Ok(()) })
        }
        Stream::Err => {
            let mut e = io::stderr().lock();
            e.write_fmt(args)
                .and_then(|_| if newline { e.write_all(b"\n") } else { Ok(()) })
        }
    };
    if let Err(e) = result {
        failed(stream, e);
    }
}

fn failed(stream: Stream, e: io::Error) {
    match stream {
        Stream::Out => {
            STDOUT_DONE.store(true, Ordering::Relaxed);
            if e.kind() != io::ErrorKind::BrokenPipe {
                let mut first = STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert(e);
            }
        }
        Stream::Err => STDERR_DONE.store(true, Ordering::Relaxed),
    }
}

/// `print!`
pub fn out(args: fmt::Arguments) {
    write(Stream::Out, args, false)
}

/// `println!`
pub fn out_line(args: fmt::Arguments) {
    write(Stream::Out, args, true)
}

/// `eprint!`
pub fn err(args: fmt::Arguments) {
    write(Stream::Err, args, false)
}

/// `eprintln!`
pub fn err_line(args: fmt::Arguments) {
    write(Stream::Err, args, true)
}

/// Whether anything was written to stdout: a command that printed its JSON document must not
/// get a second one appended for its failure.
pub fn stdout_used() -> bool {
    STDOUT_WROTE.load(Ordering::Relaxed)
}

/// Flush stdout at the end of a command; the first write error other than a closed pipe, if
/// any happened, for the caller to report (exit 1).
pub fn finish() -> Option<io::Error> {
    if !STDOUT_DONE.load(Ordering::Relaxed) {
        if let Err(e) = io::stdout().lock().flush() {
            failed(Stream::Out, e);
        }
    }
    let _ = io::stderr().lock().flush();
    STDOUT_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
}

/// A writer for log lines (tracing): stderr through the same rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !STDERR_DONE.load(Ordering::Relaxed) {
            if let Err(e) = io::stderr().lock().write_all(buf) {
                failed(Stream::Err, e);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Pure: whether text for a stream may carry colour. Never with `NO_COLOR` set to anything but
/// the empty string (no-color.org), never on a `TERM=dumb` terminal, never into a file or pipe.
pub fn colour_allowed(
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
    terminal: bool,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// Whether stdout (`true`) or stderr (`false`) may carry colour now.
pub fn colour(stdout: bool) -> bool {
    use std::io::IsTerminal;
    let terminal = if stdout {
        io::stdout().is_terminal()
    } else {
        io::stderr().is_terminal()
    };
    colour_allowed(
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
        terminal,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_that_wants_it() {
        let s = |v: &'static str| Some(OsStr::new(v));
        assert!(colour_allowed(None, s("xterm-256color"), true));
        assert!(colour_allowed(None, None, true));
        assert!(!colour_allowed(None, s("xterm"), false), "a file or pipe");
        assert!(!colour_allowed(s("1"), s("xterm"), true));
        assert!(
            !colour_allowed(s("0"), s("xterm"), true),
            "any non-empty value"
        );
        assert!(colour_allowed(s(""), s("xterm"), true), "empty means unset");
        assert!(!colour_allowed(None, s("dumb"), true));
    }
}
