//! A child whose answer is one byte stream on stdout rather than line-JSON messages — the frames
//! worker's raw signatures (`frames.rs`), or an ffmpeg decode — with the same hygiene as
//! a batch worker: spawned by [`spawn_worker`] (own process group, nice 10, `PR_SET_PDEATHSIG`,
//! P-core pinning), stderr drained into `tracing` with its last lines kept, its process group
//! killed when it runs past its time limit, and reaped with `wait4` for its exit status and
//! peak RSS.
//!
//! The caller reads the stream from the [`StreamingChild`] itself (it implements [`Read`]) on
//! the thread that spawned it — that thread outlives the child, as `PR_SET_PDEATHSIG` needs —
//! then calls [`StreamingChild::finish`]. A child dropped unfinished is killed and reaped.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::ChildStdout;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::SupervisorError;
use crate::batch::{drain_stderr, reap};
use crate::exit::{WorkerExit, kill_group, reap_blocking};
use crate::spawn::{SpawnOptions, spawn_worker};

/// How a streaming child is run.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Limit for the whole run, from the spawn; the process group is killed after it (a hung
    /// decoder must not hold the caller forever).
    pub timeout: Duration,
    /// Extra environment for the child.
    pub env: Vec<(String, String)>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3600),
            env: Vec::new(),
        }
    }
}

/// How a streaming child ended.
#[derive(Debug, Clone)]
pub struct StreamEnd {
    pub exit: WorkerExit,
    /// Peak resident memory of the child, bytes (`wait4`'s `ru_maxrss`).
    pub peak_rss_bytes: u64,
    /// It ran past [`StreamOptions::timeout`] and its process group was killed.
    pub timed_out: bool,
    /// Last lines it wrote on stderr (all of them when there were few), oldest first.
    pub stderr_tail: Vec<String>,
}

/// A running child; read its stdout through [`Read`], then [`finish`](Self::finish) it.
pub struct StreamingChild {
    name: String,
    pid: libc::pid_t,
    deadline: Instant,
    stdout: Option<ChildStdout>,
    watchdog: Option<Watchdog>,
    tail: Arc<Mutex<VecDeque<String>>>,
    stderr_done: Receiver<()>,
    reaped: bool,
}

impl StreamingChild {
    /// Start `bin` with `args` (stdin closed at once: these children take no input).
    pub fn spawn(
        bin: &Path,
        args: Vec<OsString>,
        opts: &StreamOptions,
    ) -> Result<StreamingChild, SupervisorError> {
        let name = bin.file_name().map_or_else(
            || bin.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let spawn_opts = SpawnOptions {
            sched_idle: false,
            env: opts.env.clone(),
            args,
        };
        let mut child =
            spawn_worker(bin, &spawn_opts).map_err(|source| SupervisorError::Spawn {
                bin: bin.display().to_string(),
                source,
            })?;
        let pid = child.id() as libc::pid_t;
        drop(child.stdin.take());
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            kill_group(pid);
            let _ = reap_blocking(pid);
            return Err(SupervisorError::Pipe(std::io::Error::other(
                "worker pipes missing",
            )));
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_done = drain_stderr(stderr, name.clone(), Arc::clone(&tail));
        Ok(StreamingChild {
            watchdog: Some(Watchdog::start(pid, opts.timeout, name.clone())),
            name,
            pid,
            deadline: Instant::now() + opts.timeout,
            stdout: Some(stdout),
            tail,
            stderr_done,
            reaped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Kill the child's process group now (a reader that gives up on the stream).
    pub fn kill(&self) {
        // Unreaped until `finish` or drop, which take the child: the pid is still ours.
        kill_group(self.pid);
    }

    /// Close our end of stdout, wait for the child to exit (killing it if it lingers past its
    /// deadline or 10 s after that), and report how it ended.
    pub fn finish(mut self) -> Result<StreamEnd, SupervisorError> {
        // A reader that stopped early: the child's next write fails instead of blocking.
        self.stdout = None;
        // Stop the watchdog before reaping, so it can never signal a reused pid.
        let timed_out = self.watchdog.take().is_some_and(Watchdog::stop);
        let reaped = reap(self.pid, self.deadline);
        self.reaped = true;
        let reaped = reaped?;
        // stderr closes when the child is gone; give the drain a moment to take the last lines.
        let _ = self.stderr_done.recv_timeout(Duration::from_secs(2));
        let stderr_tail = self
            .tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        Ok(StreamEnd {
            exit: reaped.exit,
            peak_rss_bytes: reaped.peak_rss_bytes,
            timed_out,
            stderr_tail,
        })
    }
}

impl Read for StreamingChild {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.stdout.as_mut() {
            Some(out) => out.read(buf),
            None => Ok(0),
        }
    }
}

impl Drop for StreamingChild {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        if let Some(w) = self.watchdog.take() {
            w.stop();
        }
        tracing::debug!(worker = %self.name, "dropped unfinished: killing it");
        kill_group(self.pid);
        let _ = reap_blocking(self.pid);
    }
}

/// Kills the child's process group when its time is up, unless stopped first. A pipe read has
/// no deadline, so the reading thread cannot do this itself.
struct Watchdog {
    cancel: Sender<()>,
    thread: JoinHandle<bool>,
}

impl Watchdog {
    fn start(pid: libc::pid_t, timeout: Duration, name: String) -> Watchdog {
        let (cancel, wait) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || match wait.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(worker = %name, "no end after {timeout:?}: killing it");
                kill_group(pid);
                true
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => false,
        });
        Watchdog { cancel, thread }
    }

    /// Stop watching; `true` if the time limit had already struck.
    fn stop(self) -> bool {
        drop(self.cancel);
        self.thread.join().unwrap_or(false)
    }
}
