//! What a queue backend does, one trait per concern. SQLite (`crate::sqlite`) and PostgreSQL
//! (`crate::postgres`) implement every one with the same meaning; the tests in `tests/` run
//! against both. [`crate::Queue`] hands callers a `dyn Backend`.

use std::path::Path;
use std::time::Duration;

use nightshift_core::{JobStatus, TaskType};

use crate::{
    ClaimFilter, ClaimedJob, DbUrl, FtsFilter, FtsMatch, GpuLease, Inserted, JobRow, LeaseDenied,
    MediaRef, MeetingRow, NewJob, NewMeeting, Passage, PassageRow, QueueError, ReadyGroupRow,
    RunnerIdentity, StatusCounts, StoredVector, VoiceProfile,
};

/// Every concern together: what [`crate::Queue`] dereferences to.
pub trait Backend:
    Store + Jobs + Meetings + SearchIndex + Speakers + GpuLeases + Runners + MediaStore
{
}

impl<T> Backend for T where
    T: Store + Jobs + Meetings + SearchIndex + Speakers + GpuLeases + Runners + MediaStore
{
}

/// The database itself.
pub trait Store: Send {
    /// Where the queue lives (a PostgreSQL URL is shown without its password).
    fn url(&self) -> &DbUrl;
    /// "Now" in unix seconds as this queue's leases see it.
    fn now(&self) -> f64;
    fn lease_duration(&self) -> Duration;
    /// `Ok(())` when the database is sound (`PRAGMA integrity_check`, or a PostgreSQL
    /// consistency check of the queue's own rows).
    fn integrity_check(&self) -> Result<(), QueueError>;

    /// Block an idle runner until new work may be claimable. SQLite cannot be told, so it
    /// sleeps `poll`; PostgreSQL returns when a job is queued, requeued or retried anywhere
    /// (LISTEN/NOTIFY), and at the latest after [`IDLE_RECHECK`] so backoffs and expired leases
    /// are still noticed.
    fn wait_for_jobs(&self, poll: Duration) -> Result<(), QueueError>;
}

/// The longest a PostgreSQL runner waits for a notification before looking at the queue again.
pub const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// Claiming, heartbeating, completing and failing jobs.
pub trait Jobs {
    /// Add one job to an existing meeting in its own transaction.
    fn enqueue(&mut self, meeting_id: &str, job: &NewJob) -> Result<i64, QueueError>;

    /// Atomically take the best ready job that matches `filter`, with a lease for `owner`.
    fn claim(
        &mut self,
        owner: &str,
        filter: &ClaimFilter,
    ) -> Result<Option<ClaimedJob>, QueueError>;

    /// Claim up to `max` jobs for one worker batch, in one transaction: a batch is taken whole
    /// or not at all.
    fn claim_batch(
        &mut self,
        owner: &str,
        filter: &ClaimFilter,
        max: usize,
    ) -> Result<Vec<ClaimedJob>, QueueError>;

    /// Extend the lease of every job `owner` holds, and its runner heartbeat. Returns how many
    /// jobs it still holds.
    fn heartbeat(&mut self, owner: &str) -> Result<usize, QueueError>;

    /// Complete a held job, create follow-up jobs for its meeting and replace its search
    /// passages, all in one transaction: a crash never leaves follow-ups without the
    /// completion, and the index never lags the stored results. Only the lease holder can.
    fn complete_indexed(
        &mut self,
        job_id: i64,
        owner: &str,
        result: &serde_json::Value,
        metrics: &serde_json::Value,
        follow_ups: &[NewJob],
        passages: &[Passage],
    ) -> Result<(), QueueError>;

    /// Mark a held job COMPLETED and store its result in the same statement.
    fn complete(
        &mut self,
        job_id: i64,
        owner: &str,
        result: &serde_json::Value,
        metrics: &serde_json::Value,
    ) -> Result<(), QueueError> {
        self.complete_indexed(job_id, owner, result, metrics, &[], &[])
    }

    /// Complete a held job and create follow-up jobs for its meeting in one transaction (a job
    /// with nothing to search).
    fn complete_with_jobs(
        &mut self,
        job_id: i64,
        owner: &str,
        result: &serde_json::Value,
        metrics: &serde_json::Value,
        follow_ups: &[NewJob],
    ) -> Result<(), QueueError> {
        self.complete_indexed(job_id, owner, result, metrics, follow_ups, &[])
    }

    /// Record a failure of a held job. A retryable failure with attempts left goes back to
    /// PENDING after a backoff; otherwise the job is FAILED. The error text is kept either way.
    fn fail(
        &mut self,
        job_id: i64,
        owner: &str,
        error: &str,
        retryable: bool,
    ) -> Result<JobStatus, QueueError>;

    /// Give a held job back untouched (e.g. Ctrl-C before it started): PENDING again, and the
    /// attempt is not counted.
    fn release(&mut self, job_id: i64, owner: &str) -> Result<(), QueueError>;

    /// Requeue (with backoff) or fail every PROCESSING job whose lease has expired.
    fn requeue_expired(&mut self) -> Result<usize, QueueError>;

    /// How much work is left for a runner with this filter: (jobs PENDING or PROCESSING,
    /// earliest time a PENDING job becomes claimable).
    fn outstanding(&self, filter: &ClaimFilter) -> Result<(i64, Option<f64>), QueueError>;

    /// Work that could be claimed right now, grouped by model and task type.
    fn ready_groups(&self, task_type: Option<TaskType>) -> Result<Vec<ReadyGroupRow>, QueueError>;

    /// Counts per task type and status, for one meeting or all.
    fn status_counts(&self, meeting_id: Option<&str>) -> Result<StatusCounts, QueueError>;

    /// Every job of a meeting in order.
    fn jobs_of(&self, meeting_id: &str) -> Result<Vec<JobRow>, QueueError>;

    fn job(&self, job_id: i64) -> Result<Option<JobRow>, QueueError>;

    /// Cancel a meeting's unfinished jobs. A runner holding one of them loses its lease.
    fn cancel_meeting(&mut self, meeting_id: &str) -> Result<usize, QueueError>;

    /// Make FAILED (and CANCELLED) jobs of a meeting PENDING again with fresh attempts.
    fn retry_meeting(&mut self, meeting_id: &str) -> Result<usize, QueueError>;

    /// Make every FAILED job PENDING again with fresh attempts.
    fn retry_failed(&mut self) -> Result<usize, QueueError>;
}

/// Meetings: one per input file, owning its jobs.
pub trait Meetings {
    /// Create a meeting and all its jobs in one transaction: either everything is stored or
    /// nothing is. Content already present (same hash) is not added twice.
    fn insert_meeting(
        &mut self,
        meeting: &NewMeeting,
        jobs: &[NewJob],
    ) -> Result<Inserted, QueueError>;

    /// Add jobs to a meeting and set its duration and info in one transaction: a live
    /// recording queues each chunk as it closes this way.
    fn add_jobs_and_update(
        &mut self,
        meeting_id: &str,
        jobs: &[NewJob],
        duration_s: f64,
        info: &serde_json::Value,
    ) -> Result<Vec<i64>, QueueError>;

    /// End a recording whose recorder died: add the jobs of what it left and store `info` —
    /// only if the meeting is still marked as recording, checked in the same transaction, so
    /// two runners recovering it at once queue its jobs once. `Ok(false)`: someone else ended
    /// it first; nothing was written.
    fn finish_recording(
        &mut self,
        meeting_id: &str,
        jobs: &[NewJob],
        duration_s: f64,
        info: &serde_json::Value,
    ) -> Result<bool, QueueError>;

    /// Add jobs to an existing meeting in one transaction (e.g. the Foreman queueing a summary).
    fn add_jobs(&mut self, meeting_id: &str, jobs: &[NewJob]) -> Result<Vec<i64>, QueueError>;

    fn meeting(&self, meeting_id: &str) -> Result<Option<MeetingRow>, QueueError>;

    /// Every meeting, oldest first.
    fn meetings(&self) -> Result<Vec<MeetingRow>, QueueError>;

    /// Delete a meeting and its jobs. Returns the chunk files it referenced that no other
    /// meeting references, so the caller can delete them (never the user's input).
    fn remove_meeting(&mut self, meeting_id: &str) -> Result<Vec<String>, QueueError>;

    /// Copy a meeting as another database stores it (`db migrate`): the meeting, its jobs with
    /// their ids, statuses and results, and its speaker names, in one transaction, marked for a
    /// search rebuild. A job that was PROCESSING comes back PENDING (its lease belonged to the
    /// other database). `Ok(false)`: the same meeting (id and content) is already here, nothing
    /// written (a re-run after a failure); a different meeting with its id, or a job id taken
    /// by another meeting, is refused.
    fn copy_meeting(
        &mut self,
        meeting: &MeetingRow,
        jobs: &[JobRow],
        speaker_names: &[(String, String)],
    ) -> Result<bool, QueueError>;

    /// Chunk files whose every referencing job is finished (COMPLETED, FAILED, CANCELLED) and
    /// whose meetings finished before `cutoff`: safe to delete under a retention policy.
    fn expired_chunk_paths(&self, cutoff: f64) -> Result<Vec<String>, QueueError>;

    /// Find a meeting by full id or by a unique prefix of it (as git does with commits).
    fn resolve_meeting(&self, id_or_prefix: &str) -> Result<MeetingRow, QueueError> {
        if let Some(m) = self.meeting(id_or_prefix)? {
            return Ok(m);
        }
        let mut found = self
            .meetings()?
            .into_iter()
            .filter(|m| !id_or_prefix.is_empty() && m.meeting_id.starts_with(id_or_prefix));
        match (found.next(), found.next()) {
            (Some(m), None) => Ok(m),
            _ => Err(QueueError::UnknownMeeting(id_or_prefix.to_string())),
        }
    }

    /// `Err(UnknownMeeting)` unless the meeting exists.
    fn require_meeting(&self, meeting_id: &str) -> Result<(), QueueError> {
        match self.meeting(meeting_id)? {
            Some(_) => Ok(()),
            None => Err(QueueError::UnknownMeeting(meeting_id.to_string())),
        }
    }
}

/// The search index: passages of stored results, full text over them, cached sentence
/// embeddings, and meetings whose passages must be rebuilt. What a result's passages are is the
/// pipeline's business (it reads the typed results); a backend stores and queries them.
pub trait SearchIndex {
    /// Meetings whose passages must be rebuilt (stored before the index existed, or marked).
    fn search_stale_meetings(&self) -> Result<Vec<String>, QueueError>;

    /// Mark one meeting (or every meeting) for a rebuild of its passages.
    fn mark_search_stale(&mut self, meeting_id: Option<&str>) -> Result<usize, QueueError>;

    /// Replace a stale meeting's passages with `by_job` (job id → passages of its result) and
    /// clear its mark, in one transaction. Jobs named here that no longer exist are skipped; a
    /// meeting removed meanwhile is left removed.
    fn reindex_meeting(
        &mut self,
        meeting_id: &str,
        by_job: &[(i64, Vec<Passage>)],
    ) -> Result<(), QueueError>;

    /// Passages matching a full-text expression, best first. `expr` is the FTS5 syntax
    /// `pipeline::search::query` writes: double-quoted pieces (a trailing ` *` makes a prefix),
    /// `OR`, `NOT` and parentheses; it is bound as a parameter, never spliced into SQL.
    fn fts_search(&self, expr: &str, filter: &FtsFilter<'_>) -> Result<Vec<FtsMatch>, QueueError>;

    /// Stored passages by id (any order).
    fn passages_by_id(&self, ids: &[i64]) -> Result<Vec<PassageRow>, QueueError>;

    /// Up to `limit` passages of the given sources with no embedding from `model` yet, in id
    /// order.
    fn passages_without_vectors(
        &self,
        model: &str,
        sources: &[&str],
        limit: usize,
    ) -> Result<Vec<PassageRow>, QueueError>;

    /// How many passages of the given sources have no embedding from `model` yet.
    fn count_without_vectors(&self, model: &str, sources: &[&str]) -> Result<i64, QueueError>;

    /// Store embeddings (passages deleted meanwhile are skipped).
    fn put_vectors(&mut self, model: &str, vectors: &[(i64, Vec<u8>)]) -> Result<(), QueueError>;

    /// Every stored embedding from `model`, with its meeting.
    fn vectors(&self, model: &str) -> Result<Vec<StoredVector>, QueueError>;

    /// (count, largest passage id) of `model`'s embeddings (a scan: for reports; a reader that
    /// polls uses [`SearchIndex::vectors_mark`]).
    fn vectors_stamp(&self, model: &str) -> Result<(i64, i64), QueueError>;

    /// The largest passage id with an embedding from `model` (0: none).
    fn last_vector_id(&self, model: &str) -> Result<i64, QueueError>;

    /// (largest passage id, largest embedded passage id of `model`). Passages and their
    /// embeddings are only ever added with larger ids (a stored result's passages are replaced,
    /// never edited) and embedded in id order, so this changes whenever something was added;
    /// what a removal leaves in a reader's cache belongs to a meeting or passage that is gone,
    /// which the reader filters out.
    fn vectors_mark(&self, model: &str) -> Result<(i64, i64), QueueError>;

    /// Whether a passage of the given sources after the last embedded one (in id order) waits
    /// for an embedding from `model`.
    fn has_passages_after_vectors(&self, model: &str, sources: &[&str])
    -> Result<bool, QueueError>;

    /// Embeddings from `model` of passages with id above `after`, in id order.
    fn vectors_after(&self, model: &str, after: i64) -> Result<Vec<StoredVector>, QueueError>;

    /// A meeting's completed diarization job(s) (model key `diarize`): what a search needs to
    /// name speakers, without reading every chunk's result.
    fn diarize_jobs_of(&self, meeting_id: &str) -> Result<Vec<JobRow>, QueueError>;

    /// A meeting's passages of one source in time order.
    fn passages_of_meeting(
        &self,
        meeting_id: &str,
        source: &str,
    ) -> Result<Vec<PassageRow>, QueueError>;
}

/// Speaker names: enrolled voice profiles, and names given to a meeting's speakers by hand.
pub trait Speakers {
    /// Store (or replace) the voice profile `name`.
    fn put_voice_profile(
        &mut self,
        name: &str,
        embedding: &[f32],
        source: &str,
        speech_s: f64,
    ) -> Result<(), QueueError>;

    fn voice_profiles(&self) -> Result<Vec<VoiceProfile>, QueueError>;

    /// Remove a voice profile; false when there was none of that name.
    fn remove_voice_profile(&mut self, name: &str) -> Result<bool, QueueError>;

    /// Name the speaker `label` (e.g. `SPEAKER_2`) of a meeting.
    fn set_speaker_name(
        &mut self,
        meeting_id: &str,
        label: &str,
        name: &str,
    ) -> Result<(), QueueError>;

    /// Names given by hand to a meeting's speakers: `(label, name)`.
    fn speaker_names(&self, meeting_id: &str) -> Result<Vec<(String, String)>, QueueError>;

    /// The voice profile `name`, if enrolled.
    fn voice_profile(&self, name: &str) -> Result<Option<VoiceProfile>, QueueError> {
        Ok(self.voice_profiles()?.into_iter().find(|p| p.name == name))
    }
}

/// GPU leases: who holds model memory right now, so that processes sharing a GPU never load
/// models that do not fit together. Leases are per host: a host's budget counts only the
/// leases taken on that host.
pub trait GpuLeases {
    /// Live leases on this host of holders other than `holder` (dead ones are dropped).
    fn gpu_leases_of_others(&mut self, holder: &str) -> Result<Vec<GpuLease>, QueueError>;

    /// Take (or resize) `holder`'s lease for `bytes` if it fits `budget_bytes` next to every
    /// other live lease on this host. `Ok(Err(..))` says who is in the way.
    fn acquire_gpu(
        &mut self,
        holder: &str,
        model_key: &str,
        bytes: u64,
        budget_bytes: u64,
    ) -> Result<Result<(), LeaseDenied>, QueueError>;

    /// Keep `holder`'s lease alive (the runner's heartbeat thread calls this).
    fn heartbeat_gpu(&mut self, holder: &str) -> Result<(), QueueError>;

    fn release_gpu(&mut self, holder: &str) -> Result<(), QueueError>;
}

/// Who is running: runner registration and reclaiming the work of dead runners.
pub trait Runners {
    /// Record this runner so others can tell whether it is alive.
    fn register_runner(&mut self, me: &RunnerIdentity) -> Result<(), QueueError>;

    fn unregister_runner(&mut self, runner_id: &str) -> Result<(), QueueError>;

    /// Requeue at once (no backoff, the attempt still counts) the jobs of runners on this host
    /// whose process is gone or that belong to an earlier boot. Returns how many jobs moved. A
    /// dead runner on another host is known only by its expired lease.
    fn reclaim_dead_runners(&mut self, me: &RunnerIdentity) -> Result<usize, QueueError>;
}

/// The media store: files that jobs on other hosts need (chunks, a video's source, keyframes),
/// kept in the database when hosts share no filesystem. Content-addressed: the same bytes under
/// two names are stored once.
pub trait MediaStore {
    /// Store the file at `local` under `name` in one transaction (replacing what `name` was).
    fn put_media(&mut self, name: &str, local: &Path) -> Result<MediaRef, QueueError>;

    /// What is stored under `name`.
    fn media(&self, name: &str) -> Result<Option<MediaRef>, QueueError>;

    /// Every stored file, by name.
    fn media_list(&self) -> Result<Vec<MediaRef>, QueueError>;

    /// Drop these names (a removed meeting's files), and the parts no remaining name uses, in
    /// one transaction. Returns how many names were stored.
    fn forget_media(&mut self, names: &[String]) -> Result<usize, QueueError>;

    /// Write the stored file to `dest` (through a temp file, checked against its size and
    /// hash before it is renamed into place).
    fn fetch_media(&self, media: &MediaRef, dest: &Path) -> Result<(), QueueError>;
}
