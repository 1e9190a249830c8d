//! `nightshift add FILE...`: validate, chunk, and queue; one meeting id per line on stdout.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use nightshift_core::{MediaKind, TaskType};
use nightshift_media::{IngestOptions, IngestOutput};
use nightshift_queue::{Inserted, NewJob, NewMeeting, Queue};
use serde_json::json;

use crate::args::{AddArgs, KindArg};
use crate::config::Config;
use crate::home::Home;

/// The model key AUDIO jobs are batched under (the dev profile's whisper model).
pub const WHISPER_MODEL_KEY: &str = "whisper";

pub fn run(home: &Home, args: &AddArgs) -> Result<ExitCode> {
    // Check every input before touching the home, so one bad name fails fast.
    for file in &args.files {
        check_readable(file)?;
    }
    if let (Some(min), Some(max)) = (args.min_speakers, args.max_speakers)
        && min > max
    {
        anyhow::bail!("--min-speakers {min} is more than --max-speakers {max}");
    }
    home.ensure()?;
    let config = Config::load(home)?;
    let mut queue = Queue::open(&home.db_path())?;
    let mut failed = 0;
    for file in &args.files {
        match add_one(home, &config, &mut queue, file, args) {
            Ok(id) => println!("{id}"),
            Err(e) => {
                // Each bad file gets its own line; the good ones are still added.
                let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                eprintln!("error: {}", chain.join(": "));
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check_readable(file: &Path) -> Result<()> {
    let name = file.display();
    let meta = std::fs::metadata(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("{name}: no such file"),
        std::io::ErrorKind::PermissionDenied => anyhow!("{name}: permission denied"),
        _ => anyhow!("{name}: {e}"),
    })?;
    if meta.is_dir() {
        return Err(anyhow!("{name}: is a directory, not a recording"));
    }
    // Before opening: opening a named pipe would wait for a writer forever.
    if !meta.is_file() {
        return Err(anyhow!(
            "{name}: is {}, not a recording file",
            nightshift_media::file_kind(meta.file_type())
        ));
    }
    std::fs::File::open(file).map_err(|e| anyhow!("{name}: cannot read: {e}"))?;
    Ok(())
}

fn add_one(
    home: &Home,
    config: &Config,
    queue: &mut Queue,
    file: &Path,
    args: &AddArgs,
) -> Result<String> {
    let name = file.display().to_string();
    let sha = nightshift_media::sha256_file(file).with_context(|| format!("{name}: reading"))?;
    if let Some(existing) = queue
        .meetings()?
        .into_iter()
        .find(|m| m.source_sha256 == sha)
    {
        eprintln!(
            "notice: {name}: already added as meeting {}",
            existing.meeting_id
        );
        return Ok(existing.meeting_id);
    }
    let opts = IngestOptions {
        min_chunk_s: args.min_chunk,
        max_chunk_s: args.max_chunk,
        kind: match args.kind {
            KindArg::Auto => None,
            KindArg::Audio => Some(MediaKind::Audio),
            KindArg::Video => Some(MediaKind::Video),
        },
        ..IngestOptions::default()
    };
    let ingested =
        nightshift_media::ingest(file, &home.chunks_dir(), &opts).with_context(|| name.clone())?;
    for w in &ingested.warnings {
        eprintln!("warning: {name}: {w}");
    }
    let meeting = new_meeting(file, &sha, args.title.as_deref(), &ingested);
    let mut jobs = audio_jobs(&ingested);
    if ingested.kind == MediaKind::Video
        && let Some(video) = &ingested.probe.video
    {
        // Scenes, keyframes and OCR: one CPU job, in the same stage as the audio chunks.
        jobs.push(NewJob {
            stage: 0,
            payload: json!({"step": "scenes", "fps": video.fps, "width": video.width, "height": video.height}),
            ..NewJob::new(TaskType::Visual)
        });
    }
    jobs.extend(crate::speakers::diarize_jobs(
        &config.speakers,
        &nightshift_worker_protocol::SpeakerHints {
            num_speakers: args.speakers.map(usize::from),
            min_speakers: args.min_speakers.map(usize::from),
            max_speakers: args.max_speakers.map(usize::from),
            threshold: None,
        },
    ));
    match queue.insert_meeting(&meeting, &jobs)? {
        Inserted::Created(id) => {
            tracing::info!(meeting = %id, chunks = jobs.len(), duration_s = ingested.duration_s, "added {name}");
            Ok(id)
        }
        Inserted::Existing(id) => {
            eprintln!("notice: {name}: already added as meeting {id}");
            Ok(id)
        }
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
            ChunkJob {
                seq: i as i64,
                path: &c.path,
                offset_samples: c.offset_samples,
                len_samples: c.len_samples,
                speech_spans: &c.speech_spans,
                speech_ratio: c.speech_ratio,
                skip_reason: c.skip_reason.as_deref(),
            }
            .into_job()
        })
        .collect()
}

/// One chunk's AUDIO job, for ingested and recorded chunks alike.
pub struct ChunkJob<'a> {
    pub seq: i64,
    pub path: &'a std::path::Path,
    pub offset_samples: u64,
    pub len_samples: u64,
    /// Chunk-local seconds.
    pub speech_spans: &'a [(f64, f64)],
    pub speech_ratio: f64,
    pub skip_reason: Option<&'a str>,
}

impl ChunkJob<'_> {
    pub fn into_job(self) -> NewJob {
        let secs = |n: u64| n as f64 / 16_000.0;
        NewJob {
            chunk_path: Some(self.path.to_string_lossy().into_owned()),
            seq: self.seq,
            model_key: Some(WHISPER_MODEL_KEY.to_string()),
            payload: json!({
                "offset_s": secs(self.offset_samples),
                "duration_s": secs(self.len_samples),
                "offset_samples": self.offset_samples,
                "len_samples": self.len_samples,
                "speech_spans": self.speech_spans,
                "speech_ratio": self.speech_ratio,
                "skip_reason": self.skip_reason,
            }),
            ..NewJob::new(TaskType::Audio)
        }
    }
}
