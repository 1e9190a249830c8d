//! The rows and requests every queue backend speaks: what callers pass in and get back,
//! independent of the database behind them.

use std::collections::BTreeMap;

use nightshift_core::{JobStatus, TaskType};
use serde::Serialize;

/// Claimable-now jobs sharing a model and task type (input of the scheduling policy).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyGroupRow {
    pub model_key: Option<String>,
    pub task_type: TaskType,
    pub ready_jobs: usize,
    pub max_priority: i64,
    pub oldest_job_id: i64,
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub task_type: TaskType,
    pub chunk_path: Option<String>,
    pub seq: i64,
    pub priority: i64,
    pub model_key: Option<String>,
    pub payload: serde_json::Value,
    pub max_attempts: i64,
    /// Runs only when every job of its meeting with a lower stage is finished. Defaults to the
    /// task type's stage (AUDIO and VISUAL 0, SUMMARY 1); multi-step work (summary map, then
    /// reduce) uses higher stages.
    pub stage: i64,
}

impl NewJob {
    pub fn new(task_type: TaskType) -> NewJob {
        NewJob {
            task_type,
            chunk_path: None,
            seq: 0,
            priority: 0,
            model_key: None,
            payload: serde_json::json!({}),
            max_attempts: 3,
            stage: Self::default_stage(task_type),
        }
    }

    /// SUMMARY waits for every AUDIO and VISUAL job of its meeting.
    pub fn default_stage(task_type: TaskType) -> i64 {
        match task_type {
            TaskType::Audio | TaskType::Visual => 0,
            TaskType::Summary => 1,
        }
    }
}

/// Which jobs a runner is willing to take.
#[derive(Debug, Clone, Default)]
pub struct ClaimFilter {
    pub task_type: Option<TaskType>,
    /// `None`: any model. `Some("")`: only jobs without a model key (a plan step, scene
    /// detection), which must not take a model's jobs of the same task with them.
    pub model_key: Option<String>,
}

/// A job this runner now holds a lease on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimedJob {
    pub job_id: i64,
    pub meeting_id: String,
    pub task_type: TaskType,
    pub chunk_path: Option<String>,
    pub seq: i64,
    pub stage: i64,
    pub priority: i64,
    pub model_key: Option<String>,
    pub payload: serde_json::Value,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_expires_at: f64,
}

/// A job as stored, for `status` and `show`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRow {
    pub job_id: i64,
    pub meeting_id: String,
    pub task_type: TaskType,
    pub status: JobStatus,
    pub chunk_path: Option<String>,
    pub seq: i64,
    pub model_key: Option<String>,
    pub payload: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub not_before: f64,
    pub created_at: f64,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub metrics: Option<serde_json::Value>,
    pub stage: i64,
    pub priority: i64,
}

/// Job counts per task type and status.
pub type StatusCounts = BTreeMap<TaskType, BTreeMap<JobStatus, i64>>;

/// A stored JSON column that does not parse: named, never read as empty.
#[derive(Debug)]
pub(crate) struct BadJson {
    pub what: String,
    pub why: String,
}

impl std::fmt::Display for BadJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: stored JSON is unreadable ({})", self.what, self.why)
    }
}

impl std::error::Error for BadJson {}

#[derive(Debug, Clone)]
pub struct NewMeeting {
    pub meeting_id: String,
    pub title: String,
    pub source_path: String,
    pub source_sha256: String,
    pub kind: String,
    pub duration_s: f64,
    pub info: serde_json::Value,
}

impl NewMeeting {
    /// The row it becomes, created at `created_at`.
    pub(crate) fn row(&self, created_at: f64) -> MeetingRow {
        MeetingRow {
            meeting_id: self.meeting_id.clone(),
            title: self.title.clone(),
            source_path: self.source_path.clone(),
            source_sha256: self.source_sha256.clone(),
            kind: self.kind.clone(),
            duration_s: self.duration_s,
            info: self.info.clone(),
            created_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeetingRow {
    pub meeting_id: String,
    pub title: String,
    pub source_path: String,
    pub source_sha256: String,
    pub kind: String,
    pub duration_s: f64,
    pub info: serde_json::Value,
    pub created_at: f64,
}

/// What [`Queue::insert_meeting`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    Created(String),
    /// The same content was already added; nothing was written.
    Existing(String),
}

/// One piece of searchable text of a job's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// `transcript`, `decision`, `action`, `question` or `screen` (the schema checks it).
    pub source: String,
    /// Meeting seconds.
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
}

/// A stored passage.
#[derive(Debug, Clone, PartialEq)]
pub struct PassageRow {
    pub passage_id: i64,
    pub meeting_id: String,
    pub source: String,
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
}

/// A full-text match: the passage, its text with each matched token between `\u{2}` and
/// `\u{3}`, and its BM25 score (lower is better, as FTS5 reports it).
#[derive(Debug, Clone, PartialEq)]
pub struct FtsMatch {
    pub passage: PassageRow,
    pub marked: String,
    pub bm25: f64,
}

/// Which passages a full-text query may return.
#[derive(Debug, Clone, Default)]
pub struct FtsFilter<'a> {
    /// Only these meetings (`None`: all).
    pub meetings: Option<&'a [String]>,
    pub limit: usize,
}

/// A stored embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVector {
    pub passage_id: i64,
    pub meeting_id: String,
    pub vector: Vec<u8>,
}

/// An enrolled voice.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceProfile {
    pub name: String,
    /// L2-normalised speaker embedding.
    pub embedding: Vec<f32>,
    /// The clip it was enrolled from.
    pub source: String,
    pub speech_s: f64,
    pub created_at: f64,
}

/// A lease not refreshed for this long belongs to a process that hung or lives elsewhere.
pub const STALE_AFTER_S: f64 = 120.0;

#[derive(Debug, Clone, PartialEq)]
pub struct GpuLease {
    pub holder: String,
    pub model_key: String,
    pub bytes: u64,
    pub pid: u32,
    pub heartbeat_at: f64,
}

/// Why a lease was not granted.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseDenied {
    pub held_by_others_bytes: u64,
    pub holders: Vec<GpuLease>,
}

impl LeaseDenied {
    /// Whether `bytes` more fit `budget_bytes` next to `others` (the live leases of everyone
    /// else): `Err` says who is in the way.
    pub(crate) fn check(
        others: Vec<GpuLease>,
        bytes: u64,
        budget_bytes: u64,
    ) -> Result<(), LeaseDenied> {
        let held: u64 = others.iter().map(|l| l.bytes).sum();
        if held.saturating_add(bytes) > budget_bytes {
            Err(LeaseDenied {
                held_by_others_bytes: held,
                holders: others,
            })
        } else {
            Ok(())
        }
    }
}

/// The status a `fail` statement returned: `None` means the runner no longer held the job.
pub(crate) fn failed_status(
    job_id: i64,
    status: Option<String>,
) -> Result<JobStatus, crate::QueueError> {
    let status = status.ok_or(crate::QueueError::LeaseLost { job_id })?;
    status.parse().map_err(
        |e: nightshift_core::UnknownName| crate::QueueError::BadRow {
            job_id,
            detail: e.to_string(),
        },
    )
}
