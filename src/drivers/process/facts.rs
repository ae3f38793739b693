//! Facts about processes on this host, as the system shows them: whether a pid runs, which
//! program it is, when it started (to tell a pid reused by another process from the one that
//! wrote a lock) and which boot of the machine this is. Linux reads /proc; elsewhere what libc
//! offers, and `None` where the system does not say.

pub use crate::core::kubeconfig::lock::Running;

/// Whether `pid` runs, and what it is; None when no such process exists.
pub fn running(pid: u32) -> Option<Running> {
    alive(pid).then(|| Running {
        program: program(pid),
        started: started(pid),
    })
}

/// Signal 0 checks that the process exists; EPERM means it exists under another user.
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The program name of a running process.
pub fn program(pid: u32) -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .map(|s| s.trim_end().to_owned())
            .filter(|s| !s.is_empty())
    }
    #[cfg(target_os = "macos")]
    {
        let mut buf = [0u8; 256];
        let pid = i32::try_from(pid).ok()?;
        // SAFETY: proc_name writes at most `buf.len()` bytes into `buf` and returns the length.
        let n = unsafe { libc::proc_name(pid, buf.as_mut_ptr().cast(), buf.len() as u32) };
        (n > 0).then(|| String::from_utf8_lossy(&buf[..n as usize]).into_owned())
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = pid;
        None
    }
}

/// Start time of a running process, in clock ticks since boot (Linux only).
pub fn started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start(&stat)
}

/// Pure: field 22 of /proc/PID/stat. The program name (field 2) is in parentheses and may hold
/// spaces and parentheses itself, so fields are counted after its last `)`.
pub fn parse_start(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards; field 22 is the 20th of those.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This boot of the machine (Linux: /proc/sys/kernel/random/boot_id): a lock written under
/// another boot was written by a process that is gone, whatever its pid is now.
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The host's name, as `hostname` prints it; HOSTNAME's value when the system gives none.
pub fn hostname() -> String {
    system_hostname()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

/// The host's name as the system gives it (gethostname); None when it gives none.
pub fn system_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes, NUL-terminated when it fits.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned()).filter(|h| !h.is_empty())
}

/// This program's name, as a lock records it.
pub fn this_program() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bootstrap".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_read_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start(stat), Some(987654));
        assert_eq!(parse_start("garbage"), None);
    }

    #[test]
    fn this_process_is_seen_running_with_its_start_time() {
        let me = running(std::process::id()).expect("we run");
        if cfg!(target_os = "linux") {
            assert!(me.program.is_some() && me.started.is_some(), "{me:?}");
            assert_eq!(me.started, started(std::process::id()));
        }
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(running(pid), None, "a reaped child is gone");
        assert!(!hostname().is_empty());
    }
}
