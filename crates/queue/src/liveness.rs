//! Who is running: runner registration and process liveness on this host.

use std::fs;

use rusqlite::params;

use crate::{Queue, QueueError};

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

fn hostname() -> String {
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

impl Queue {
    /// Record this runner so others can tell whether it is alive.
    pub fn register_runner(&mut self, me: &RunnerIdentity) -> Result<(), QueueError> {
        let now = self.now();
        self.write(|tx, p| {
            tx.execute(
                "INSERT OR REPLACE INTO runners
                 (runner_id, host, boot_id, pid, proc_start, started_at, heartbeat_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![
                    me.runner_id,
                    me.host,
                    me.boot_id,
                    me.pid,
                    me.proc_start as i64,
                    now
                ],
            )
            .map(|_| ())
            .map_err(|e| QueueError::sql(p, e))
        })
    }

    pub fn unregister_runner(&mut self, runner_id: &str) -> Result<(), QueueError> {
        self.write(|tx, p| {
            tx.execute("DELETE FROM runners WHERE runner_id = ?1", [runner_id])
                .map(|_| ())
                .map_err(|e| QueueError::sql(p, e))
        })
    }

    /// Requeue at once (no backoff, the attempt still counts) the jobs of runners on this host
    /// whose process is gone or that belong to an earlier boot. Returns how many jobs moved.
    pub fn reclaim_dead_runners(&mut self, me: &RunnerIdentity) -> Result<usize, QueueError> {
        let runners: Vec<(String, String, u32, u64)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT runner_id, boot_id, pid, proc_start FROM runners WHERE host = ?1")
                .map_err(|e| QueueError::sql(&self.path, e))?;
            stmt.query_map([&me.host], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| QueueError::sql(&self.path, e))?
        };
        let dead: Vec<String> = runners
            .into_iter()
            .filter(|(id, boot, pid, start)| {
                id != &me.runner_id && (boot != &me.boot_id || !process_alive(*pid, *start))
            })
            .map(|(id, ..)| id)
            .collect();
        let mut moved = 0;
        for runner in dead {
            moved += self.requeue_owner(&runner)?;
            self.unregister_runner(&runner)?;
        }
        Ok(moved)
    }
}
