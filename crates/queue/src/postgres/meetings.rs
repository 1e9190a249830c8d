//! Meetings on PostgreSQL.

use super::jobs::{INSERT_JOB_SQL, insert_job};
use super::rows::{self, MEETING_COLUMNS};
use super::{NOW, PgQueue};
use crate::backend::Meetings;
use crate::{Inserted, JobRow, MeetingRow, NewJob, NewMeeting, QueueError};

impl Meetings for PgQueue {
    fn insert_meeting(
        &mut self,
        meeting: &NewMeeting,
        jobs: &[NewJob],
    ) -> Result<Inserted, QueueError> {
        let now = self.clock_param();
        let info = meeting.info.to_string();
        let insert = self.prepared(INSERT_JOB_SQL)?;
        self.write(|tx| {
            // ON CONFLICT keeps two hosts adding the same bytes at once from both inserting.
            let created = tx.query_opt(
                &format!(
                    "INSERT INTO meetings (meeting_id, title, source_path, source_sha256, kind,
                                           duration_s, info, created_at)
                     VALUES ($2, $3, $4, $5, $6, $7, $8, {NOW})
                     ON CONFLICT (source_sha256) DO NOTHING
                     RETURNING meeting_id"
                ),
                &[
                    &now,
                    &meeting.meeting_id,
                    &meeting.title,
                    &meeting.source_path,
                    &meeting.source_sha256,
                    &meeting.kind,
                    &meeting.duration_s,
                    &info,
                ],
            )?;
            if created.is_none() {
                let existing: String = tx
                    .query_one(
                        "SELECT meeting_id FROM meetings WHERE source_sha256 = $1",
                        &[&meeting.source_sha256],
                    )?
                    .try_get(0)?;
                return Ok(Inserted::Existing(existing));
            }
            for job in jobs {
                insert_job(tx, &insert, now, &meeting.meeting_id, job)?;
            }
            Ok(Inserted::Created(meeting.meeting_id.clone()))
        })
    }

    fn add_jobs_and_update(
        &mut self,
        meeting_id: &str,
        jobs: &[NewJob],
        duration_s: f64,
        info: &serde_json::Value,
    ) -> Result<Vec<i64>, QueueError> {
        self.require_meeting(meeting_id)?;
        let now = self.clock_param();
        let info = info.to_string();
        let insert = self.prepared(INSERT_JOB_SQL)?;
        self.write(|tx| {
            let ids = jobs
                .iter()
                .map(|j| insert_job(tx, &insert, now, meeting_id, j))
                .collect::<Result<Vec<_>, _>>()?;
            tx.execute(
                "UPDATE meetings SET duration_s = $2, info = $3 WHERE meeting_id = $1",
                &[&meeting_id, &duration_s, &info],
            )?;
            Ok(ids)
        })
    }

    fn finish_recording(
        &mut self,
        meeting_id: &str,
        jobs: &[NewJob],
        duration_s: f64,
        info: &serde_json::Value,
    ) -> Result<bool, QueueError> {
        self.require_meeting(meeting_id)?;
        let now = self.clock_param();
        let info = info.to_string();
        let insert = self.prepared(INSERT_JOB_SQL)?;
        self.write(|tx| {
            // FOR UPDATE: a second runner recovering the same recording waits, then sees it
            // ended.
            let recording: bool = tx
                .query_one(
                    "SELECT coalesce((info::jsonb ->> 'recording') IN ('1', 'true'), false)
                     FROM meetings WHERE meeting_id = $1 FOR UPDATE",
                    &[&meeting_id],
                )?
                .try_get(0)?;
            if !recording {
                return Ok(false);
            }
            for j in jobs {
                insert_job(tx, &insert, now, meeting_id, j)?;
            }
            tx.execute(
                "UPDATE meetings SET duration_s = $2, info = $3 WHERE meeting_id = $1",
                &[&meeting_id, &duration_s, &info],
            )?;
            Ok(true)
        })
    }

    fn add_jobs(&mut self, meeting_id: &str, jobs: &[NewJob]) -> Result<Vec<i64>, QueueError> {
        self.require_meeting(meeting_id)?;
        let now = self.clock_param();
        let insert = self.prepared(INSERT_JOB_SQL)?;
        self.write(|tx| {
            jobs.iter()
                .map(|j| insert_job(tx, &insert, now, meeting_id, j))
                .collect()
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
        let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings WHERE meeting_id = $1");
        let found = self.read(|c| c.query_opt(&sql, &[&meeting_id]))?;
        found.map(|r| rows::meeting(&r, &self.url)).transpose()
    }

    fn meetings(&self) -> Result<Vec<MeetingRow>, QueueError> {
        let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings ORDER BY created_at, meeting_id");
        let found = self.read(|c| c.query(&sql, &[]))?;
        rows::all(&found, &self.url, rows::meeting)
    }

    fn remove_meeting(&mut self, meeting_id: &str) -> Result<Vec<String>, QueueError> {
        self.require_meeting(meeting_id)?;
        self.write(|tx| {
            let orphans = tx
                .query(
                    "SELECT DISTINCT chunk_path FROM jobs j
                     WHERE j.meeting_id = $1 AND j.chunk_path IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM jobs o
                                       WHERE o.chunk_path = j.chunk_path AND o.meeting_id <> $1)",
                    &[&meeting_id],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<Vec<String>, _>>()?;
            tx.execute("DELETE FROM meetings WHERE meeting_id = $1", &[&meeting_id])?;
            Ok(orphans)
        })
    }

    fn expired_chunk_paths(&self, cutoff: f64) -> Result<Vec<String>, QueueError> {
        self.read(|c| {
            c.query(
                "SELECT chunk_path FROM jobs WHERE chunk_path IS NOT NULL
                 GROUP BY chunk_path
                 HAVING count(*) FILTER (WHERE status IN ('PENDING', 'PROCESSING')) = 0
                    AND max(coalesce(finished_at, 0)) < $1",
                &[&cutoff],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
        })
    }
}

impl PgQueue {
    /// [`Meetings::copy_meeting`].
    fn copy_meeting_impl(
        &mut self,
        meeting: &MeetingRow,
        jobs: &[JobRow],
        speaker_names: &[(String, String)],
    ) -> Result<bool, QueueError> {
        use postgres::error::SqlState;
        let db = self.url.clone();
        let refused = |detail: String| QueueError::Refused {
            db: db.clone(),
            detail,
        };
        let here: Option<String> = self.read(|c| {
            c.query_opt(
                "SELECT source_sha256 FROM meetings WHERE meeting_id = $1",
                &[&meeting.meeting_id],
            )?
            .map(|r| r.try_get(0))
            .transpose()
        })?;
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
        let info = meeting.info.to_string();
        let out = self.write(|tx| {
            tx.execute(
                "INSERT INTO meetings (meeting_id, title, source_path, source_sha256, kind,
                                       duration_s, info, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &meeting.meeting_id,
                    &meeting.title,
                    &meeting.source_path,
                    &meeting.source_sha256,
                    &meeting.kind,
                    &meeting.duration_s,
                    &info,
                    &meeting.created_at,
                ],
            )?;
            let stmt = tx.prepare(
                "INSERT INTO jobs (job_id, meeting_id, task_type, status, chunk_path, seq, stage,
                                   priority, model_key, payload, result, attempts, max_attempts,
                                   last_error, lease_owner, not_before, created_at, started_at,
                                   finished_at, metrics)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, $15,
                         $16, $17, $18, $19)",
            )?;
            for j in jobs {
                let payload = j.payload.to_string();
                let result = j.result.as_ref().map(|v| v.to_string());
                let metrics = j.metrics.as_ref().map(|v| v.to_string());
                tx.execute(
                    &stmt,
                    &[
                        &j.job_id,
                        &meeting.meeting_id,
                        &j.task_type.as_str(),
                        &crate::sqlite::copied_status(j),
                        &j.chunk_path,
                        &j.seq,
                        &j.stage,
                        &j.priority,
                        &j.model_key,
                        &payload,
                        &result,
                        &j.attempts,
                        &j.max_attempts,
                        &j.last_error,
                        &j.not_before,
                        &j.created_at,
                        &j.started_at,
                        &j.finished_at,
                        &metrics,
                    ],
                )?;
            }
            // Ids were given explicitly: new jobs must be numbered after them.
            tx.execute(
                "SELECT setval(pg_get_serial_sequence('jobs', 'job_id'),
                               greatest((SELECT max(job_id) FROM jobs), 1))",
                &[],
            )?;
            for (label, name) in speaker_names {
                tx.execute(
                    "INSERT INTO speaker_names (meeting_id, label, name) VALUES ($1, $2, $3)",
                    &[&meeting.meeting_id, label, name],
                )?;
            }
            tx.execute(
                "INSERT INTO search_stale (meeting_id) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&meeting.meeting_id],
            )?;
            Ok(true)
        });
        match out {
            Err(QueueError::Postgres { detail, .. })
                if detail.contains(SqlState::UNIQUE_VIOLATION.code()) =>
            {
                Err(refused(format!(
                    "meeting {}: its content or one of its job ids is already here ({detail})",
                    meeting.meeting_id
                )))
            }
            other => other,
        }
    }
}
