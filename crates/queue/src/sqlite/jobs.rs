//! Claiming, heartbeating, completing and failing jobs.

use std::str::FromStr;

use nightshift_core::{JobStatus, TaskType};
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteQueue;
use super::search::insert_passages;
use crate::backend::{Jobs, Meetings, Store};
use crate::types::BadJson;
use crate::{
    ClaimFilter, ClaimedJob, JobRow, NewJob, Passage, QueueError, ReadyGroupRow, StatusCounts,
};

const CLAIM_SQL: &str = include_str!("../../queries/sqlite/claim.sql");
const REQUEUE_SQL: &str = include_str!("../../queries/sqlite/requeue_expired.sql");
const READY_GROUPS_SQL: &str = include_str!("../../queries/sqlite/ready_groups.sql");

/// Parse a JSON text column; `what` names it in the error ("meeting m, job 5: payload").
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    idx: usize,
    text: &str,
    what: impl FnOnce() -> String,
) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            Box::new(BadJson {
                what: what(),
                why: e.to_string(),
            }),
        )
    })
}

/// A nullable JSON column of a job row.
fn json_col(
    row: &Row<'_>,
    idx: usize,
    column: &str,
) -> rusqlite::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(idx)?;
    let (job_id, meeting_id): (i64, String) = (row.get(0)?, row.get(1)?);
    text.map(|t| {
        parse_json(idx, &t, || {
            format!("meeting {meeting_id}, job {job_id}: {column}")
        })
    })
    .transpose()
}

fn parse_col<T: FromStr>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(idx)?;
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn claimed_from_row(row: &Row<'_>) -> rusqlite::Result<ClaimedJob> {
    Ok(ClaimedJob {
        job_id: row.get(0)?,
        meeting_id: row.get(1)?,
        task_type: parse_col(row, 2)?,
        chunk_path: row.get(4)?,
        seq: row.get(5)?,
        stage: row.get(6)?,
        priority: row.get(7)?,
        model_key: row.get(8)?,
        payload: json_col(row, 9, "payload")?.unwrap_or_default(),
        attempts: row.get(10)?,
        max_attempts: row.get(11)?,
        lease_expires_at: row.get(12)?,
    })
}

pub(crate) const JOB_COLUMNS: &str = "job_id, meeting_id, task_type, status, chunk_path, seq, model_key, \
     payload, result, attempts, max_attempts, last_error, lease_owner, not_before, created_at, \
     started_at, finished_at, metrics, stage, priority";

pub(crate) fn job_from_row(row: &Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        job_id: row.get(0)?,
        meeting_id: row.get(1)?,
        task_type: parse_col(row, 2)?,
        status: parse_col(row, 3)?,
        chunk_path: row.get(4)?,
        seq: row.get(5)?,
        model_key: row.get(6)?,
        payload: json_col(row, 7, "payload")?.unwrap_or_default(),
        result: json_col(row, 8, "result")?,
        attempts: row.get(9)?,
        max_attempts: row.get(10)?,
        last_error: row.get(11)?,
        lease_owner: row.get(12)?,
        not_before: row.get(13)?,
        created_at: row.get(14)?,
        started_at: row.get(15)?,
        finished_at: row.get(16)?,
        metrics: json_col(row, 17, "metrics")?,
        stage: row.get(18)?,
        priority: row.get(19)?,
    })
}

impl Jobs for SqliteQueue {
    /// Add one job to an existing meeting in its own transaction.
    fn enqueue(&mut self, meeting_id: &str, job: &NewJob) -> Result<i64, QueueError> {
        let now = self.now();
        self.write(|tx, p| insert_job(tx, meeting_id, job, now).map_err(|e| QueueError::sql(p, e)))
    }

    /// Atomically take the best ready job that matches `filter`, with a lease for `owner`.
    fn claim(
        &mut self,
        owner: &str,
        filter: &ClaimFilter,
    ) -> Result<Option<ClaimedJob>, QueueError> {
        let now = self.now();
        let expires = now + self.opts.lease.as_secs_f64();
        let task = filter.task_type.map(|t| t.as_str());
        self.write(|tx, p| {
            tx.prepare_cached(CLAIM_SQL)
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![owner, expires, now, task, filter.model_key],
                        claimed_from_row,
                    )
                    .optional()
                })
                .map_err(|e| QueueError::sql(p, e))
        })
    }

    /// Claim up to `max` jobs for one worker batch. Each claim is the same atomic statement as
    /// [`Queue::claim`]; they share one transaction so a batch is taken whole or not at all.
    fn claim_batch(
        &mut self,
        owner: &str,
        filter: &ClaimFilter,
        max: usize,
    ) -> Result<Vec<ClaimedJob>, QueueError> {
        let now = self.now();
        let expires = now + self.opts.lease.as_secs_f64();
        let task = filter.task_type.map(|t| t.as_str());
        self.write(|tx, p| {
            let mut out = Vec::new();
            let mut stmt = tx
                .prepare_cached(CLAIM_SQL)
                .map_err(|e| QueueError::sql(p, e))?;
            while out.len() < max {
                let job = stmt
                    .query_row(
                        params![owner, expires, now, task, filter.model_key],
                        claimed_from_row,
                    )
                    .optional()
                    .map_err(|e| QueueError::sql(p, e))?;
                match job {
                    Some(j) => out.push(j),
                    None => break,
                }
            }
            Ok(out)
        })
    }

    /// Extend the lease of every job `owner` holds, and its runner heartbeat. Returns how many
    /// jobs it still holds.
    fn heartbeat(&mut self, owner: &str) -> Result<usize, QueueError> {
        let now = self.now();
        let expires = now + self.opts.lease.as_secs_f64();
        self.write(|tx, p| {
            tx.execute(
                "UPDATE runners SET heartbeat_at = ?2 WHERE runner_id = ?1",
                params![owner, now],
            )
            .and_then(|_| {
                tx.prepare_cached(
                    "UPDATE jobs SET lease_expires_at = ?2
                     WHERE lease_owner = ?1 AND status = 'PROCESSING'",
                )?
                .execute(params![owner, expires])
            })
            .map_err(|e| QueueError::sql(p, e))
        })
    }

    /// Complete a held job, create its follow-up jobs and replace its search passages, all in
    /// one transaction: the index never lags the stored results and never holds a result that
    /// was not stored.
    fn complete_indexed(
        &mut self,
        job_id: i64,
        owner: &str,
        result: &serde_json::Value,
        metrics: &serde_json::Value,
        follow_ups: &[NewJob],
        passages: &[Passage],
    ) -> Result<(), QueueError> {
        let now = self.now();
        let done = self.write(|tx, p| {
            let sql = |e| QueueError::sql(p, e);
            let meeting: Option<String> = tx
                .query_row(
                    "UPDATE jobs SET status = 'COMPLETED', result = ?3, metrics = ?4, finished_at = ?5,
                            last_error = NULL, lease_owner = NULL, lease_expires_at = NULL
                     WHERE job_id = ?1 AND lease_owner = ?2 AND status = 'PROCESSING'
                     RETURNING meeting_id",
                    params![job_id, owner, result.to_string(), metrics.to_string(), now],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            let Some(meeting_id) = meeting else {
                return Ok(false);
            };
            for job in follow_ups {
                insert_job(tx, &meeting_id, job, now).map_err(sql)?;
            }
            insert_passages(tx, &meeting_id, job_id, passages).map_err(sql)?;
            Ok(true)
        })?;
        if done {
            Ok(())
        } else {
            Err(QueueError::LeaseLost { job_id })
        }
    }

    /// Record a failure of a held job. A retryable failure with attempts left goes back to
    /// PENDING after a backoff; otherwise the job is FAILED. The error text is kept either way.
    fn fail(
        &mut self,
        job_id: i64,
        owner: &str,
        error: &str,
        retryable: bool,
    ) -> Result<JobStatus, QueueError> {
        let now = self.now();
        let status: Option<String> = self.write(|tx, p| {
            tx.query_row(
                "UPDATE jobs
                 SET status = CASE WHEN ?4 AND attempts < max_attempts THEN 'PENDING' ELSE 'FAILED' END,
                     last_error = ?3,
                     not_before = ?5 + min(300, 1 << min(attempts, 9)),
                     finished_at = CASE WHEN ?4 AND attempts < max_attempts THEN NULL ELSE ?5 END,
                     lease_owner = NULL, lease_expires_at = NULL
                 WHERE job_id = ?1 AND lease_owner = ?2 AND status = 'PROCESSING'
                 RETURNING status",
                params![job_id, owner, error, retryable, now],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| QueueError::sql(p, e))
        })?;
        crate::types::failed_status(job_id, status)
    }

    /// Give a held job back untouched (e.g. Ctrl-C before it started): PENDING again, and the
    /// attempt is not counted.
    fn release(&mut self, job_id: i64, owner: &str) -> Result<(), QueueError> {
        self.write(|tx, p| {
            tx.execute(
                "UPDATE jobs SET status = 'PENDING', attempts = max(0, attempts - 1),
                        lease_owner = NULL, lease_expires_at = NULL, started_at = NULL
                 WHERE job_id = ?1 AND lease_owner = ?2 AND status = 'PROCESSING'",
                params![job_id, owner],
            )
            .map(|_| ())
            .map_err(|e| QueueError::sql(p, e))
        })
    }

    /// Requeue (with backoff) or fail every PROCESSING job whose lease has expired.
    fn requeue_expired(&mut self) -> Result<usize, QueueError> {
        let now = self.now();
        self.write(|tx, p| {
            tx.execute(REQUEUE_SQL, params![now, Option::<String>::None])
                .map_err(|e| QueueError::sql(p, e))
        })
    }

    /// How much work is left for a runner with this filter: (jobs PENDING or PROCESSING,
    /// earliest time a PENDING job becomes claimable).
    fn outstanding(&self, filter: &ClaimFilter) -> Result<(i64, Option<f64>), QueueError> {
        let task = filter.task_type.map(|t| t.as_str());
        self.conn
            .query_row(
                "SELECT count(*), min(CASE WHEN status = 'PENDING' THEN not_before END)
                 FROM jobs j
                 WHERE status IN ('PENDING', 'PROCESSING')
                   AND (?1 IS NULL OR task_type = ?1)
                   AND (?2 IS NULL OR coalesce(model_key, '') = ?2)
                   -- With a task filter, work that waits for another task's unstarted jobs
                   -- (a scene description before its audio, under --only visual) is not
                   -- this runner's to wait for.
                   AND NOT (?1 IS NOT NULL AND status = 'PENDING' AND EXISTS (
                       SELECT 1 FROM jobs d
                       WHERE d.meeting_id = j.meeting_id
                         AND d.stage < j.stage
                         AND d.task_type != ?1
                         AND d.status = 'PENDING'))",
                params![task, filter.model_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// Work that could be claimed right now, grouped by model and task type.
    fn ready_groups(&self, task_type: Option<TaskType>) -> Result<Vec<ReadyGroupRow>, QueueError> {
        let now = self.now();
        let mut stmt = self
            .conn
            .prepare_cached(READY_GROUPS_SQL)
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map(params![now, task_type.map(|t| t.as_str())], |r| {
            Ok(ReadyGroupRow {
                model_key: r.get(0)?,
                task_type: parse_col(r, 1)?,
                ready_jobs: r.get::<_, i64>(2)? as usize,
                max_priority: r.get(3)?,
                oldest_job_id: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// Counts per task type and status, for one meeting or all.
    fn status_counts(&self, meeting_id: Option<&str>) -> Result<StatusCounts, QueueError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT task_type, status, count(*) FROM jobs
                 WHERE ?1 IS NULL OR meeting_id = ?1 GROUP BY task_type, status",
            )
            .map_err(|e| QueueError::sql(&self.url, e))?;
        let rows = stmt
            .query_map([meeting_id], |r| {
                Ok((
                    parse_col::<TaskType>(r, 0)?,
                    parse_col::<JobStatus>(r, 1)?,
                    r.get(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| QueueError::sql(&self.url, e))?;
        let mut counts = StatusCounts::new();
        for (t, s, n) in rows {
            counts.entry(t).or_default().insert(s, n);
        }
        Ok(counts)
    }

    /// Every job of a meeting in order.
    fn jobs_of(&self, meeting_id: &str) -> Result<Vec<JobRow>, QueueError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE meeting_id = ?1 ORDER BY stage, task_type, seq, job_id"
        );
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map([meeting_id], job_from_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    fn job(&self, job_id: i64) -> Result<Option<JobRow>, QueueError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?1");
        self.conn
            .query_row(&sql, [job_id], job_from_row)
            .optional()
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// Cancel a meeting's unfinished jobs. A runner holding one of them loses its lease.
    fn cancel_meeting(&mut self, meeting_id: &str) -> Result<usize, QueueError> {
        self.require_meeting(meeting_id)?;
        let now = self.now();
        self.write(|tx, p| {
            tx.execute(
                "UPDATE jobs SET status = 'CANCELLED', finished_at = ?2, lease_owner = NULL,
                        lease_expires_at = NULL, last_error = 'cancelled by user'
                 WHERE meeting_id = ?1 AND status IN ('PENDING', 'PROCESSING')",
                params![meeting_id, now],
            )
            .map_err(|e| QueueError::sql(p, e))
        })
    }

    /// Make FAILED (and CANCELLED) jobs of a meeting PENDING again with fresh attempts.
    fn retry_meeting(&mut self, meeting_id: &str) -> Result<usize, QueueError> {
        self.require_meeting(meeting_id)?;
        self.write(|tx, p| {
            tx.execute(
                "UPDATE jobs SET status = 'PENDING', attempts = 0, not_before = 0,
                        finished_at = NULL, started_at = NULL
                 WHERE meeting_id = ?1 AND status IN ('FAILED', 'CANCELLED')",
                [meeting_id],
            )
            .map_err(|e| QueueError::sql(p, e))
        })
    }

    /// Make every FAILED job PENDING again with fresh attempts.
    fn retry_failed(&mut self) -> Result<usize, QueueError> {
        self.write(|tx, p| {
            tx.execute(
                "UPDATE jobs SET status = 'PENDING', attempts = 0, not_before = 0,
                        finished_at = NULL, started_at = NULL
                 WHERE status = 'FAILED'",
                [],
            )
            .map_err(|e| QueueError::sql(p, e))
        })
    }
}

impl SqliteQueue {
    /// Requeue at once every job held by `owner` (whose process is known to be dead).
    pub(crate) fn requeue_owner(&mut self, owner: &str) -> Result<usize, QueueError> {
        let now = self.now();
        self.write(|tx, p| {
            tx.execute(REQUEUE_SQL, params![now, owner])
                .map_err(|e| QueueError::sql(p, e))
        })
    }
}

pub(crate) fn insert_job(
    tx: &rusqlite::Transaction<'_>,
    meeting_id: &str,
    job: &NewJob,
    now: f64,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO jobs (meeting_id, task_type, chunk_path, seq, stage, priority, model_key,
                           payload, max_attempts, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        meeting_id,
        job.task_type.as_str(),
        job.chunk_path,
        job.seq,
        job.stage,
        job.priority,
        job.model_key,
        job.payload.to_string(),
        job.max_attempts,
        now
    ])?;
    Ok(tx.last_insert_rowid())
}
