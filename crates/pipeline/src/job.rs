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
    /// Audio events (YAMNet, in process, CPU).
    pub const EVENTS: &str = "yamnet";
    /// Objects on keyframes (a COCO detector, in process, CPU).
    pub const OBJECTS: &str = "detector";
}

/// `seq` of the diarization job: after every chunk of its meeting.
pub const DIARIZE_SEQ: i64 = i32::MAX as i64;

/// What the scheduler batches by (task type + model key), as the runner that takes the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// Chunk jobs: the whisper worker.
    Chunks,
    /// Diarization jobs: the diarization worker (CPU).
    Diarize,
    /// Summary plan steps: in process, no model.
    Plan,
    /// Map/reduce/group steps: the LLM.
    LlmSteps,
    /// Scenes jobs: in process, no model.
    Scenes,
    /// Describe jobs: the vision model.
    Describe,
    /// Audio-event jobs: YAMNet in process.
    Events,
    /// Object jobs: the detector in process.
    Objects,
}

impl BatchKind {
    /// The runner for a batch of `task_type` jobs under `model_key`; `None` for a model key no
    /// job kind uses (a database written by a newer release).
    pub fn of(task_type: TaskType, model_key: Option<&str>) -> Option<BatchKind> {
        Some(match (task_type, model_key) {
            (TaskType::Audio, Some(model_key::DIARIZE)) => BatchKind::Diarize,
            (TaskType::Audio, Some(model_key::WHISPER)) => BatchKind::Chunks,
            (TaskType::Summary, None) => BatchKind::Plan,
            (TaskType::Summary, Some(model_key::LLM)) => BatchKind::LlmSteps,
            (TaskType::Visual, None) => BatchKind::Scenes,
            (TaskType::Visual, Some(model_key::VLM)) => BatchKind::Describe,
            (TaskType::Audio, Some(model_key::EVENTS)) => BatchKind::Events,
            (TaskType::Visual, Some(model_key::OBJECTS)) => BatchKind::Objects,
            _ => return None,
        })
    }
}

/// One job of a meeting, by what it does.
#[derive(Debug, Clone, PartialEq)]
pub enum JobKind {
    /// Transcribe one audio chunk (AUDIO, stage 0, whisper).
    Chunk(ChunkPayload),
    /// Who spoke when, over all the meeting's chunks (AUDIO, stage 0, CPU).
    Diarize { hints: SpeakerHints },
    /// Scene cuts, keyframes and on-screen text of a video (VISUAL, stage 0, CPU).
    Scenes(ScenesPayload),
    /// Describe each scene with a vision model (VISUAL, stage 1; stage 2 behind objects).
    Describe,
    /// Non-speech sounds over the whole input (AUDIO, stage 0, YAMNet in process).
    Events,
    /// Objects on the scenes' keyframes (VISUAL, stage 1, queued by scenes; the detector in
    /// process).
    Objects,
    /// Cut the transcript into map windows and queue the summary's steps (SUMMARY, stage 1, CPU).
    Plan,
    /// Notes of one transcript window (SUMMARY, stage 2, LLM).
    Map { window: MapWindow },
    /// The whole summary in one step, for a transcript that fits one prompt (SUMMARY, stage 2,
    /// LLM): no map-reduce.
    Summarize { window: MapWindow },
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
    Events {},
    Objects {},
    Plan {},
    Map {
        window: MapWindow,
    },
    Summarize {
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
            JobKind::Chunk(_) | JobKind::Diarize { .. } | JobKind::Events => TaskType::Audio,
            JobKind::Scenes(_) | JobKind::Describe | JobKind::Objects => TaskType::Visual,
            JobKind::Plan
            | JobKind::Map { .. }
            | JobKind::Summarize { .. }
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
            JobKind::Events => Some(model_key::EVENTS),
            JobKind::Objects => Some(model_key::OBJECTS),
            JobKind::Map { .. }
            | JobKind::Summarize { .. }
            | JobKind::Reduce { .. }
            | JobKind::Group { .. } => Some(model_key::LLM),
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
            JobKind::Events => "events",
            JobKind::Objects => "objects",
            JobKind::Plan => "plan",
            JobKind::Map { .. } => "map",
            JobKind::Summarize { .. } => "summarize",
            JobKind::Reduce { .. } => "reduce",
            JobKind::Group { .. } => "group",
        }
    }

    /// The `step` the payload is stored with (`None` for a chunk, stored without one).
    pub fn stored_step(&self) -> Option<&'static str> {
        match self {
            JobKind::Chunk(_) => None,
            other => Some(other.step()),
        }
    }

    pub fn chunk(&self) -> Option<&ChunkPayload> {
        match self {
            JobKind::Chunk(c) => Some(c),
            _ => None,
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
            JobKind::Events => Stepped::Events {},
            JobKind::Objects => Stepped::Objects {},
            JobKind::Plan => Stepped::Plan {},
            JobKind::Map { window } => Stepped::Map {
                window: window.clone(),
            },
            JobKind::Summarize { window } => Stepped::Summarize {
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
                Stepped::Events {} => JobKind::Events,
                Stepped::Objects {} => JobKind::Objects,
                Stepped::Plan {} => JobKind::Plan,
                Stepped::Map { window } => JobKind::Map { window },
                Stepped::Summarize { window } => JobKind::Summarize { window },
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

impl DescribeResult {
    pub fn new(descriptions: Vec<String>) -> DescribeResult {
        DescribeResult {
            step: describe_step(),
            descriptions,
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// What an events job stores: the non-speech sounds heard, by start, and the audio seconds
/// tagged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsResult {
    pub events: Vec<nightshift_core::AudioEvent>,
    #[serde(default)]
    pub audio_s: f64,
}

/// What an objects job stores: per scene, per keyframe (in the scene's keyframe order) the
/// labelled boxes, and the scene's summary ("3 people, a laptop").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectsResult {
    pub scenes: Vec<SceneObjects>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneObjects {
    pub keyframes: Vec<Vec<nightshift_core::ObjectBox>>,
    pub summary: String,
}

/// What a SUMMARY job stores. `plan`: how many map windows (with `final` and `summary` when
/// there was nothing to summarise); `map`/`reduce`/`group`: the step's parsed `output` (L1 notes,
/// or a summary) with `final` on the last reduce; a reduce that expanded into groups says so.
/// `gaps`: what the summary could not hear (failed chunks and steps).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryStepResult {
    pub step: String,
    #[serde(default, rename = "final", skip_serializing_if = "is_false")]
    pub is_final: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Value>,
    #[serde(default)]
    pub gaps: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_segments: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expanded_into_groups: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<usize>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl SummaryStepResult {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn window() -> MapWindow {
        MapWindow {
            index: 2,
            start: 1.0,
            end: 9.5,
            text: "[00:01] ANNA: hello".into(),
            est_tokens: 12,
            split_segment: false,
        }
    }

    fn every_kind() -> Vec<JobKind> {
        vec![
            JobKind::Chunk(ChunkPayload {
                offset_s: 60.0,
                duration_s: 30.0,
                offset_samples: 960_000,
                len_samples: 480_000,
                speech_spans: vec![(0.5, 29.0)],
                speech_ratio: 0.95,
                skip_reason: None,
            }),
            JobKind::Diarize {
                hints: SpeakerHints {
                    num_speakers: Some(3),
                    ..SpeakerHints::default()
                },
            },
            JobKind::Scenes(ScenesPayload {
                fps: Some(30.0),
                width: 1280,
                height: 720,
            }),
            JobKind::Describe,
            JobKind::Events,
            JobKind::Objects,
            JobKind::Plan,
            JobKind::Map { window: window() },
            JobKind::Summarize { window: window() },
            JobKind::Reduce { level: 2 },
            JobKind::Group {
                from_stage: 2,
                indices: vec![0, 1, 2],
            },
        ]
    }

    #[test]
    fn every_kind_reads_back_as_itself() {
        for kind in every_kind() {
            let job = kind.new_job(0, 0);
            let back = JobKind::parse(
                "m1",
                7,
                job.task_type,
                job.model_key.as_deref(),
                &job.payload,
            )
            .unwrap();
            assert_eq!(back, kind);
        }
    }

    #[test]
    fn payloads_written_by_earlier_releases_read_as_their_kinds() {
        let old = [
            (
                TaskType::Audio,
                Some("whisper"),
                json!({"offset_s": 0.0, "duration_s": 5.0, "offset_samples": 0, "len_samples": 80000,
                       "speech_spans": [[0.1, 4.9]], "speech_ratio": 0.9, "skip_reason": null}),
                "chunk",
            ),
            (
                TaskType::Audio,
                Some("diarize"),
                json!({"step": "diarize", "hints": {"num_speakers": null, "min_speakers": 2, "max_speakers": null, "threshold": null}}),
                "diarize",
            ),
            (
                TaskType::Visual,
                None,
                json!({"step": "scenes", "fps": 25.0, "width": 640, "height": 360}),
                "scenes",
            ),
            (
                TaskType::Visual,
                Some("vlm"),
                json!({"step": "describe"}),
                "describe",
            ),
            (TaskType::Summary, None, json!({"step": "plan"}), "plan"),
            (
                TaskType::Summary,
                Some("llm"),
                json!({"step": "map", "window": {"index": 0, "start": 0.0, "end": 5.0, "text": "x", "est_tokens": 1, "split_segment": false}}),
                "map",
            ),
            (
                TaskType::Summary,
                Some("llm"),
                json!({"step": "reduce", "level": 1}),
                "reduce",
            ),
            (
                TaskType::Summary,
                Some("llm"),
                json!({"step": "group", "from_stage": 2, "indices": [0, 1]}),
                "group",
            ),
        ];
        for (task, key, payload, step) in old {
            let kind = JobKind::parse("m1", 1, task, key, &payload).unwrap();
            assert_eq!(kind.step(), step);
            assert_eq!(kind.payload(), payload, "{step} is stored as before");
        }
    }

    #[test]
    fn a_corrupt_payload_is_an_error_naming_meeting_and_job() {
        let e = JobKind::parse(
            "abc123",
            42,
            TaskType::Summary,
            Some("llm"),
            &json!({"step": "map", "window": "not a window"}),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("abc123") && msg.contains("job 42") && msg.contains("payload"),
            "{msg}"
        );
        let e = JobKind::parse(
            "abc123",
            43,
            TaskType::Audio,
            Some("whisper"),
            &json!({"offset_s": "soon"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("job 43"), "{e}");
        // A kind stored under another task type or model key is corrupt too.
        let e = JobKind::parse(
            "abc123",
            44,
            TaskType::Audio,
            Some("llm"),
            &json!({"step": "plan"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("a plan job stored as"), "{e}");
    }

    #[test]
    fn each_kind_knows_its_batch_and_lease() {
        for kind in every_kind() {
            let batch = BatchKind::of(kind.task_type(), kind.model_key()).unwrap();
            let expected = match &kind {
                JobKind::Chunk(_) => BatchKind::Chunks,
                JobKind::Diarize { .. } => BatchKind::Diarize,
                JobKind::Scenes(_) => BatchKind::Scenes,
                JobKind::Describe => BatchKind::Describe,
                JobKind::Events => BatchKind::Events,
                JobKind::Objects => BatchKind::Objects,
                JobKind::Plan => BatchKind::Plan,
                JobKind::Map { .. }
                | JobKind::Summarize { .. }
                | JobKind::Reduce { .. }
                | JobKind::Group { .. } => BatchKind::LlmSteps,
            };
            assert_eq!(batch, expected, "{}", kind.step());
            // Diarization runs on the CPU; every other model is held under the GPU lease.
            let leased = matches!(
                batch,
                BatchKind::Chunks | BatchKind::LlmSteps | BatchKind::Describe
            );
            assert_eq!(kind.needs_gpu_lease(), leased, "{}", kind.step());
        }
        assert_eq!(BatchKind::of(TaskType::Audio, Some("objects")), None);
    }

    #[test]
    fn a_result_that_does_not_read_is_an_error_not_an_empty_value() {
        let row = JobRow {
            job_id: 9,
            meeting_id: "feed".into(),
            task_type: TaskType::Audio,
            status: nightshift_core::JobStatus::Completed,
            chunk_path: None,
            seq: 0,
            model_key: Some("whisper".into()),
            payload: json!({}),
            result: Some(json!({"segments": "garbage"})),
            attempts: 1,
            max_attempts: 3,
            last_error: None,
            lease_owner: None,
            not_before: 0.0,
            created_at: 0.0,
            started_at: None,
            finished_at: None,
            metrics: None,
            stage: 0,
            priority: 0,
        };
        let e = stored_result::<AudioResult>(&row).unwrap_err().to_string();
        assert!(
            e.contains("feed") && e.contains("job 9") && e.contains("result"),
            "{e}"
        );
        let none = JobRow {
            result: None,
            ..row
        };
        assert_eq!(stored_result::<AudioResult>(&none).unwrap(), None);
    }
}
