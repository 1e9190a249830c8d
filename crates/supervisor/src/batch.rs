//! Driving one worker process through one batch, for any line-JSON worker protocol.
//!
//! Threads: the calling thread writes requests and handles answers; one thread reads stdout
//! into a channel; one drains stderr into `tracing` (a full 64 KiB stderr pipe would block the
//! worker forever). Requests go in a few items at a time ([`BatchOptions::in_flight`], one
//! unless the worker can start on the next item while it finishes one) — the next item is
//! written when an earlier one is answered — so a stop request ends the batch after the items
//! in flight, and neither side can block on a full pipe while the other waits for it.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{ChildStderr, ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nightshift_worker_protocol::{ProtocolError, read_message, write_message};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::SupervisorError;
use crate::exit::{Reaped, WorkerExit, kill_group, reap_blocking, reap_within};
use crate::spawn::{SpawnOptions, spawn_worker};

/// Lines of the worker's stderr kept for error reports.
const STDERR_TAIL: usize = 20;
/// How often the stop flag and the deadline are checked while waiting for an answer.
const TICK: Duration = Duration::from_millis(100);
/// After stdout closes, how long a worker may take to exit before it is killed.
const EXIT_PATIENCE: Duration = Duration::from_secs(10);

/// How a batch is run.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// CPU threads the engine may use (`0` = leave the load request's own value).
    pub threads: u32,
    /// Limit for the whole batch, model load included; the process group is killed after it.
    pub timeout: Duration,
    /// Run the worker under `SCHED_IDLE`.
    pub sched_idle: bool,
    /// Extra environment for the worker.
    pub env: Vec<(String, String)>,
    /// After a stop (callback `Break` or `stop_flag`), how long the items in flight may take
    /// before the worker is killed.
    pub stop_grace: Duration,
    /// Items sent before the first is answered (at least 1): a worker that overlaps items (the
    /// CTranslate2 worker's replicas start on the next chunk while one finishes the last) gets
    /// more than one.
    pub in_flight: usize,
    /// Set from elsewhere (a Ctrl-C handler) to stop after the items in flight.
    pub stop_flag: Option<Arc<AtomicBool>>,
    /// Sampled with the worker's memory right before each answer is handed on.
    pub memory: Option<Arc<crate::MemoryGauge>>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            timeout: Duration::from_secs(3600),
            sched_idle: false,
            env: Vec::new(),
            stop_grace: Duration::from_secs(60),
            in_flight: 1,
            stop_flag: None,
            memory: None,
        }
    }
}

/// An answer that may settle one item of the batch.
pub trait Answer {
    /// The job id this answer settles (a result or a per-item error), if any.
    fn settles(&self) -> Option<i64>;
}

/// What happened to a batch, protocol-independent.
#[derive(Debug, Clone)]
pub struct BatchOutcome {
    /// Items that got no answer (the worker crashed, timed out, or the batch was stopped).
    pub unanswered: Vec<i64>,
    pub exit: WorkerExit,
    /// Peak resident memory of the worker, bytes.
    pub peak_rss_bytes: u64,
    /// The batch limit was reached and the worker killed.
    pub timed_out: bool,
    /// The batch was stopped on request before all items were sent.
    pub stopped: bool,
    /// Last lines the worker wrote on stderr.
    pub stderr_tail: Vec<String>,
    /// stdout lines that were not protocol messages (a worker bug), shortened.
    pub malformed: Vec<String>,
    pub wall: Duration,
}

enum Msg<R> {
    Answer(R),
    Malformed(String),
    Closed,
}

/// Run `bin` on one batch: send `preamble` (e.g. the model load), then each item, then close
/// stdin. `on_answer` sees every answer as it arrives; `Break` stops after the items in flight.
pub fn run_batch<Req, Resp>(
    bin: &Path,
    preamble: &[Req],
    items: &[(i64, Req)],
    opts: &BatchOptions,
    on_answer: &mut dyn FnMut(Resp) -> ControlFlow<()>,
) -> Result<BatchOutcome, SupervisorError>
where
    Req: Serialize,
    Resp: DeserializeOwned + Answer + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let name = worker_name(bin);
    let (pid, pipes) = spawn_piped(bin, opts)?;
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
    let stderr_done = drain_stderr(pipes.stderr, name.clone(), Arc::clone(&tail));
    let answers = read_answers::<Resp>(pipes.stdout);

    let mut driver = Driver {
        name: &name,
        pid,
        opts,
        deadline,
        feeder: Feeder {
            stdin: Some(pipes.stdin),
            items,
            next: 0,
        },
        pending: items.iter().map(|(id, _)| *id).collect(),
        malformed: Vec::new(),
        timed_out: false,
        stop_deadline: None,
    };
    for req in preamble {
        driver.feeder.send(req);
    }
    for _ in 0..opts.in_flight.max(1) {
        driver.feeder.send_next();
    }
    driver.drive(&answers, on_answer);
    driver.feeder.close();

    let reaped = reap(pid, deadline)?;
    // stderr closes when the worker is gone; give the drain a moment to take the last lines.
    let _ = stderr_done.recv_timeout(Duration::from_secs(2));
    let stderr_tail = tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    let unanswered: Vec<i64> = items
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| driver.pending.contains(id))
        .collect();
    Ok(BatchOutcome {
        stopped: driver.stop_deadline.is_some(),
        unanswered,
        exit: reaped.exit,
        peak_rss_bytes: reaped.peak_rss_bytes,
        timed_out: driver.timed_out,
        stderr_tail,
        malformed: driver.malformed,
        wall: started.elapsed(),
    })
}

/// The worker's file name, for logs (the whole path when it has none).
fn worker_name(bin: &Path) -> String {
    bin.file_name().map_or_else(
        || bin.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The three pipes of a freshly spawned worker.
struct Pipes {
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: ChildStderr,
}

/// Spawn `bin` in its own process group with all three pipes. A worker whose pipes are missing
/// is killed and reaped here, so no caller is left holding a process it cannot talk to.
fn spawn_piped(bin: &Path, opts: &BatchOptions) -> Result<(libc::pid_t, Pipes), SupervisorError> {
    let spawn_opts = SpawnOptions {
        sched_idle: opts.sched_idle,
        env: opts.env.clone(),
        args: Vec::new(),
    };
    let mut child = spawn_worker(bin, &spawn_opts).map_err(|source| SupervisorError::Spawn {
        bin: bin.display().to_string(),
        source,
    })?;
    let pid = child.id() as libc::pid_t;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        kill_group(pid);
        let _ = reap_blocking(pid);
        return Err(SupervisorError::Pipe(std::io::Error::other(
            "worker pipes missing",
        )));
    };
    Ok((
        pid,
        Pipes {
            stdin,
            stdout,
            stderr,
        },
    ))
}

/// The calling thread's side of a running batch: what is still unanswered, and whether (and
/// until when) the batch is stopping.
struct Driver<'a, Req> {
    name: &'a str,
    pid: libc::pid_t,
    opts: &'a BatchOptions,
    /// The batch limit ([`BatchOptions::timeout`] after the start).
    deadline: Instant,
    feeder: Feeder<'a, Req>,
    /// Items sent or still to send that no answer has settled yet.
    pending: HashSet<i64>,
    malformed: Vec<String>,
    timed_out: bool,
    /// Set once a stop was requested: the items in flight must be answered by then.
    stop_deadline: Option<Instant>,
}

impl<Req: Serialize> Driver<'_, Req> {
    /// Handle answers until the worker closes stdout, or kill it when the batch limit (or the
    /// grace after a stop) passes. Wakes every [`TICK`] to notice `stop_flag` and the limits.
    fn drive<Resp: Answer>(
        &mut self,
        answers: &Receiver<Msg<Resp>>,
        on_answer: &mut dyn FnMut(Resp) -> ControlFlow<()>,
    ) {
        loop {
            if self.stop_deadline.is_none()
                && self
                    .opts
                    .stop_flag
                    .as_ref()
                    .is_some_and(|f| f.load(Ordering::SeqCst))
            {
                tracing::info!(worker = %self.name, "stop requested: finishing what the worker holds");
                self.begin_stop();
            }
            let limit = self
                .stop_deadline
                .map_or(self.deadline, |s| s.min(self.deadline));
            let now = Instant::now();
            if now >= limit {
                self.kill_at_limit(now);
                return;
            }
            match answers.recv_timeout(TICK.min(limit - now)) {
                Ok(Msg::Answer(resp)) => self.answered(resp, on_answer),
                Ok(Msg::Malformed(line)) => {
                    tracing::warn!(worker = %self.name, "not a protocol line on stdout: {line}");
                    self.malformed.push(line);
                }
                Ok(Msg::Closed) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Settle the item `resp` answers, hand it on, then send the next item — unless the batch
    /// is stopping (a `Break` from `on_answer` starts the stop: nothing more is sent).
    fn answered<Resp: Answer>(
        &mut self,
        resp: Resp,
        on_answer: &mut dyn FnMut(Resp) -> ControlFlow<()>,
    ) {
        let settled = resp.settles();
        if let (Some(gauge), Some(_)) = (&self.opts.memory, settled) {
            gauge.sample(self.pid as u32);
        }
        if let Some(id) = settled
            && !self.pending.remove(&id)
        {
            tracing::warn!(worker = %self.name, job_id = id, "answer for a job not in flight");
        }
        if on_answer(resp).is_break() && self.stop_deadline.is_none() {
            self.begin_stop();
        }
        if settled.is_some() && self.stop_deadline.is_none() {
            self.feeder.send_next();
        }
    }

    /// Stop after the items in flight: close stdin (the worker's end of batch) and give them
    /// [`BatchOptions::stop_grace`].
    fn begin_stop(&mut self) {
        self.feeder.close();
        self.stop_deadline = Some(Instant::now() + self.opts.stop_grace);
    }

    /// A limit passed at `now`: the batch timeout, or the grace after a stop. Kill the group.
    fn kill_at_limit(&mut self, now: Instant) {
        if now >= self.deadline {
            self.timed_out = true;
            tracing::warn!(worker = %self.name, "batch timeout after {:?}: killing the worker", self.opts.timeout);
        } else {
            tracing::warn!(worker = %self.name, "worker did not stop within {:?}: killing it", self.opts.stop_grace);
        }
        kill_group(self.pid);
    }
}

/// Writes requests; a worker that died makes writes fail, which is noticed as stdout EOF.
struct Feeder<'a, Req> {
    stdin: Option<ChildStdin>,
    items: &'a [(i64, Req)],
    next: usize,
}

impl<Req: Serialize> Feeder<'_, Req> {
    fn send(&mut self, req: &Req) {
        if let Some(w) = self.stdin.as_mut()
            && let Err(e) = write_message(w, req)
        {
            tracing::debug!("worker stdin closed: {e}");
            self.stdin = None;
        }
    }

    /// Send the next item, or close stdin (end of batch) when all are sent.
    fn send_next(&mut self) {
        match self.items.get(self.next) {
            Some((_, req)) => {
                self.next += 1;
                self.send(req);
            }
            None => self.close(),
        }
    }

    fn close(&mut self) {
        self.stdin = None;
    }
}

/// Reap a worker whose stdout has closed: it gets [`EXIT_PATIENCE`] (at most until `deadline`)
/// to exit, then its group is killed.
pub(crate) fn reap(pid: libc::pid_t, deadline: Instant) -> Result<Reaped, SupervisorError> {
    let patience = deadline
        .saturating_duration_since(Instant::now())
        .min(EXIT_PATIENCE);
    if let Some(r) = reap_within(pid, patience).map_err(SupervisorError::Pipe)? {
        return Ok(r);
    }
    tracing::warn!(pid, "worker closed its output but did not exit: killing it");
    kill_group(pid);
    reap_blocking(pid).map_err(SupervisorError::Pipe)
}

fn read_answers<Resp>(stdout: impl Read + Send + 'static) -> Receiver<Msg<Resp>>
where
    Resp: DeserializeOwned + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        loop {
            let msg = match read_message::<_, Resp>(&mut r) {
                Ok(Some(resp)) => Msg::Answer(resp),
                Ok(None) => Msg::Closed,
                Err(ProtocolError::Malformed { line, .. }) => Msg::Malformed(line),
                Err(e @ ProtocolError::TooLong(_)) => {
                    // The rest of that line is unreadable as protocol: report it, stop reading.
                    let _ = tx.send(Msg::Malformed(e.to_string()));
                    Msg::Closed
                }
                Err(ProtocolError::Io(e)) => {
                    tracing::debug!("worker stdout: {e}");
                    Msg::Closed
                }
            };
            let closed = matches!(msg, Msg::Closed);
            if tx.send(msg).is_err() || closed {
                return;
            }
        }
    });
    rx
}

/// Forward the worker's stderr into tracing and keep its last lines. The returned channel
/// closes when stderr reaches EOF.
pub(crate) fn drain_stderr(
    stderr: impl Read + Send + 'static,
    name: String,
    tail: Arc<Mutex<VecDeque<String>>>,
) -> Receiver<()> {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _done = done_tx; // dropped at EOF: wakes the waiter
        let mut r = BufReader::new(stderr);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
            if line.is_empty() {
                continue;
            }
            if line.contains("ERROR") || line.contains("WARN") {
                tracing::warn!(worker = %name, "{line}");
            } else {
                tracing::debug!(worker = %name, "{line}");
            }
            if let Ok(mut t) = tail.lock() {
                if t.len() == STDERR_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        }
    });
    done_rx
}
