//! Media ingest for nightshift: probe and validate inputs, decode to 16 kHz mono, find speech
//! with a VAD, cut chunks at pauses and store them as FLAC named by content hash.
//!
//! Entry points: [`probe`] (validation + stream info), [`ingest`] (the whole pipeline),
//! [`write_chunk`]/[`read_chunk`] (chunk storage, also used by the whisper worker).

pub mod chunk_io;
mod clip;
mod damage;
pub mod decode;
mod error;
mod hash;
mod ingest;
mod isobmff;
pub mod plan;
mod probe;
mod riff;
pub mod vad;

pub use chunk_io::{read_chunk, write_chunk};
pub use clip::{Clip, prepare_clip, resample};
pub use error::MediaError;
pub use hash::{sha256_file, sha256_samples};
pub use ingest::{Chunk, IngestOptions, IngestOutput, ingest, prefilter};
pub use probe::{AudioStream, ProbeInfo, VideoStream, check_structure, file_kind, probe};
pub use vad::VadParams;
