//! One thread per model replica, taking parts of chunks from one queue in the order they were
//! started: a replica that finishes its part of a chunk starts on the next chunk (its windows
//! already planned, `Engine::prepare`) instead of waiting for the other replicas. A chunk's
//! windows rarely split evenly (five windows are three and two), and a one-window chunk keeps
//! a single replica busy; with the supervisor holding two chunks in the worker, those gaps
//! fill with the next chunk's work.
//!
//! Each part decodes exactly as it would alone (its windows, then its own tails), so the
//! transcript does not depend on which thread took it or when.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use nightshift_asr::pack::Window;
use nightshift_worker_protocol::LocalSegment;

use crate::engine::Core;

/// A part's segments in chunk time, or why it could not be decoded.
pub type PartResult = Result<Vec<LocalSegment>, String>;

/// Consecutive windows of one chunk, decoded together on one replica.
pub struct Part {
    pub windows: Vec<Window>,
    pub samples: Arc<Vec<f32>>,
    pub language: Option<String>,
}

struct Queue {
    parts: VecDeque<(Part, Sender<PartResult>)>,
    closed: bool,
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

pub struct Pool {
    shared: Shared,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// `replicas` threads over `core` (whose model has that many replicas), or why one could
    /// not start (the ones already started are stopped when the pool is dropped).
    pub fn new(core: &Arc<Core>, replicas: usize) -> Result<Pool, String> {
        let mut pool = Pool {
            shared: Arc::new((
                Mutex::new(Queue {
                    parts: VecDeque::new(),
                    closed: false,
                }),
                Condvar::new(),
            )),
            threads: Vec::with_capacity(replicas),
        };
        for i in 0..replicas {
            let core = Arc::clone(core);
            let shared = Arc::clone(&pool.shared);
            let thread = std::thread::Builder::new()
                .name(format!("replica-{i}"))
                .spawn(move || work(&core, &shared))
                .map_err(|e| format!("cannot start decode thread {i}: {e}"))?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Queue `part`; its answer comes on the returned channel.
    pub fn start(&self, part: Part) -> Receiver<PartResult> {
        let (tx, rx) = mpsc::channel();
        let (lock, ready) = &*self.shared;
        lock.lock()
            .expect("the queue lock is never poisoned")
            .parts
            .push_back((part, tx));
        ready.notify_one();
        rx
    }
}

/// A replica thread: the oldest queued part, decoded, until the pool closes.
fn work(core: &Core, shared: &Shared) {
    let (lock, ready) = &**shared;
    loop {
        let (part, answer) = {
            let mut queue = lock.lock().expect("the queue lock is never poisoned");
            loop {
                if queue.closed {
                    return;
                }
                if let Some(next) = queue.parts.pop_front() {
                    break next;
                }
                queue = ready.wait(queue).expect("the queue lock is never poisoned");
            }
        };
        let result = core.decode_part(&part.windows, &part.samples, part.language.as_deref());
        // The chunk's reader may be gone (the batch stopped): nothing to answer then.
        let _ = answer.send(result);
    }
}

impl Drop for Pool {
    /// Parts not started are dropped; parts being decoded finish first.
    fn drop(&mut self) {
        let (lock, ready) = &*self.shared;
        if let Ok(mut queue) = lock.lock() {
            queue.closed = true;
            queue.parts.clear();
        }
        ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
