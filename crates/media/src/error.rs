//! The crate's one error type.
//!
//! Display is the *cause only*: the CLI prefixes the file name
//! (`error: meeting.wav: <cause>`), so messages never repeat the path of the input.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// An I/O failure; `what` says which operation ("reading input", "writing chunk").
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("file is empty (0 bytes)")]
    Empty,
    /// The bytes are not a recognisable audio or video file.
    #[error("not an audio or video file ({0})")]
    NotMedia(String),
    /// A WAV/RIFF header that contradicts itself or the file length.
    #[error("{0}")]
    BadWav(String),
    /// A container or stream that ffprobe/ffmpeg cannot use (missing index, corrupt data).
    #[error("{0}")]
    Corrupt(String),
    /// An audio file without any audio stream (a video without audio is only a warning).
    #[error("no audio stream")]
    NoAudio,
    /// ffmpeg/ffprobe missing or misbehaving: not the input's fault.
    #[error("{0}")]
    Tool(String),
    /// Caller passed options that make no sense (e.g. min chunk length > max).
    #[error("invalid options: {0}")]
    Options(String),
    /// A stored chunk file that cannot be written or read back.
    #[error("chunk file: {0}")]
    Chunk(String),
}

impl MediaError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        MediaError::Io {
            what: what.into(),
            source,
        }
    }
}
