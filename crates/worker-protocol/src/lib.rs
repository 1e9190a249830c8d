//! The Foreman ⇄ worker protocol.
//!
//! One JSON object per line. The Foreman writes a [`Request`] stream to the worker's stdin:
//! first [`Request::Load`], then one [`Request::Transcribe`] per chunk, then closes stdin (EOF
//! ends the batch; the worker exits, which is what frees the model's memory). The worker answers
//! on stdout with [`Response::Ready`] once the model is loaded, one [`Response::Result`] or
//! [`Response::JobError`] per item *as soon as that item is done* (each is a checkpoint), and
//! [`Response::Fatal`] if it cannot go on. Everything else a worker prints goes to stderr.
//!
//! The llama worker speaks the same framing with its own messages: [`llama`]; the
//! diarization worker too: [`diarize`]. The frames worker writes raw frame signatures instead;
//! its contract is [`frames`].

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

pub mod diarize;
pub mod frames;
pub mod llama;

pub use diarize::{
    AudioSpan, DiarizeItem, DiarizeLoad, DiarizeMetrics, DiarizeRequest, DiarizeResponse,
    EmbedItem, FoundSpeaker, SpeakerHints, SpeakerTurn,
};
pub use llama::{
    ChatMessage, CompleteItem, CompletionMetrics, FinishReason, FlashAttention, KvCacheType,
    LlamaLoad, LlamaRequest, LlamaResponse, Sampling,
};

/// Options for loading a whisper model and decoding with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhisperLoad {
    pub model_path: String,
    /// CPU threads for inference.
    pub threads: u32,
    /// `None` = detect per chunk; otherwise an ISO 639-1 code such as `en`.
    #[serde(default)]
    pub language: Option<String>,
    /// `Some(1)` = greedy decoding; `Some(n)` = beam search of width n; `None` = the model's
    /// default, which the worker picks once it has loaded the model (beam 5 for an English-only
    /// model, greedy for a multilingual one).
    #[serde(default)]
    pub beam_size: Option<u32>,
    /// Use the GPU when the worker was built with a GPU feature.
    #[serde(default)]
    pub use_gpu: bool,
    /// whisper.cpp Silero VAD model (`ggml-silero-*.bin`). When set, an item that arrives
    /// without `speech_spans` gets them from this VAD inside the worker, so silence is skipped
    /// even when ingest found no spans; when `None`, such an item is decoded whole.
    #[serde(default)]
    pub vad_model_path: Option<String>,
    /// Speech windows decoded at once, each on its own whisper state (one model in memory)
    /// with `threads / parallel` threads. `None`: the worker chooses (on a CPU, one window per
    /// two threads' worth is slower than two windows on one thread each; on a GPU, one).
    #[serde(default)]
    pub parallel: Option<u32>,
}

/// One chunk of 16 kHz mono audio to transcribe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscribeItem {
    pub job_id: i64,
    /// A 16 kHz mono WAV or FLAC file written by ingest.
    pub audio_path: String,
    /// Previous chunk's last words, for continuity across chunk joins.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Speech spans inside the chunk (seconds, chunk-local) found by the VAD at ingest; the
    /// worker decodes only these (packed into ≤ 30 s windows) and maps times back.
    #[serde(default)]
    pub speech_spans: Vec<(f64, f64)>,
    /// Encode only as much of the 30 s window as the audio fills (whisper `audio_ctx`): several
    /// times faster for short clips (interactive use).
    #[serde(default)]
    pub fit_audio_ctx: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Load(WhisperLoad),
    Transcribe(TranscribeItem),
}

/// A transcript segment in chunk-local seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalSegment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    #[serde(default)]
    pub no_speech_prob: f32,
    /// The words with their times (chunk-local seconds), when the engine gives them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<nightshift_core::Word>,
}

/// What one item cost, for `bench` and `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemMetrics {
    pub wall_s: f64,
    pub audio_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Ready {
        model: String,
        load_s: f64,
        device: String,
    },
    Result {
        job_id: i64,
        language: Option<String>,
        segments: Vec<LocalSegment>,
        metrics: ItemMetrics,
    },
    JobError {
        job_id: i64,
        message: String,
    },
    Fatal {
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("worker pipe: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed protocol line {line:?}: {source}")]
    Malformed {
        line: String,
        source: serde_json::Error,
    },
    #[error("protocol line longer than {0} bytes (a worker printing garbage?)")]
    TooLong(u64),
}

/// Longest protocol line read: an hour-long chunk's result with its word times is a few MB; a
/// worker that prints without end must not grow the reader's memory without end.
pub const MAX_LINE_BYTES: u64 = 64 << 20;

/// Write one message as a single line and flush, so the peer sees it at once.
pub fn write_message<W: Write, M: Serialize>(out: &mut W, msg: &M) -> Result<(), ProtocolError> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()?;
    Ok(())
}

/// Read the next message; `Ok(None)` at end of stream. Blank lines are skipped.
pub fn read_message<R: BufRead, M: for<'de> Deserialize<'de>>(
    input: &mut R,
) -> Result<Option<M>, ProtocolError> {
    let mut line = String::new();
    loop {
        line.clear();
        let n =
            <&mut R as std::io::Read>::take(&mut *input, MAX_LINE_BYTES).read_line(&mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if n as u64 == MAX_LINE_BYTES && !line.ends_with('\n') {
            return Err(ProtocolError::TooLong(MAX_LINE_BYTES));
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        return serde_json::from_str(trimmed).map(Some).map_err(|source| {
            ProtocolError::Malformed {
                line: trimmed.chars().take(200).collect(),
                source,
            }
        });
    }
}

/// A whisper model's short name from its file: "ggml-tiny.en.bin" → "tiny.en" (the name
/// `models pull` knows it by; `models quantize` names its copies "tiny.en-q8_0").
pub fn whisper_model_name(path: &std::path::Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file.strip_suffix(".bin").unwrap_or(&file);
    stem.strip_prefix("ggml-").unwrap_or(stem).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_line_is_an_error_not_memory() {
        let endless = std::io::repeat(b'x');
        let mut input = std::io::BufReader::new(endless);
        let r: Result<Option<Response>, _> = read_message(&mut input);
        assert!(matches!(r, Err(ProtocolError::TooLong(_))));
    }

    #[test]
    fn messages_round_trip_as_lines() {
        let msgs = vec![
            Response::Ready {
                model: "tiny.en".into(),
                load_s: 0.1,
                device: "cpu".into(),
            },
            Response::JobError {
                job_id: 7,
                message: "bad".into(),
            },
        ];
        let mut buf = Vec::new();
        for m in &msgs {
            write_message(&mut buf, m).unwrap();
        }
        assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), 2);
        let mut r = std::io::Cursor::new(buf);
        let a: Response = read_message(&mut r).unwrap().unwrap();
        let b: Response = read_message(&mut r).unwrap().unwrap();
        assert_eq!(vec![a, b], msgs);
        assert!(read_message::<_, Response>(&mut r).unwrap().is_none());
    }

    #[test]
    fn a_load_without_newer_fields_still_parses() {
        let line = r#"{"type":"load","model_path":"m.bin","threads":2}"#;
        let req: Request = serde_json::from_str(line).unwrap();
        let Request::Load(load) = req else {
            panic!("{req:?}")
        };
        assert_eq!(load.vad_model_path, None);
        assert_eq!(load.language, None);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let mut r = std::io::Cursor::new(b"not json\n".to_vec());
        let err = read_message::<_, Request>(&mut r).unwrap_err();
        assert!(err.to_string().contains("malformed protocol line"));
    }
}
