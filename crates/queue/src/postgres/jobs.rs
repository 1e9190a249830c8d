//! Claiming, heartbeating, completing and failing jobs on PostgreSQL.

use nightshift_core::{JobStatus, TaskType};
use postgres::Transaction;
use postgres::types::ToSql;

use super::rows::{self, JOB_COLUMNS};
use super::{NOW, PgQueue};
use crate::backend::{Jobs, Meetings};
use crate::{
    ClaimFilter, ClaimedJob, JobRow, NewJob, Passage, QueueError, ReadyGroupRow, StatusCounts,
};

const CLAIM_SQL: &str = include_str!("../../queries/postgres/claim.sql");
const REQUEUE_SQL: &str = include_str!("../../queries/postgres/requeue_expired.sql");
const READY_GROUPS_SQL: &str = include_str!("../../queries/postgres/ready_groups.sql");

/// The runner's heartbeat and its jobs' leases in one statement. $1 test clock, $2 owner,
/// $3 lease seconds.
const HEARTBEAT_SQL: &str =
    "WITH t AS (SELECT coalesce($1::float8, extract(epoch from now())::float8) AS now),
     r AS (UPDATE runners SET heartbeat_at = (SELECT now FROM t) WHERE runner_id = $2)
UPDATE jobs SET lease_expires_at = (SELECT now FROM t) + $3::float8
WHERE lease_owner = $2 AND status = 'PROCESSING'";

/// Mark a held job COMPLETED with its result. $1 test clock, $2 job, $3 owner, $4 result,
/// $5 metrics.
const COMPLETE_SQL: &str = "UPDATE jobs SET status = 'COMPLETED', result = $4, metrics = $5,
        finished_at = coalesce($1::float8, extract(epoch from now())::float8),
        last_error = NULL, lease_owner = NULL, lease_expires_at = NULL
 WHERE job_id = $2 AND lease_owner = $3 AND status = 'PROCESSING'
 RETURNING meeting_id";

impl Jobs for PgQueue {
    fn enqueue(&mut self, meeting_id: &str, job: &NewJob) -> Result<i64, QueueError> {
        let now = self.clock_param();
        let insert = self.prepared(INSERT_JOB_SQL)?;
        self.write(|tx| insert_job(tx, &insert, now, meeting_id, job))
    }

    fn claim(
        &mut self,
        owner: &str,
        filter: &ClaimFilter,
    ) -> Result<Option<ClaimedJob>, QueueError> {
        // One statement is atomic on its own: no transaction, one round trip.
        let stmt = self.prepared(CLAIM_SQL)?;
        let (now, lease) = (self.clock_param(), self.lease_s());
        let task = filter.task_type.map(|t| t.as_str());
        let row =
            self.read(|c| c.query_opt(&stmt, &[&now, &owner, &lease, &task, &filter.model_key]))?;
        row.map(|r| rows::claimed(&r, &self.url)).transpose()
    }

    fn claim_batch(
        &mut self,
        owner: &str,
        filter: &ClaimFilter,
        max: usize,
    ) -> Result<Vec<ClaimedJob>, QueueError> {
        let now = self.clock_param();
        let lease = self.lease_s();
        let task = filter.task_type.map(|t| t.as_str());
        let stmt = self.prepared(CLAIM_SQL)?;
        let rows = self.write(|tx| {
            let mut out = Vec::new();
            while out.len() < max {
                match tx.query_opt(&stmt, &[&now, &owner, &lease, &task, &filter.model_key])? {
                    Some(row) => out.push(row),
                    None => break,
                }
            }
            Ok(out)
        })?;
        rows::all(&rows, &self.url, rows::claimed)
    }

    fn heartbeat(&mut self, owner: &str) -> Result<usize, QueueError> {
        let stmt = self.prepared(HEARTBEAT_SQL)?;
        let (now, lease) = (self.clock_param(), self.lease_s());
        let held = self.read(|c| c.execute(&stmt, &[&now, &owner, &lease]))?;
        Ok(held as usize)
    }

    fn complete_indexed(
        &mut self,
        job_id: i64,
        owner: &str,
        result: &serde_json::Value,
        metrics: &serde_json::Value,
        follow_ups: &[NewJob],
        passages: &[Passage],
    ) -> Result<(), QueueError> {
        let now = self.clock_param();
        let (result, metrics) = (result.to_string(), metrics.to_string());
        let stmt = self.prepared(COMPLETE_SQL)?;
        let insert = self.prepared(INSERT_JOB_SQL)?;
        let done = self.write(|tx| {
            let meeting = tx.query_opt(&stmt, &[&now, &job_id, &owner, &result, &metrics])?;
            let Some(meeting) = meeting else {
                return Ok(false);
            };
            let meeting_id: String = meeting.try_get(0)?;
            for job in follow_ups {
                insert_job(tx, &insert, now, &meeting_id, job)?;
            }
            // A job completes once, so a job with nothing to index has nothing to replace.
            if !passages.is_empty() {
                super::search::insert_passages(tx, &meeting_id, job_id, passages)?;
            }
            Ok(true)
        })?;
        if done {
            Ok(())
        } else {
            Err(QueueError::LeaseLost { job_id })
        }
    }

    fn fail(
        &mut self,
        job_id: i64,
        owner: &str,
        error: &str,
        retryable: bool,
    ) -> Result<JobStatus, QueueError> {
        let now = self.clock_param();
        let status: Option<String> = self.write(|tx| {
            tx.query_opt(
                &format!(
                    "UPDATE jobs
                     SET status = CASE WHEN $5 AND attempts < max_attempts
                                       THEN 'PENDING' ELSE 'FAILED' END,
                         last_error = $4,
                         not_before = {NOW} + least(300, 1 << least(attempts, 9)::int),
                         finished_at = CASE WHEN $5 AND attempts < max_attempts
                                            THEN NULL ELSE {NOW} END,
                         lease_owner = NULL, lease_expires_at = NULL
                     WHERE job_id = $2 AND lease_owner = $3 AND status = 'PROCESSING'
                     RETURNING status"
                ),
                &[&now, &job_id, &owner, &error, &retryable],
            )?
            .map(|r| r.try_get(0))
            .transpose()
        })?;
        crate::types::failed_status(job_id, status)
    }

    fn release(&mut self, job_id: i64, owner: &str) -> Result<(), QueueError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE jobs SET status = 'PENDING', attempts = greatest(0, attempts - 1),
                        lease_owner = NULL, lease_expires_at = NULL, started_at = NULL
                 WHERE job_id = $1 AND lease_owner = $2 AND status = 'PROCESSING'",
                &[&job_id, &owner],
            )
            .map(|_| ())
        })
    }

    fn requeue_expired(&mut self) -> Result<usize, QueueError> {
        let now = self.clock_param();
        let moved = self.write(|tx| tx.execute(REQUEUE_SQL, &[&now, &None::<String>]))?;
        Ok(moved as usize)
    }

    fn outstanding(&self, filter: &ClaimFilter) -> Result<(i64, Option<f64>), QueueError> {
        let task = filter.task_type.map(|t| t.as_str());
        let row = self.read(|c| {
            c.query_one(
                "SELECT count(*), min(CASE WHEN status = 'PENDING' THEN not_before END)
                 FROM jobs j
                 WHERE status IN ('PENDING', 'PROCESSING')
                   AND ($1::text IS NULL OR task_type = $1::text)
                   AND ($2::text IS NULL OR coalesce(model_key, '') = $2::text)
                   -- With a task filter, work that waits for another task's unstarted jobs is
                   -- not this runner's to wait for.
                   AND NOT ($1::text IS NOT NULL AND status = 'PENDING' AND EXISTS (
                       SELECT 1 FROM jobs d
                       WHERE d.meeting_id = j.meeting_id
                         AND d.stage < j.stage
                         AND d.task_type <> $1::text
                         AND d.status = 'PENDING'))",
                &[&task, &filter.model_key],
            )
        })?;
        let r = rows::Reader {
            row: &row,
            db: &self.url,
        };
        Ok((r.get(0)?, r.get(1)?))
    }

    fn ready_groups(&self, task_type: Option<TaskType>) -> Result<Vec<ReadyGroupRow>, QueueError> {
        let now = self.clock_param();
        let task = task_type.map(|t| t.as_str());
        let found = self.read(|c| c.query(READY_GROUPS_SQL, &[&now, &task]))?;
        found
            .iter()
            .map(|row| {
                let r = rows::Reader { row, db: &self.url };
                Ok(ReadyGroupRow {
                    model_key: r.get(0)?,
                    task_type: r.parse(1)?,
                    ready_jobs: r.get::<i64>(2)? as usize,
                    max_priority: r.get(3)?,
                    oldest_job_id: r.get(4)?,
                })
            })
            .collect()
    }

    fn status_counts(&self, meeting_id: Option<&str>) -> Result<StatusCounts, QueueError> {
        let found = self.read(|c| {
            c.query(
                "SELECT task_type, status, count(*) FROM jobs
                 WHERE $1::text IS NULL OR meeting_id = $1::text GROUP BY task_type, status",
                &[&meeting_id],
            )
        })?;
        let mut counts = StatusCounts::new();
        for row in &found {
            let r = rows::Reader { row, db: &self.url };
            counts
                .entry(r.parse::<TaskType>(0)?)
                .or_default()
                .insert(r.parse::<JobStatus>(1)?, r.get(2)?);
        }
        Ok(counts)
    }

    fn jobs_of(&self, meeting_id: &str) -> Result<Vec<JobRow>, QueueError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE meeting_id = $1
             ORDER BY stage, task_type, seq, job_id"
        );
        let found = self.read(|c| c.query(&sql, &[&meeting_id]))?;
        rows::all(&found, &self.url, rows::job)
    }

    fn job(&self, job_id: i64) -> Result<Option<JobRow>, QueueError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1");
        let found = self.read(|c| c.query_opt(&sql, &[&job_id]))?;
        found.map(|r| rows::job(&r, &self.url)).transpose()
    }

    fn cancel_meeting(&mut self, meeting_id: &str) -> Result<usize, QueueError> {
        self.require_meeting(meeting_id)?;
        let now = self.clock_param();
        let n = self.write(|tx| {
            tx.execute(
                &format!(
                    "UPDATE jobs SET status = 'CANCELLED', finished_at = {NOW}, lease_owner = NULL,
                            lease_expires_at = NULL, last_error = 'cancelled by user'
                     WHERE meeting_id = $2 AND status IN ('PENDING', 'PROCESSING')"
                ),
                &[&now, &meeting_id],
            )
        })?;
        Ok(n as usize)
    }

    fn retry_meeting(&mut self, meeting_id: &str) -> Result<usize, QueueError> {
        self.require_meeting(meeting_id)?;
        let n = self.write(|tx| {
            tx.execute(
                "UPDATE jobs SET status = 'PENDING', attempts = 0, not_before = 0,
                        finished_at = NULL, started_at = NULL
                 WHERE meeting_id = $1 AND status IN ('FAILED', 'CANCELLED')",
                &[&meeting_id],
            )
        })?;
        Ok(n as usize)
    }

    fn retry_failed(&mut self) -> Result<usize, QueueError> {
        let n = self.write(|tx| {
            tx.execute(
                "UPDATE jobs SET status = 'PENDING', attempts = 0, not_before = 0,
                        finished_at = NULL, started_at = NULL
                 WHERE status = 'FAILED'",
                &[],
            )
        })?;
        Ok(n as usize)
    }
}

impl PgQueue {
    /// Requeue at once every job held by `owner` (whose process is known to be dead).
    pub(crate) fn requeue_owner(&mut self, owner: &str) -> Result<usize, QueueError> {
        let now = self.clock_param();
        let moved = self.write(|tx| tx.execute(REQUEUE_SQL, &[&now, &owner]))?;
        Ok(moved as usize)
    }
}

pub(crate) const INSERT_JOB_SQL: &str = "INSERT INTO jobs (meeting_id, task_type, chunk_path, seq, stage,
        priority, model_key, payload, max_attempts, created_at)
 VALUES ($2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($1::float8, extract(epoch from now())::float8))
 RETURNING job_id";

/// Insert one job with [`INSERT_JOB_SQL`] prepared on this connection; `now` is the test clock
/// or `None` for the server's.
pub(crate) fn insert_job(
    tx: &mut Transaction<'_>,
    stmt: &postgres::Statement,
    now: Option<f64>,
    meeting_id: &str,
    job: &NewJob,
) -> Result<i64, postgres::Error> {
    let payload = job.payload.to_string();
    let params: [&(dyn ToSql + Sync); 10] = [
        &now,
        &meeting_id,
        &job.task_type.as_str(),
        &job.chunk_path,
        &job.seq,
        &job.stage,
        &job.priority,
        &job.model_key,
        &payload,
        &job.max_attempts,
    ];
    tx.query_one(stmt, &params)?.try_get(0)
}
