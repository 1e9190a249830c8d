#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nightshift_core::TaskType;
use nightshift_queue::{Clock, NewJob, NewMeeting, Queue, QueueOptions};

/// A clock the test moves by hand.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn at(t: f64) -> ManualClock {
        let c = ManualClock::default();
        c.set(t);
        c
    }
    pub fn set(&self, t: f64) {
        self.0.store(t.to_bits(), Ordering::SeqCst);
    }
    pub fn advance(&self, dt: f64) {
        self.set(self.now() + dt);
    }
    pub fn now(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::SeqCst))
    }
    pub fn clock(&self) -> Clock {
        let me = self.clone();
        Arc::new(move || me.now())
    }
}

pub fn open_manual(path: &Path, clock: &ManualClock) -> Queue {
    Queue::open_with(path, QueueOptions::default(), clock.clock()).expect("open queue")
}

pub fn meeting(id: &str) -> NewMeeting {
    NewMeeting {
        meeting_id: id.to_string(),
        title: format!("meeting {id}"),
        source_path: format!("/inputs/{id}.wav"),
        source_sha256: format!("sha-{id}"),
        kind: "audio".into(),
        duration_s: 60.0,
        info: serde_json::json!({}),
    }
}

pub fn audio_jobs(n: usize) -> Vec<NewJob> {
    (0..n)
        .map(|i| NewJob {
            seq: i as i64,
            chunk_path: Some(format!("chunk-{i}.flac")),
            model_key: Some("whisper:tiny.en".into()),
            ..NewJob::new(TaskType::Audio)
        })
        .collect()
}
