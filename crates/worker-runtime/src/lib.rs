//! Process hygiene shared by every worker binary (it links no engine):
//! - [`take_protocol_stdout`]: stdout carries protocol lines only. C code (whisper.cpp,
//!   llama.cpp, ggml) may `printf` at any time, so a worker keeps a private duplicate of fd 1 for
//!   the protocol and points fd 1 itself at stderr; anything printed the ordinary way lands in
//!   the log.
//! - [`passive_openmp`]: engine threads sleep instead of spinning while they wait.
//! - [`FailPlan`]: `NIGHTSHIFT_WORKER_FAIL=abort_after:N`, deliberate crashes for tests.
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

/// `NIGHTSHIFT_WORKER_FAIL`: deliberate crashes for the supervisor's tests.
pub struct FailPlan {
    abort_after: Option<usize>,
}

impl FailPlan {
    pub fn from_env() -> Result<FailPlan, String> {
        let Ok(spec) = std::env::var("NIGHTSHIFT_WORKER_FAIL") else {
            return Ok(FailPlan { abort_after: None });
        };
        let n = spec
            .strip_prefix("abort_after:")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| {
                format!("NIGHTSHIFT_WORKER_FAIL={spec:?}: expected abort_after:N (N items)")
            })?;
        Ok(FailPlan {
            abort_after: Some(n),
        })
    }

    pub fn before_item(&self, answered: usize) {
        if self.abort_after == Some(answered) {
            tracing::warn!("NIGHTSHIFT_WORKER_FAIL: aborting after {answered} items");
            std::process::abort();
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
