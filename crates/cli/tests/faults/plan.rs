//! A trial's fault plan, drawn from its seed: which fault, where (stage or moment), and its
//! details. Pure: the same seed always gives the same plan, so a failure replays.

use std::fmt;
use std::time::Duration;

/// SplitMix64: small, seedable, good enough to spread faults.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform milliseconds in `lo..hi`.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo))
    }

    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }
}

/// Every kind of fault the harness injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL of `nightshift run`.
    KillRun,
    /// SIGKILL of one worker process (a child of `run`).
    KillWorker,
    /// SIGTERM of `run`: it must stop cleanly (exit 0) and the next run resumes.
    TermRun,
    /// SIGKILL of `nightshift serve` with a transcription in flight.
    KillDaemon,
    /// SIGKILL of `nightshift record` while it captures from stdin.
    KillRecord,
    /// The home's filesystem (a small tmpfs) filled up, then freed.
    DiskFull,
    /// Another process holds `BEGIN EXCLUSIVE` longer than the busy timeout.
    DbLocked,
    /// A worker stops answering (`NIGHTSHIFT_WORKER_FAIL=hang_after:N`).
    WorkerHang,
    /// A worker writes non-protocol bytes on its protocol stdout.
    WorkerGarbage,
    /// A worker aborts (SIGABRT) mid-batch.
    WorkerAbort,
    /// A chunk file deleted behind the queue's back.
    ChunkDeleted,
    /// A chunk file truncated behind the queue's back.
    ChunkTruncated,
}

impl Fault {
    pub const ALL: [Fault; 12] = [
        Fault::KillRun,
        Fault::KillWorker,
        Fault::TermRun,
        Fault::KillDaemon,
        Fault::KillRecord,
        Fault::DiskFull,
        Fault::DbLocked,
        Fault::WorkerHang,
        Fault::WorkerGarbage,
        Fault::WorkerAbort,
        Fault::ChunkDeleted,
        Fault::ChunkTruncated,
    ];
}

/// A stage of the pipeline, seen in the queue: its first job PROCESSING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Whisper,
    Diarize,
    Scenes,
    Summary,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Whisper,
        Stage::Diarize,
        Stage::Scenes,
        Stage::Summary,
    ];

    /// The `(task_type, model_key)` of the jobs of this stage (`None`: any model key).
    pub fn jobs(self) -> (&'static str, Option<&'static str>) {
        match self {
            Stage::Whisper => ("AUDIO", Some("whisper")),
            Stage::Diarize => ("AUDIO", Some("diarize")),
            Stage::Scenes => ("VISUAL", None),
            Stage::Summary => ("SUMMARY", Some("llm")),
        }
    }
}

/// When a fault fires.
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    /// This long after the first `run` starts.
    After(Duration),
    /// This long after the first job of `stage` is PROCESSING.
    AtStage(Stage, Duration),
}

/// A worker and the item after which it misbehaves.
#[derive(Debug, Clone, Copy)]
pub struct WorkerFault {
    pub worker: &'static str,
    pub after_items: u64,
}

impl WorkerFault {
    /// The `NIGHTSHIFT_WORKER_FAIL` value.
    pub fn spec(&self, kind: &str) -> String {
        format!("{kind}_after:{}@{}", self.after_items, self.worker)
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub fault: Fault,
    pub trigger: Trigger,
    /// How long a held fault lasts (disk full, database lock) or, for `KillRecord` and
    /// `KillDaemon`, the delay after the recording / the request starts.
    pub hold: Duration,
    pub worker: WorkerFault,
    /// Which chunk job (index among the home's chunk jobs by id, modulo their count).
    pub chunk: u64,
    /// Where a truncated chunk is cut, as a fraction of its length.
    pub truncate_at: f64,
}

impl Plan {
    /// The plan of trial `seed`. The fault kind cycles with the seed, so consecutive seeds
    /// cover every kind; everything else is drawn at random from the seed.
    pub fn from_seed(seed: u64) -> Plan {
        let fault = Fault::ALL[(seed % Fault::ALL.len() as u64) as usize];
        let mut rng = Rng::new(seed);
        let trigger = if rng.below(3) == 0 {
            Trigger::After(rng.millis(0, 30_000))
        } else {
            let stage = rng.pick(&Stage::ALL);
            Trigger::AtStage(stage, rng.millis(0, 4_000))
        };
        let hold = match fault {
            Fault::KillRecord => rng.millis(200, 2_800),
            Fault::KillDaemon => rng.millis(0, 3_000),
            _ => rng.millis(500, 5_000),
        };
        // Batches are at most 2 items (`--batch 2`); the summary batch has one.
        let worker = match rng.below(3) {
            // The speech worker of the default profile (CTranslate2's).
            0 => WorkerFault {
                worker: "ct2",
                after_items: rng.below(2),
            },
            1 => WorkerFault {
                worker: "diarize",
                after_items: rng.below(2),
            },
            _ => WorkerFault {
                worker: "llama",
                after_items: 0,
            },
        };
        Plan {
            seed,
            fault,
            trigger,
            hold,
            worker,
            chunk: rng.next(),
            truncate_at: rng.below(1000) as f64 / 1000.0,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} {:?} at {:?}",
            self.seed, self.fault, self.trigger
        )?;
        match self.fault {
            Fault::DiskFull | Fault::DbLocked => write!(f, " held {:?}", self.hold),
            Fault::KillRecord | Fault::KillDaemon => write!(f, " after {:?}", self.hold),
            Fault::WorkerHang | Fault::WorkerGarbage | Fault::WorkerAbort => {
                write!(f, " {:?}", self.worker)
            }
            Fault::ChunkDeleted => write!(f, " chunk #{}", self.chunk),
            Fault::ChunkTruncated => {
                write!(f, " chunk #{} cut at {:.3}", self.chunk, self.truncate_at)
            }
            _ => Ok(()),
        }
    }
}
