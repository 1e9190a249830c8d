//! Meetings: one per input file, owning its jobs.

use rusqlite::{OptionalExtension, Row, params};

use super::SqliteQueue;
use super::jobs::insert_job;
use crate::backend::{Meetings, Store};
use crate::{Inserted, MeetingRow, NewJob, NewMeeting, QueueError};

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
            tx.execute(
                "INSERT INTO meetings (meeting_id, title, source_path, source_sha256, kind,
                                       duration_s, info, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    meeting.meeting_id,
                    meeting.title,
                    meeting.source_path,
                    meeting.source_sha256,
                    meeting.kind,
                    meeting.duration_s,
                    meeting.info.to_string(),
                    now
                ],
            )
            .map_err(|e| QueueError::sql(p, e))?;
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
