//! Live capture for `nightshift record`.
//!
//! ```text
//!  source thread(s)                      bounded channel            recorder (caller's thread)
//!  mic (cpal callback) ─► ffmpeg resampler ─┐
//!  FILE (ffmpeg -readrate) ─────────────────┼─► 100 ms blocks, 16 kHz mono ─► VAD ─► cutter
//!  stdin raw PCM (ffmpeg) ──────────────────┘                                │
//!                                       open chunk: `NNNNNN.wav.part`, header rewritten and
//!                                       synced every second ◄──────────────┘
//!                                       closed chunk: FLAC by content hash → `on_chunk` (queue)
//! ```
//!
//! Invariants:
//! - Nothing but copying runs in the capture path: the cpal callback only converts and
//!   `try_send`s; a full channel is an overrun, counted and reported, never a blocked callback.
//! - The open chunk is on disk as a valid WAV whose header is rewritten at every flush (≤ 1 s):
//!   a crash loses at most the audio since the last flush, and [`recover_part`] reads the rest.
//! - A closed chunk is written (temp + rename) and handed to `on_chunk` *before* its part file
//!   is deleted, so a crash in between leaves a duplicate that recovery recognises by index,
//!   never a gap.
//! - Chunks are contiguous: concatenated, they are the whole captured timeline.

mod cut;
mod mix;
mod part;
mod pipe;
mod recorder;
mod source;

#[cfg(feature = "mic")]
pub mod devices;

pub use cut::{Cut, CutParams, Cutter, speech_spans};
pub use mix::start_mixed;
pub use part::{PartWriter, part_path, read_part};
pub use recorder::{ClosedChunk, Progress, RecordOptions, RecordStats, record, recover_part};
pub use source::{Block, PcmFormat, Source, SourceHandle, start_source};

/// Sample rate of everything after the source: the chunk timeline.
pub const RATE: u32 = 16_000;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{0}")]
    Source(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Media(#[from] nightshift_media::MediaError),
    #[error("{0}")]
    Sink(String),
}

impl CaptureError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        CaptureError::Io {
            what: what.into(),
            source,
        }
    }
}
