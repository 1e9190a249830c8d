//! Starting a worker process politely and safely.
//!
//! In the child, between fork and exec (`pre_exec`, async-signal-safe calls only):
//! - `setpgid(0, 0)`: its own process group, so a terminal's Ctrl-C reaches only the Foreman,
//!   which then stops the batch in order; and so a timeout can kill the whole group.
//! - `PR_SET_PDEATHSIG(SIGKILL)` (Linux): if the Foreman dies, the worker dies too and frees
//!   its memory. The kernel ties this to the *thread* that forked, not the process: spawn
//!   workers from a thread that outlives them (the thread calling `run_batch` does, as it
//!   waits for the worker) — never from a short-lived or pooled thread such as tokio's
//!   `spawn_blocking`, whose exit would kill the worker mid-batch.
//! - `nice(10)` and optionally `SCHED_IDLE`: inference yields to anything interactive.
//! - CPU affinity to the performance cores on hybrid Intel CPUs
//!   (`/sys/devices/cpu_core/cpus`); elsewhere nothing is pinned.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// How the worker process is started.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// Run under `SCHED_IDLE` (only when nothing else wants the CPU).
    pub sched_idle: bool,
    /// Extra environment for the worker.
    pub env: Vec<(String, String)>,
    /// Command-line arguments (the line-JSON workers take none; the frames worker its video).
    pub args: Vec<OsString>,
}

/// Where the kernel lists the performance cores of a hybrid CPU.
const P_CORES: &str = "/sys/devices/cpu_core/cpus";

/// Spawn `bin` with piped stdin/stdout/stderr and the settings described in the module doc.
pub fn spawn_worker(bin: &Path, opts: &SpawnOptions) -> io::Result<Child> {
    let affinity = performance_cores();
    let parent = std::process::id();
    let sched_idle = opts.sched_idle;
    let mut cmd = Command::new(bin);
    cmd.args(&opts.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .envs(opts.env.iter().map(|(k, v)| (k, v)));
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // syscalls on values prepared before the fork (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            #[cfg(target_os = "linux")]
            {
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                // The parent may have died before prctl took effect: then we were reparented.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
            }
            // Politeness is best effort: a failure (e.g. already at nice 19) is not an error.
            let _ = libc::nice(10);
            #[cfg(target_os = "linux")]
            {
                if sched_idle {
                    let param = libc::sched_param { sched_priority: 0 };
                    let _ = libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
                }
                if let Some(set) = &affinity {
                    let _ = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set);
                }
            }
            Ok(())
        });
    }
    // ETXTBSY: the binary was just written and some other thread's fork still holds a
    // writable descriptor of it for a moment (a test writing a fake worker, an upgrade
    // replacing one). It clears as soon as that child execs; retry briefly.
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

/// The CPU set of the performance cores, if this is a hybrid CPU the kernel describes.
#[cfg(target_os = "linux")]
fn performance_cores() -> Option<libc::cpu_set_t> {
    let list = match std::fs::read_to_string(P_CORES) {
        Ok(s) => s,
        Err(_) => {
            tracing::debug!("{P_CORES} absent: not a hybrid CPU, worker threads not pinned");
            return None;
        }
    };
    let cpus = parse_cpu_list(&list)?;
    tracing::info!("pinning worker to performance cores {}", list.trim());
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for c in cpus {
            if c < libc::CPU_SETSIZE as usize {
                libc::CPU_SET(c, &mut set);
            }
        }
        Some(set)
    }
}

#[cfg(not(target_os = "linux"))]
fn performance_cores() -> Option<()> {
    None
}

/// Parse the kernel's CPU list format ("0-7,16,18-19"). `None` if malformed or empty.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("5"), Some(vec![5]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }
}
