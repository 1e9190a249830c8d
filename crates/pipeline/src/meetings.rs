//! Meetings as queued work: validating an input file, ingesting it into chunks, and inserting
//! the meeting with all its jobs in one transaction (`nightshift add`).

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use nightshift_core::MediaKind;
use nightshift_media::{IngestOptions, IngestOutput};
use nightshift_queue::{Inserted, NewJob, NewMeeting, Queue};
use nightshift_worker_protocol::SpeakerHints;
use serde_json::json;

use crate::config::Config;
use crate::home::Home;
use crate::job::{ChunkPayload, JobKind, ScenesPayload};

/// How one file is added.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    pub title: Option<String>,
    /// The meeting's date (`YYYY-MM-DD`), when the user gave it.
    pub date: Option<String>,
    /// `None`: decided from the streams.
    pub kind: Option<MediaKind>,
    pub min_chunk_s: f64,
    pub max_chunk_s: f64,
    pub speakers: SpeakerHints,
}

/// What `add_file` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    pub meeting_id: String,
    /// The same content was added before (the existing meeting's id).
    pub existing: bool,
    pub chunks: usize,
    /// Non-fatal findings about the input (damaged ranges, no audio in a video, …).
    pub warnings: Vec<String>,
}

/// Refuse what cannot be a recording before anything is opened or stored: a missing file, a
/// directory, a named pipe (opening one waits for a writer forever), a device, a socket.
pub fn check_readable(file: &Path) -> Result<()> {
    let name = file.display();
    let meta = std::fs::metadata(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("{name}: no such file"),
        std::io::ErrorKind::PermissionDenied => anyhow!("{name}: permission denied"),
        _ => anyhow!("{name}: {e}"),
    })?;
    if meta.is_dir() {
        return Err(anyhow!("{name}: is a directory, not a recording"));
    }
    if !meta.is_file() {
        return Err(anyhow!(
            "{name}: is {}, not a recording file",
            nightshift_media::file_kind(meta.file_type())
        ));
    }
    std::fs::File::open(file).map_err(|e| anyhow!("{name}: cannot read: {e}"))?;
    Ok(())
}

/// `seq` of the events job: after every chunk, before the diarization job.
const EVENTS_SEQ: i64 = crate::job::DIARIZE_SEQ - 1;

/// Validate, chunk and queue one file: the meeting and all its jobs in one transaction, or
/// nothing. The input is only read.
pub fn add_file(
    home: &Home,
    config: &Config,
    queue: &mut Queue,
    file: &Path,
    opts: &AddOptions,
) -> Result<Added> {
    let name = file.display().to_string();
    let sha = nightshift_media::sha256_file(file).with_context(|| format!("{name}: reading"))?;
    let existing = |meeting_id: String| Added {
        meeting_id,
        existing: true,
        chunks: 0,
        warnings: Vec::new(),
    };
    if let Some(m) = queue
        .meetings()?
        .into_iter()
        .find(|m| m.source_sha256 == sha)
    {
        return Ok(existing(m.meeting_id));
    }
    let ingest = IngestOptions {
        min_chunk_s: opts.min_chunk_s,
        max_chunk_s: opts.max_chunk_s,
        kind: opts.kind,
        ..IngestOptions::default()
    };
    let ingested = nightshift_media::ingest(file, &home.chunks_dir(), &ingest)
        .with_context(|| name.clone())?;
    let mut meeting = new_meeting(file, &sha, opts.title.as_deref(), &ingested);
    meeting.info["meeting_date"] = serde_json::json!(opts.date);
    meeting.info["creation_time"] = serde_json::json!(ingested.probe.creation_time);
    let mut jobs = audio_jobs(&ingested);
    if ingested.kind == MediaKind::Video
        && let Some(video) = &ingested.probe.video
    {
        // Scenes, keyframes and OCR: one CPU job, in the same stage as the audio chunks.
        let scenes = JobKind::Scenes(ScenesPayload {
            fps: video.fps,
            width: video.width,
            height: video.height,
        });
        jobs.push(scenes.new_job(0, 0));
    }
    // Non-speech sounds over the whole input (CPU), when the default profile wants them.
    if ingested.has_audio && config.selected_profile(None)?.events.enabled {
        jobs.push(crate::job::JobKind::Events.new_job(0, EVENTS_SEQ));
    }
    jobs.extend(crate::speakers::diarize_jobs(
        &config.speakers,
        &opts.speakers,
    ));
    // Hosts that share only the queue read the chunks and the source (scenes, events and
    // playback decode it) from the media store: stored before any job naming them exists.
    let chunks = jobs.iter().filter_map(|j| j.chunk_path.as_deref());
    let files = chunks.chain([meeting.source_path.as_str()]).map(Path::new);
    crate::media_store::publish(home, queue, files)?;
    match queue.insert_meeting(&meeting, &jobs)? {
        Inserted::Created(id) => {
            tracing::info!(meeting = %id, chunks = jobs.len(), duration_s = ingested.duration_s, "added {name}");
            Ok(Added {
                meeting_id: id,
                existing: false,
                chunks: ingested.chunks.len(),
                warnings: ingested.warnings.clone(),
            })
        }
        Inserted::Existing(id) => Ok(existing(id)),
    }
}

fn new_meeting(file: &Path, sha: &str, title: Option<&str>, ing: &IngestOutput) -> NewMeeting {
    let source = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let title = title.map(str::to_string).unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "meeting".into())
    });
    let speech_s: f64 = ing.speech_spans.iter().map(|(a, b)| b - a).sum();
    NewMeeting {
        // The content hash is the identity: the same bytes always get the same id.
        meeting_id: sha[..12].to_string(),
        title,
        source_path: source.to_string_lossy().into_owned(),
        source_sha256: sha.to_string(),
        kind: ing.kind.as_str().to_string(),
        duration_s: ing.duration_s,
        info: json!({
            "container": ing.container,
            "has_audio": ing.has_audio,
            "sample_rate_in": ing.sample_rate_in,
            "channels_in": ing.channels_in,
            "chunks": ing.chunks.len(),
            "speech_s": speech_s,
            "speech_ratio": if ing.duration_s > 0.0 { speech_s / ing.duration_s } else { 0.0 },
            "speech_spans": ing.speech_spans,
            "no_speech_spans": ing.no_speech_spans,
            "warnings": ing.warnings,
        }),
    }
}

fn audio_jobs(ing: &IngestOutput) -> Vec<NewJob> {
    ing.chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            chunk_job(
                i as i64,
                &c.path,
                c.offset_samples,
                c.len_samples,
                &c.speech_spans,
                c.speech_ratio,
                c.skip_reason.as_deref(),
            )
        })
        .collect()
}

/// One chunk's AUDIO job, for ingested and recorded chunks alike.
pub fn chunk_job(
    seq: i64,
    path: &Path,
    offset_samples: u64,
    len_samples: u64,
    speech_spans: &[(f64, f64)],
    speech_ratio: f64,
    skip_reason: Option<&str>,
) -> NewJob {
    let secs = |n: u64| n as f64 / 16_000.0;
    let kind = JobKind::Chunk(ChunkPayload {
        offset_s: secs(offset_samples),
        duration_s: secs(len_samples),
        offset_samples,
        len_samples,
        speech_spans: speech_spans.to_vec(),
        speech_ratio,
        skip_reason: skip_reason.map(str::to_string),
    });
    NewJob {
        chunk_path: Some(path.to_string_lossy().into_owned()),
        ..kind.new_job(0, seq)
    }
}
