//! A whisper worker kept alive between requests (the session daemon's warm model): started
//! once, fed one item at a time, stopped by closing its stdin — which is what frees the model.
//! Batch runs use [`crate::run_worker_batch`] with [`crate::Whisper`] instead.

use std::collections::VecDeque;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nightshift_worker_protocol::{
    ItemMetrics, LocalSegment, Request, Response, TranscribeItem, WhisperLoad, read_message,
    write_message,
};

use crate::SupervisorError;
use crate::spawn::{SpawnOptions, spawn_worker};

/// What the worker said when its model was ready.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmReady {
    pub model: String,
    pub device: String,
    /// Model load inside the worker, seconds.
    pub load_s: f64,
    /// Process start to ready, seconds (what a client waits).
    pub start_s: f64,
}

/// One item's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmAnswer {
    pub language: Option<String>,
    pub segments: Vec<LocalSegment>,
    pub metrics: ItemMetrics,
}

pub struct WarmWorker {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
    pub ready: WarmReady,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl WarmWorker {
    /// Start `bin`, load the model, wait for `ready` (at most `timeout`).
    pub fn start(
        bin: &Path,
        load: &WhisperLoad,
        opts: &SpawnOptions,
        timeout: Duration,
    ) -> Result<WarmWorker, SupervisorError> {
        let started = Instant::now();
        let mut child = spawn_worker(bin, opts).map_err(|source| SupervisorError::Spawn {
            bin: bin.display().to_string(),
            source,
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SupervisorError::Pipe(std::io::Error::other(
                "worker pipes unavailable",
            )));
        };
        // Forwarded into the log, the last lines kept for the error if the worker dies.
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let _eof = crate::batch::drain_stderr(stderr, "whisper".into(), Arc::clone(&tail));
        let mut w = WarmWorker {
            child,
            stdin: Some(BufWriter::new(stdin)),
            stdout: BufReader::new(stdout),
            ready: WarmReady {
                model: String::new(),
                device: String::new(),
                load_s: 0.0,
                start_s: 0.0,
            },
            stderr_tail: tail,
        };
        w.send(&Request::Load(load.clone()))?;
        // A pipe read has no deadline: a worker that hangs while loading is killed.
        let loaded = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&loaded);
        let pid = w.child.id() as libc::pid_t;
        let deadline = started + timeout;
        std::thread::spawn(move || {
            while Instant::now() < deadline {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: signalling our own child by pid; it has not been reaped (we hold it).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        let answer = w.read();
        loaded.store(true, std::sync::atomic::Ordering::SeqCst);
        match answer? {
            Response::Ready {
                model,
                load_s,
                device,
            } => {
                w.ready = WarmReady {
                    model,
                    device,
                    load_s,
                    start_s: started.elapsed().as_secs_f64(),
                };
                Ok(w)
            }
            Response::Fatal { message } => Err(w.died(Some(message))),
            other => Err(w.died(Some(format!("unexpected first answer {other:?}")))),
        }
    }

    /// Transcribe one item; `Err` means the worker is gone (start another).
    pub fn transcribe(
        &mut self,
        item: &TranscribeItem,
    ) -> Result<Result<WarmAnswer, String>, SupervisorError> {
        self.send(&Request::Transcribe(item.clone()))?;
        loop {
            match self.read()? {
                Response::Result {
                    job_id,
                    language,
                    segments,
                    metrics,
                } if job_id == item.job_id => {
                    return Ok(Ok(WarmAnswer {
                        language,
                        segments,
                        metrics,
                    }));
                }
                Response::JobError { job_id, message } if job_id == item.job_id => {
                    return Ok(Err(message));
                }
                Response::Fatal { message } => return Err(self.died(Some(message))),
                _ => continue,
            }
        }
    }

    /// Close stdin (the worker exits and frees the model) and wait for it.
    pub fn stop(mut self) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, req: &Request) -> Result<(), SupervisorError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(SupervisorError::Pipe(std::io::Error::other(
                "worker stopped",
            )));
        };
        write_message(stdin, req)
            .and_then(|_| stdin.flush().map_err(Into::into))
            .map_err(|e| SupervisorError::Pipe(std::io::Error::other(e.to_string())))
    }

    fn read(&mut self) -> Result<Response, SupervisorError> {
        match read_message::<_, Response>(&mut self.stdout) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(self.died(None)),
            Err(e) => Err(self.died(Some(e.to_string()))),
        }
    }

    fn died(&mut self, message: Option<String>) -> SupervisorError {
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        let tail = self
            .stderr_tail
            .lock()
            .map(|t| t.back().cloned().unwrap_or_default())
            .unwrap_or_default();
        let why = message.unwrap_or_else(|| format!("worker exited ({status:?}) {tail}"));
        SupervisorError::Pipe(std::io::Error::other(why))
    }
}

impl Drop for WarmWorker {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
