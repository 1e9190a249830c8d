//! Meetings: one per input file, owning its jobs.

use rusqlite::{OptionalExtension, Row, params};

use super::SqliteQueue;
use super::jobs::insert_job;
use crate::backend::{Meetings, Store};
use crate::{Inserted, JobRow, MeetingRow, NewJob, NewMeeting, QueueError};

const MEETING_COLUMNS: &str =
    "meeting_id, title, source_path, source_sha256, kind, duration_s, info, created_at";

fn meeting_from_row(r: &Row<'_>) -> rusqlite::Result<MeetingRow> {
    let info: String = r.get(6)?;
    let meeting_id: String = r.get(0)?;
    let info = super::jobs::parse_json(6, &info, || format!("meeting {meeting_id}: info"))?;
    Ok(MeetingRow {
        meeting_id: r.get(0)?,
        title: r.get(1)?,
        source_path: r.get(2)?,
        source_sha256: r.get(3)?,
        kind: r.get(4)?,
        duration_s: r.get(5)?,
        info,
        created_at: r.get(7)?,
    })
}

impl Meetings for SqliteQueue {
    /// Create a meeting and all its jobs in one transaction: either everything is stored or
    /// nothing is. Content already present (same hash) is not added twice.
    fn insert_meeting(
        &mut self,
        meeting: &NewMeeting,
        jobs: &[NewJob],
    ) -> Result<Inserted, QueueError> {
        let now = self.now();
        self.write(|tx, p| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT meeting_id FROM meetings WHERE source_sha256 = ?1",
                    [&meeting.source_sha256],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| QueueError::sql(p, e))?;
            if let Some(id) = existing {
                return Ok(Inserted::Existing(id));
            }
            insert_meeting_row(tx, &meeting.row(now)).map_err(|e| QueueError::sql(p, e))?;
            for job in jobs {
                insert_job(tx, &meeting.meeting_id, job, now).map_err(|e| QueueError::sql(p, e))?;
            }
            Ok(Inserted::Created(meeting.meeting_id.clone()))
        })
    }

    /// Add jobs to a meeting and set its duration and info in one transaction: a live
    /// recording queues each chunk as it closes this way.
    fn add_jobs_and_update(
        &mut self,
        meeting_id: &str,
        jobs: &[NewJob],
        duration_s: f64,
        info: &serde_json::Value,
    ) -> Result<Vec<i64>, QueueError> {
        self.require_meeting(meeting_id)?;
        let now = self.now();
        self.write(|tx, p| {
            let ids = jobs
                .iter()
                .map(|j| insert_job(tx, meeting_id, j, now))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::sql(p, e))?;
            tx.execute(
                "UPDATE meetings SET duration_s = ?2, info = ?3 WHERE meeting_id = ?1",
                rusqlite::params![meeting_id, duration_s, info.to_string()],
            )
            .map_err(|e| QueueError::sql(p, e))?;
            Ok(ids)
        })
    }

    /// End a recording whose recorder died: add the jobs of what it left (its open chunk, the
    /// diarization) and store `info` — only if the meeting is still marked as recording, checked
    /// in the same transaction, so two runners recovering it at once queue its jobs once.
    /// `Ok(false)`: someone else ended it first; nothing was written.
    fn finish_recording(
        &mut self,
        meeting_id: &str,
        jobs: &[NewJob],
        duration_s: f64,
        info: &serde_json::Value,
    ) -> Result<bool, QueueError> {
        self.require_meeting(meeting_id)?;
        let now = self.now();
        self.write(|tx, p| {
            let recording: bool = tx
                .query_row(
                    "SELECT coalesce(json_extract(info, '$.recording'), 0) = 1
                     FROM meetings WHERE meeting_id = ?1",
                    [meeting_id],
                    |r| r.get(0),
                )
                .map_err(|e| QueueError::sql(p, e))?;
            if !recording {
                return Ok(false);
            }
            for j in jobs {
                insert_job(tx, meeting_id, j, now).map_err(|e| QueueError::sql(p, e))?;
            }
            tx.execute(
                "UPDATE meetings SET duration_s = ?2, info = ?3 WHERE meeting_id = ?1",
                rusqlite::params![meeting_id, duration_s, info.to_string()],
            )
            .map_err(|e| QueueError::sql(p, e))?;
            Ok(true)
        })
    }

    /// Add jobs to an existing meeting in one transaction (e.g. the Foreman queueing a summary).
    fn add_jobs(&mut self, meeting_id: &str, jobs: &[NewJob]) -> Result<Vec<i64>, QueueError> {
        self.require_meeting(meeting_id)?;
        let now = self.now();
        self.write(|tx, p| {
            jobs.iter()
                .map(|j| insert_job(tx, meeting_id, j, now))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::sql(p, e))
        })
    }

    fn copy_meeting(
        &mut self,
        meeting: &MeetingRow,
        jobs: &[JobRow],
        speaker_names: &[(String, String)],
    ) -> Result<bool, QueueError> {
        self.copy_meeting_impl(meeting, jobs, speaker_names)
    }

    fn meeting(&self, meeting_id: &str) -> Result<Option<MeetingRow>, QueueError> {
        let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings WHERE meeting_id = ?1");
        self.conn
            .query_row(&sql, [meeting_id], meeting_from_row)
            .optional()
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    fn meetings(&self) -> Result<Vec<MeetingRow>, QueueError> {
        let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings ORDER BY created_at, meeting_id");
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map([], meeting_from_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// Delete a meeting and its jobs. Returns the chunk files it referenced that no other meeting
    /// references, so the caller can delete them (never the user's input).
    fn remove_meeting(&mut self, meeting_id: &str) -> Result<Vec<String>, QueueError> {
        self.require_meeting(meeting_id)?;
        self.write(|tx, p| {
            let orphans: Vec<String> = tx
                .prepare(
                    "SELECT DISTINCT chunk_path FROM jobs j
                     WHERE j.meeting_id = ?1 AND j.chunk_path IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM jobs o
                                       WHERE o.chunk_path = j.chunk_path AND o.meeting_id <> ?1)",
                )
                .and_then(|mut s| {
                    s.query_map([meeting_id], |r| r.get(0))?
                        .collect::<Result<Vec<String>, _>>()
                })
                .map_err(|e| QueueError::sql(p, e))?;
            tx.execute("DELETE FROM meetings WHERE meeting_id = ?1", [meeting_id])
                .map_err(|e| QueueError::sql(p, e))?;
            Ok(orphans)
        })
    }

    /// Chunk files whose every referencing job is finished (COMPLETED, FAILED, CANCELLED) and
    /// whose meetings finished before `cutoff`: safe to delete under a retention policy.
    fn expired_chunk_paths(&self, cutoff: f64) -> Result<Vec<String>, QueueError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT chunk_path FROM jobs WHERE chunk_path IS NOT NULL
                 GROUP BY chunk_path
                 HAVING sum(status IN ('PENDING', 'PROCESSING')) = 0
                    AND max(coalesce(finished_at, 0)) < ?1",
            )
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map([cutoff], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| QueueError::sql(&self.url, e))
    }
}

impl SqliteQueue {
    /// [`Meetings::copy_meeting`].
    pub(super) fn copy_meeting_impl(
        &mut self,
        meeting: &MeetingRow,
        jobs: &[JobRow],
        speaker_names: &[(String, String)],
    ) -> Result<bool, QueueError> {
        self.write(|tx, db| {
            let sql = |e| QueueError::sql(db, e);
            let refused = |detail: String| QueueError::Refused {
                db: db.clone(),
                detail,
            };
            let here: Option<String> = tx
                .query_row(
                    "SELECT source_sha256 FROM meetings WHERE meeting_id = ?1",
                    [&meeting.meeting_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            match here {
                Some(sha) if sha == meeting.source_sha256 => return Ok(false),
                Some(_) => {
                    return Err(refused(format!(
                        "meeting {} is already here with other content",
                        meeting.meeting_id
                    )));
                }
                None => {}
            }
            insert_meeting_row(tx, meeting).map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    refused(format!(
                        "meeting {}: its content is already here under another id",
                        meeting.meeting_id
                    ))
                }
                e => sql(e),
            })?;
            for j in jobs {
                let status = copied_status(j);
                tx.execute(
                    "INSERT INTO jobs (job_id, meeting_id, task_type, status, chunk_path, seq,
                                       stage, priority, model_key, payload, result, attempts,
                                       max_attempts, last_error, lease_owner, not_before,
                                       created_at, started_at, finished_at, metrics)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                             ?16, ?17, ?18, ?19, ?20)",
                    params![
                        j.job_id,
                        meeting.meeting_id,
                        j.task_type.as_str(),
                        status,
                        j.chunk_path,
                        j.seq,
                        j.stage,
                        j.priority,
                        j.model_key,
                        j.payload.to_string(),
                        j.result.as_ref().map(|v| v.to_string()),
                        j.attempts,
                        j.max_attempts,
                        j.last_error,
                        Option::<String>::None,
                        j.not_before,
                        j.created_at,
                        j.started_at,
                        j.finished_at,
                        j.metrics.as_ref().map(|v| v.to_string()),
                    ],
                )
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        refused(format!("job id {} is taken here", j.job_id))
                    }
                    e => sql(e),
                })?;
            }
            for (label, name) in speaker_names {
                tx.execute(
                    "INSERT INTO speaker_names (meeting_id, label, name) VALUES (?1, ?2, ?3)",
                    params![meeting.meeting_id, label, name],
                )
                .map_err(sql)?;
            }
            tx.execute(
                "INSERT OR IGNORE INTO search_stale (meeting_id) VALUES (?1)",
                [&meeting.meeting_id],
            )
            .map_err(sql)?;
            Ok(true)
        })
    }
}

/// Insert a meeting row as given (its `created_at` included).
fn insert_meeting_row(tx: &rusqlite::Transaction<'_>, m: &MeetingRow) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO meetings (meeting_id, title, source_path, source_sha256, kind,
                               duration_s, info, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            m.meeting_id,
            m.title,
            m.source_path,
            m.source_sha256,
            m.kind,
            m.duration_s,
            m.info.to_string(),
            m.created_at
        ],
    )
    .map(|_| ())
}

/// A copied job's status: a lease held in another database means nothing here, so a job that
/// was PROCESSING there is PENDING here.
pub(crate) fn copied_status(j: &JobRow) -> &'static str {
    match j.status {
        nightshift_core::JobStatus::Processing => "PENDING",
        s => s.as_str(),
    }
}
