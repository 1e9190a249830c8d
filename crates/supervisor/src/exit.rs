//! How a worker ended, in words a user can act on, and reaping it with its resource usage.

use std::fmt;
use std::time::{Duration, Instant};

/// How the worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerExit {
    /// Exited by itself with this status (0 = clean).
    Exited(i32),
    /// Killed by a signal (a crash in C code, the OOM killer, or our own timeout kill).
    Signaled(i32),
}

impl WorkerExit {
    pub fn success(self) -> bool {
        self == WorkerExit::Exited(0)
    }

    fn from_wait_status(status: libc::c_int) -> WorkerExit {
        if libc::WIFSIGNALED(status) {
            WorkerExit::Signaled(libc::WTERMSIG(status))
        } else {
            WorkerExit::Exited(libc::WEXITSTATUS(status))
        }
    }
}

impl fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WorkerExit::Exited(0) => f.write_str("worker exited cleanly"),
            WorkerExit::Exited(code) => write!(f, "worker exited with status {code}"),
            WorkerExit::Signaled(sig) => {
                write!(f, "worker killed by signal {sig} ({})", signal_name(sig))?;
                match sig {
                    libc::SIGKILL => f.write_str(": out of memory, or killed on purpose"),
                    libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGABRT => {
                        f.write_str(": the engine crashed")
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

/// "SIGABRT" for 6, and so on; "unknown" for signals without a usual name.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        _ => "unknown",
    }
}

/// What `wait4` tells about a reaped child.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    pub exit: WorkerExit,
    /// Peak resident set size of the worker, in bytes (`ru_maxrss`).
    pub peak_rss_bytes: u64,
}

/// Wait up to `patience` for `pid` to exit; `Ok(None)` if it is still running.
pub fn reap_within(pid: libc::pid_t, patience: Duration) -> std::io::Result<Option<Reaped>> {
    let until = Instant::now() + patience;
    loop {
        if let Some(r) = wait4(pid, libc::WNOHANG)? {
            return Ok(Some(r));
        }
        if Instant::now() >= until {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Block until `pid` exits.
pub fn reap_blocking(pid: libc::pid_t) -> std::io::Result<Reaped> {
    loop {
        if let Some(r) = wait4(pid, 0)? {
            return Ok(r);
        }
    }
}

fn wait4(pid: libc::pid_t, flags: libc::c_int) -> std::io::Result<Option<Reaped>> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills in; status is a valid out-pointer.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(None);
        }
        return Err(e);
    }
    if r == 0 {
        return Ok(None);
    }
    Ok(Some(Reaped {
        exit: WorkerExit::from_wait_status(status),
        // Linux reports ru_maxrss in KiB.
        peak_rss_bytes: (usage.ru_maxrss.max(0) as u64) * 1024,
    }))
}

/// Kill the worker's whole process group (it is its own group leader, see `spawn`).
pub fn kill_group(pid: libc::pid_t) {
    // SAFETY: plain syscall. Only called while the child is unreaped, so the pid (and group id)
    // cannot have been reused by another process.
    unsafe {
        libc::killpg(pid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_read_like_sentences() {
        assert_eq!(WorkerExit::Exited(0).to_string(), "worker exited cleanly");
        assert_eq!(
            WorkerExit::Exited(1).to_string(),
            "worker exited with status 1"
        );
        let abrt = WorkerExit::Signaled(libc::SIGABRT).to_string();
        assert!(
            abrt.starts_with("worker killed by signal 6 (SIGABRT)"),
            "{abrt}"
        );
        assert!(WorkerExit::Signaled(9).to_string().contains("SIGKILL"));
    }
}
