//! Who is running: runner registration and process liveness on this host.

use std::fs;

/// Identifies a runner process well enough that a recycled pid or a reboot is not mistaken for
/// the old process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerIdentity {
    pub runner_id: String,
    pub host: String,
    pub boot_id: String,
    pub pid: u32,
    /// Process start time in clock ticks since boot (`/proc/PID/stat` field 22); 0 if unknown.
    pub proc_start: u64,
}

impl RunnerIdentity {
    /// The identity of the calling process.
    pub fn current() -> RunnerIdentity {
        let pid = std::process::id();
        let host = hostname();
        let proc_start = proc_start_ticks(pid).unwrap_or(0);
        RunnerIdentity {
            runner_id: format!("{host}:{pid}:{proc_start}"),
            host,
            boot_id: boot_id(),
            pid,
            proc_start,
        }
    }
}

pub(crate) fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Start time of `pid` in clock ticks since boot, from `/proc/PID/stat`.
fn proc_start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3 (state); start time is field 22 → index 19 here.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid` (started at `proc_start` ticks, 0 = unknown) is still the same live
/// process. `kill(pid, 0)` failing with EPERM means it exists but belongs to someone else.
pub fn process_alive(pid: u32, proc_start: u64) -> bool {
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 performs only the existence and permission check.
    let rc = unsafe { libc::kill(pid_t, 0) };
    let exists = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    if proc_start == 0 {
        return true;
    }
    match proc_start_ticks(pid) {
        Some(ticks) => ticks == proc_start,
        // No /proc (not Linux): trust kill().
        None => true,
    }
}

/// Which of this host's registered runners `(runner_id, boot_id, pid, proc_start)` are dead:
/// from an earlier boot, or whose process is gone. `me` never is.
pub(crate) fn dead_runners(
    runners: Vec<(String, String, u32, u64)>,
    me: &RunnerIdentity,
) -> Vec<String> {
    runners
        .into_iter()
        .filter(|(id, boot, pid, start)| {
            id != &me.runner_id && (boot != &me.boot_id || !process_alive(*pid, *start))
        })
        .map(|(id, ..)| id)
        .collect()
}
