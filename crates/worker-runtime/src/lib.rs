//! Process hygiene shared by every worker binary (it links no engine):
//! - [`take_protocol_stdout`]: stdout carries protocol lines only. C code (whisper.cpp,
//!   llama.cpp, ggml) may `printf` at any time, so a worker keeps a private duplicate of fd 1 for
//!   the protocol and points fd 1 itself at stderr; anything printed the ordinary way lands in
//!   the log.
//! - [`passive_openmp`]: engine threads sleep instead of spinning while they wait.
//! - [`FailPlan`]: `NIGHTSHIFT_WORKER_FAIL=abort_after:N` (or `hang_after:N`, `garbage_after:N`,
//!   optionally `@WORKER`), deliberate crashes, hangs and garbage for tests.
//! - [`worker_main`]: the process life of a worker, all of the above in order.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::FromRawFd;

/// The whole life of a worker process: passive OpenMP (may re-exec), the private protocol
/// channel, logging to stderr (`NIGHTSHIFT_WORKER_LOG`, else `default_log_filter`), then `run`.
/// An `Err` from `run` is fatal: logged, handed to `fatal` to answer on the protocol, exit 1.
/// Exit 2 when the protocol pipe cannot be set up. Never returns.
pub fn worker_main(
    name: &str,
    default_log_filter: &str,
    run: impl FnOnce(&mut BufWriter<File>) -> Result<(), String>,
    fatal: impl FnOnce(&mut BufWriter<File>, String),
) -> ! {
    passive_openmp();
    // Take the protocol channel before anything (the engine included) can print on fd 1.
    let proto = match take_protocol_stdout() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{name}: cannot set up the protocol pipe: {e}");
            std::process::exit(2);
        }
    };
    init_logging(default_log_filter);
    let mut out = BufWriter::new(proto);
    let code = match run(&mut out) {
        Ok(()) => 0,
        Err(message) => {
            tracing::error!("{message}");
            // The supervisor may already be gone; nothing more to do if this write fails.
            fatal(&mut out, message);
            1
        }
    };
    let _ = out.flush();
    std::process::exit(code);
}

fn init_logging(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("NIGHTSHIFT_WORKER_LOG")
        .unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
}

/// Duplicate fd 1 into a private close-on-exec descriptor, then make fd 1 a copy of fd 2.
pub fn take_protocol_stdout() -> io::Result<File> {
    // SAFETY: plain descriptor syscalls; `fd` is checked before it is wrapped, and the File
    // becomes its only owner.
    unsafe {
        let fd = libc::fcntl(libc::STDOUT_FILENO, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let proto = File::from_raw_fd(fd);
        if libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(proto)
    }
}

/// `NIGHTSHIFT_WORKER_FAIL`: deliberate misbehaviour for crash and fault-injection tests.
///
/// `KIND_after:N[@WORKER]`, once N items have been answered and before item N+1 starts:
/// - `abort_after:N`: `std::process::abort()` (SIGABRT, like a segfault in C code);
/// - `hang_after:N`: stop answering and never exit (the supervisor's batch limit must end it);
/// - `garbage_after:N`: write a line of non-protocol bytes on the protocol stdout, then go on.
///
/// `@WORKER` limits the fault to workers whose executable name contains WORKER (`whisper`,
/// `ct2`, `llama`, `diarize`). With `NIGHTSHIFT_WORKER_FAIL_ONCE=PATH` only the first worker that
/// reaches the fault point takes it: it creates PATH (which must not exist), and every later
/// worker that finds PATH there runs normally, as a retried batch would on a real machine.
pub struct FailPlan {
    fault: Option<(Fault, usize)>,
    once: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Abort,
    Hang,
    Garbage,
}

/// What `garbage_after` writes: not JSON, not UTF-8, half a protocol message.
pub const GARBAGE_LINE: &[u8] = b"{\"type\":\"res\xff\xfe garbage \x00\x01 not a protocol line\n";

impl FailPlan {
    pub fn from_env() -> Result<FailPlan, String> {
        let Ok(spec) = std::env::var("NIGHTSHIFT_WORKER_FAIL") else {
            return Ok(FailPlan::none());
        };
        let plan = FailPlan::parse(&spec, &exe_name()).ok_or_else(|| {
            format!(
                "NIGHTSHIFT_WORKER_FAIL={spec:?}: expected abort_after:N, hang_after:N or \
                 garbage_after:N (N items), optionally followed by @WORKER"
            )
        })?;
        Ok(FailPlan {
            once: std::env::var_os("NIGHTSHIFT_WORKER_FAIL_ONCE").map(Into::into),
            ..plan
        })
    }

    fn none() -> FailPlan {
        FailPlan {
            fault: None,
            once: None,
        }
    }

    /// `spec` for the worker whose executable is called `exe`; `None` when it does not parse.
    fn parse(spec: &str, exe: &str) -> Option<FailPlan> {
        let (what, worker) = match spec.split_once('@') {
            Some((w, name)) => (w, Some(name.trim())),
            None => (spec, None),
        };
        let (kind, n) = what.split_once(':')?;
        let fault = match kind.trim() {
            "abort_after" => Fault::Abort,
            "hang_after" => Fault::Hang,
            "garbage_after" => Fault::Garbage,
            _ => return None,
        };
        let n: usize = n.trim().parse().ok()?;
        if worker.is_some_and(|w| w.is_empty()) {
            return None;
        }
        let mine = worker.is_none_or(|w| exe.contains(w));
        Some(FailPlan {
            fault: mine.then_some((fault, n)),
            once: None,
        })
    }

    /// Called before each item with the number of items answered so far; `out` is the
    /// protocol channel.
    pub fn before_item(&self, answered: usize, out: &mut impl Write) {
        let Some((fault, n)) = self.fault else {
            return;
        };
        if n != answered || !self.take_once() {
            return;
        }
        match fault {
            Fault::Abort => {
                tracing::warn!("NIGHTSHIFT_WORKER_FAIL: aborting after {answered} items");
                std::process::abort();
            }
            Fault::Hang => {
                tracing::warn!("NIGHTSHIFT_WORKER_FAIL: hanging after {answered} items");
                let _ = out.flush();
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
            }
            Fault::Garbage => {
                tracing::warn!("NIGHTSHIFT_WORKER_FAIL: garbage on stdout after {answered} items");
                let _ = out.write_all(GARBAGE_LINE).and_then(|()| out.flush());
            }
        }
    }

    /// Whether this worker takes the fault: always without a once-file, else only if it is
    /// the one that creates it.
    fn take_once(&self) -> bool {
        match &self.once {
            None => true,
            Some(path) => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .is_ok(),
        }
    }
}

/// Make libgomp sleep, not spin, while its threads wait for each other, unless the supervisor
/// chose a policy (the Foreman's llama batches spin briefly: `foreman::batch::llama_spin_env`)
/// (two spinning workers
/// on two cores took 200 s each on a 5-minute meeting instead of ~10 s). libgomp reads `OMP_WAIT_POLICY` once, when it is loaded — before `main` — so when
/// the variable is unset the worker re-executes itself with it set. `exec` keeps the pid,
/// process group, priority, affinity and parent-death signal the supervisor set up.
pub fn passive_openmp() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("OMP_WAIT_POLICY").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("OMP_WAIT_POLICY", "passive")
        .exec();
    // Still here: exec failed. Run on with spinning barriers rather than not at all.
    eprintln!(
        "{}: cannot re-exec with OMP_WAIT_POLICY=passive: {err}",
        exe_name()
    );
}

fn exe_name() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "worker".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_and_without_a_worker() {
        let p = FailPlan::parse("hang_after:2", "nightshift-whisper-worker").unwrap();
        assert_eq!(p.fault, Some((Fault::Hang, 2)));
        let p = FailPlan::parse("garbage_after:0@llama", "nightshift-llama-worker").unwrap();
        assert_eq!(p.fault, Some((Fault::Garbage, 0)));
        let p = FailPlan::parse("abort_after:1@llama", "nightshift-whisper-worker").unwrap();
        assert_eq!(p.fault, None, "another worker's fault");
        for bad in [
            "abort_after",
            "hang_after:x",
            "explode_after:1",
            "hang_after:1@",
        ] {
            assert!(FailPlan::parse(bad, "w").is_none(), "{bad}");
        }
    }

    #[test]
    fn garbage_is_written_once_at_the_fault_point_and_only_by_the_first_worker() {
        let dir = std::env::temp_dir().join(format!("ns-failplan-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let plan = |once: bool| FailPlan {
            fault: Some((Fault::Garbage, 1)),
            once: once.then(|| dir.clone()),
        };
        let mut out = Vec::new();
        plan(false).before_item(0, &mut out);
        assert!(out.is_empty());
        plan(false).before_item(1, &mut out);
        assert_eq!(out, GARBAGE_LINE);
        let mut first = Vec::new();
        plan(true).before_item(1, &mut first);
        let mut second = Vec::new();
        plan(true).before_item(1, &mut second);
        assert_eq!(first, GARBAGE_LINE);
        assert!(second.is_empty(), "the once-file was taken");
        std::fs::remove_file(&dir).unwrap();
    }
}
