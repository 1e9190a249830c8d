//! Meetings on PostgreSQL.

use super::jobs::insert_job;
use super::rows::{self, MEETING_COLUMNS};
use super::{NOW, PgQueue};
use crate::backend::Meetings;
use crate::{Inserted, MeetingRow, NewJob, NewMeeting, QueueError};

impl Meetings for PgQueue {
    fn insert_meeting(
        &mut self,
        meeting: &NewMeeting,
        jobs: &[NewJob],
    ) -> Result<Inserted, QueueError> {
        let now = self.clock_param();
        let info = meeting.info.to_string();
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
                insert_job(tx, now, &meeting.meeting_id, job)?;
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
        self.write(|tx| {
            let ids = jobs
                .iter()
                .map(|j| insert_job(tx, now, meeting_id, j))
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
                insert_job(tx, now, meeting_id, j)?;
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
        self.write(|tx| {
            jobs.iter()
                .map(|j| insert_job(tx, now, meeting_id, j))
                .collect()
        })
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
