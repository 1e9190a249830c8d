//! The typed job model: every kind of job the pipeline queues, with its payload, and what each
//! kind implies (task type, stage, model key, whether its model is held under the GPU lease).
//!
//! The queue stores a job as `task_type` + `model_key` + a JSON `payload`; this module is the one
//! place that writes and reads those. The stored shape is unchanged from earlier releases (a
//! chunk's payload has no `step`; every other payload is tagged by `step`), so databases made by
//! them read back as the same kinds.

use nightshift_core::TaskType;
use nightshift_queue::{ClaimedJob, JobRow, NewJob};
use nightshift_summarize::MapWindow;
use nightshift_worker_protocol::{LocalSegment, SpeakerHints};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Model keys: what the scheduler batches by and the planner costs.
pub mod model_key {
    /// The ASR model (whisper worker).
    pub const WHISPER: &str = "whisper";
    /// Speaker diarization (diarize worker, CPU).
    pub const DIARIZE: &str = "diarize";
    /// The summary's LLM (llama worker or a server).
    pub const LLM: &str = "llm";
    /// The vision model that describes scenes (llama worker with a projector, or a server).
    pub const VLM: &str = "vlm";
}

/// `seq` of the diarization job: after every chunk of its meeting.
pub const DIARIZE_SEQ: i64 = i32::MAX as i64;

/// One job of a meeting, by what it does.
#[derive(Debug, Clone, PartialEq)]
pub enum JobKind {
    /// Transcribe one audio chunk (AUDIO, stage 0, whisper).
    Chunk(ChunkPayload),
    /// Who spoke when, over all the meeting's chunks (AUDIO, stage 0, CPU).
    Diarize { hints: SpeakerHints },
    /// Scene cuts, keyframes and on-screen text of a video (VISUAL, stage 0, CPU).
    Scenes(ScenesPayload),
    /// Describe each scene with a vision model (VISUAL, stage 1).
    Describe,
    /// Cut the transcript into map windows and queue the summary's steps (SUMMARY, stage 1, CPU).
    Plan,
    /// Notes of one transcript window (SUMMARY, stage 2, LLM).
    Map { window: MapWindow },
    /// Reduce the previous stage's outputs; level 1 is the first (SUMMARY, stage ≥ 3, LLM).
    Reduce { level: i64 },
    /// Reduce a fixed group of the outputs of `from_stage + 1` (SUMMARY, LLM).
    Group {
        from_stage: i64,
        indices: Vec<usize>,
    },
}

/// A chunk job's payload: where the chunk sits in the meeting and what the VAD found in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkPayload {
    pub offset_s: f64,
    pub duration_s: f64,
    pub offset_samples: u64,
    pub len_samples: u64,
    /// Chunk-local seconds.
    #[serde(default)]
    pub speech_spans: Vec<(f64, f64)>,
    #[serde(default)]
    pub speech_ratio: f64,
    /// Set when the pre-filter found nothing to transcribe (no model runs).
    #[serde(default)]
    pub skip_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenesPayload {
    #[serde(default)]
    pub fps: Option<f64>,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
}

/// The stored form of every kind but the chunk (tagged by `step`).
#[derive(Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Stepped {
    Diarize {
        #[serde(default)]
        hints: SpeakerHints,
    },
    Scenes(ScenesPayload),
    Describe {},
    Plan {},
    Map {
        window: MapWindow,
    },
    Reduce {
        #[serde(default = "first_level")]
        level: i64,
    },
    Group {
        from_stage: i64,
        indices: Vec<usize>,
    },
}

fn first_level() -> i64 {
    1
}

/// A job's stored result, read as `T`: `None` while it has none; a result that does not read
/// as `T` is an error naming the job (never an empty value).
pub fn stored_result<T: serde::de::DeserializeOwned>(
    job: &JobRow,
) -> Result<Option<T>, CorruptJob> {
    let Some(result) = &job.result else {
        return Ok(None);
    };
    T::deserialize(result).map(Some).map_err(|e| CorruptJob {
        meeting_id: job.meeting_id.clone(),
        job_id: job.job_id,
        what: "result",
        why: e.to_string(),
    })
}

/// A stored job that does not read back as any kind: names the job and says why.
#[derive(Debug, thiserror::Error)]
#[error("meeting {meeting_id}, job {job_id}: stored {what} is unreadable: {why}")]
pub struct CorruptJob {
    pub meeting_id: String,
    pub job_id: i64,
    pub what: &'static str,
    pub why: String,
}

impl JobKind {
    pub fn task_type(&self) -> TaskType {
        match self {
            JobKind::Chunk(_) | JobKind::Diarize { .. } => TaskType::Audio,
            JobKind::Scenes(_) | JobKind::Describe => TaskType::Visual,
            JobKind::Plan
            | JobKind::Map { .. }
            | JobKind::Reduce { .. }
            | JobKind::Group { .. } => TaskType::Summary,
        }
    }

    pub fn model_key(&self) -> Option<&'static str> {
        match self {
            JobKind::Chunk(_) => Some(model_key::WHISPER),
            JobKind::Diarize { .. } => Some(model_key::DIARIZE),
            JobKind::Scenes(_) | JobKind::Plan => None,
            JobKind::Describe => Some(model_key::VLM),
            JobKind::Map { .. } | JobKind::Reduce { .. } | JobKind::Group { .. } => {
                Some(model_key::LLM)
            }
        }
    }

    /// Whether the kind's model is held under the GPU lease while its batch runs (every model
    /// that the planner costs: diarization runs on the CPU).
    pub fn needs_gpu_lease(&self) -> bool {
        matches!(
            self.model_key(),
            Some(model_key::WHISPER | model_key::LLM | model_key::VLM)
        )
    }

    /// The step name shown by `status` and `bench stages`.
    pub fn step(&self) -> &'static str {
        match self {
            JobKind::Chunk(_) => "chunk",
            JobKind::Diarize { .. } => "diarize",
            JobKind::Scenes(_) => "scenes",
            JobKind::Describe => "describe",
            JobKind::Plan => "plan",
            JobKind::Map { .. } => "map",
            JobKind::Reduce { .. } => "reduce",
            JobKind::Group { .. } => "group",
        }
    }

    /// The payload as stored.
    pub fn payload(&self) -> Value {
        let stepped = match self {
            JobKind::Chunk(c) => return serde_json::to_value(c).unwrap_or(Value::Null),
            JobKind::Diarize { hints } => Stepped::Diarize {
                hints: hints.clone(),
            },
            JobKind::Scenes(s) => Stepped::Scenes(s.clone()),
            JobKind::Describe => Stepped::Describe {},
            JobKind::Plan => Stepped::Plan {},
            JobKind::Map { window } => Stepped::Map {
                window: window.clone(),
            },
            JobKind::Reduce { level } => Stepped::Reduce { level: *level },
            JobKind::Group {
                from_stage,
                indices,
            } => Stepped::Group {
                from_stage: *from_stage,
                indices: indices.clone(),
            },
        };
        serde_json::to_value(stepped).unwrap_or(Value::Null)
    }

    /// The job to queue, at `stage` with `seq` (its order among its meeting's jobs).
    pub fn new_job(&self, stage: i64, seq: i64) -> NewJob {
        NewJob {
            seq,
            stage,
            model_key: self.model_key().map(str::to_string),
            payload: self.payload(),
            ..NewJob::new(self.task_type())
        }
    }

    /// Read a stored job back. A payload that matches no kind, or a kind stored under another
    /// task type or model key, is an error naming the job.
    pub fn parse(
        meeting_id: &str,
        job_id: i64,
        task_type: TaskType,
        model_key: Option<&str>,
        payload: &Value,
    ) -> Result<JobKind, CorruptJob> {
        let corrupt = |why: String| CorruptJob {
            meeting_id: meeting_id.to_string(),
            job_id,
            what: "payload",
            why,
        };
        let kind = if payload.get("step").is_none() {
            JobKind::Chunk(
                serde_json::from_value(payload.clone()).map_err(|e| corrupt(e.to_string()))?,
            )
        } else {
            match serde_json::from_value(payload.clone()).map_err(|e| corrupt(e.to_string()))? {
                Stepped::Diarize { hints } => JobKind::Diarize { hints },
                Stepped::Scenes(s) => JobKind::Scenes(s),
                Stepped::Describe {} => JobKind::Describe,
                Stepped::Plan {} => JobKind::Plan,
                Stepped::Map { window } => JobKind::Map { window },
                Stepped::Reduce { level } => JobKind::Reduce { level },
                Stepped::Group {
                    from_stage,
                    indices,
                } => JobKind::Group {
                    from_stage,
                    indices,
                },
            }
        };
        if kind.task_type() != task_type || kind.model_key() != model_key {
            return Err(corrupt(format!(
                "a {} job stored as {task_type:?} with model key {model_key:?}",
                kind.step()
            )));
        }
        Ok(kind)
    }

    pub fn of_claimed(job: &ClaimedJob) -> Result<JobKind, CorruptJob> {
        JobKind::parse(
            &job.meeting_id,
            job.job_id,
            job.task_type,
            job.model_key.as_deref(),
            &job.payload,
        )
    }

    pub fn of_row(job: &JobRow) -> Result<JobKind, CorruptJob> {
        JobKind::parse(
            &job.meeting_id,
            job.job_id,
            job.task_type,
            job.model_key.as_deref(),
            &job.payload,
        )
    }
}

/// What an AUDIO job stores as its result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioResult {
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub segments: Vec<LocalSegment>,
    /// Set when the pre-filter skipped the chunk (no model ran).
    #[serde(default)]
    pub skipped: Option<String>,
}

/// What a describe job stores: one description per scene, in scene order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DescribeResult {
    #[serde(default = "describe_step")]
    pub step: String,
    pub descriptions: Vec<String>,
}

fn describe_step() -> String {
    "describe".into()
}
