//! Spawning and driving worker processes (DESIGN.md §3 "Isolated workers").
//!
//! A worker is one process per batch: load a model, answer one item at a time on stdout, exit
//! at stdin EOF (exit is what frees the model's memory). This crate starts it politely
//! ([`spawn`]), feeds it, hands every answer to the caller the moment it arrives (the caller
//! checkpoints it), enforces the batch timeout, and reports how the process ended — exit
//! status or signal, peak RSS, which items got no answer, and the tail of its log — so a crash
//! fails only the unanswered items of that batch.
//!
//! [`batch::run_batch`] is protocol-generic (any `Serialize` request / `DeserializeOwned`
//! answer that implements [`Answer`]); [`run_worker_batch`] runs one worker [`Protocol`] on
//! top of it — [`Whisper`], [`Llama`], [`Diarize`] — passing the protocol's own responses
//! through (only a fatal answer goes into the [`BatchReport`] instead).
//! [`stream::StreamingChild`] is a child that answers with one byte stream instead (no stdin
//! protocol), started the same way: [`spawn_frames_worker`] the frames worker, and the video
//! crate's ffmpeg fallback.

pub mod batch;
pub mod diarize;
pub mod exit;
pub mod frames;
pub mod llama;
pub mod locate;
pub mod memory;
pub mod protocol;
pub mod spawn;
pub mod stream;
pub mod warm;
pub mod whisper;

pub use batch::{Answer, BatchOptions, BatchOutcome, run_batch};
pub use diarize::{DIARIZE_WORKER, Diarize};
pub use exit::WorkerExit;
pub use frames::{FRAMES_WORKER, spawn_frames_worker};
pub use llama::{LLAMA_WORKER, Llama, run_llama_batch};
pub use locate::find_worker_binary;
pub use memory::{MemoryGauge, WorkerMemory};
pub use protocol::{BatchReport, Protocol, Said, run_worker_batch};
pub use stream::{StreamEnd, StreamOptions, StreamingChild};
pub use warm::{WarmAnswer, WarmReady, WarmWorker};
pub use whisper::{CT2_WORKER, WHISPER_WORKER, Whisper, run_whisper_batch};

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(
        "worker binary {name} not found (looked in {searched:?} and on PATH): build it with \
         `cargo build --release -p {name}` and keep it next to the nightshift binary"
    )]
    WorkerNotFound { name: String, searched: Vec<String> },
    #[error("cannot start worker {bin}: {source}")]
    Spawn {
        bin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("worker process: {0}")]
    Pipe(#[source] std::io::Error),
}
