//! One thread per model replica, taking parts of chunks from one queue: each of a chunk's
//! windows is a part of its own, queued when the chunk comes in (`Engine::prepare`; the
//! supervisor keeps several chunks in the worker), and a free replica takes the longest part
//! waiting, whichever chunk it belongs to. Longest first keeps the replicas busy until the end:
//! what is left when the queue empties is short, so no replica waits long for the other's
//! last window (on corpus meeting_03, chunk after chunk and window after window, the last
//! chunk's one 27 s window ran alone for 0.55 s while the other replica had nothing to do).
//! A chunk is answered when all its windows are done, so answers still go out in chunk order.
//!
//! Each part decodes exactly as it would alone (its window, then its own tail), so the
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

/// One window of a chunk, decoded on one replica.
pub struct Part {
    pub window: Window,
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

    /// Queue `part` behind the waiting parts at least as long; its answer comes on the
    /// returned channel.
    pub fn start(&self, part: Part) -> Receiver<PartResult> {
        let (tx, rx) = mpsc::channel();
        let (lock, ready) = &*self.shared;
        let mut queue = lock.lock().expect("the queue lock is never poisoned");
        // A window's length in samples: how long it takes to decode, roughly.
        insert_longest_first(&mut queue.parts, (part, tx), |(p, _)| p.window.len());
        drop(queue);
        ready.notify_one();
        rx
    }
}

/// Put `item` into `queue` (longest first) behind every item at least as long, so parts of
/// equal length keep the order they came in.
fn insert_longest_first<T>(queue: &mut VecDeque<T>, item: T, len: impl Fn(&T) -> usize) {
    let at = queue.partition_point(|q| len(q) >= len(&item));
    queue.insert(at, item);
}

/// A replica thread: the first queued part (the longest), decoded, until the pool closes.
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
        let result = core.decode_part(
            std::slice::from_ref(&part.window),
            &part.samples,
            part.language.as_deref(),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_queue_longest_first_and_equal_ones_in_arrival_order() {
        let mut queue = VecDeque::new();
        for (len, name) in [(5, "a"), (9, "b"), (5, "c"), (1, "d"), (9, "e"), (7, "f")] {
            insert_longest_first(&mut queue, (len, name), |(l, _)| *l);
        }
        let names: Vec<&str> = queue.iter().map(|(_, n)| *n).collect();
        assert_eq!(names, ["b", "e", "f", "a", "c", "d"]);
    }
}
