//! Reading PostgreSQL rows into the queue's types. Rows are fetched inside the transaction and
//! read here after it, so an unreadable stored value is a [`QueueError`] naming the row, never a
//! panic.

use std::str::FromStr;

use postgres::Row;
use postgres::types::FromSql;

use crate::types::BadJson;
use crate::{
    ClaimedJob, DbUrl, JobRow, MeetingRow, PassageRow, QueueError, StoredVector, VoiceProfile,
};

/// Columns of a job row, in the order [`job`] reads them.
pub(crate) const JOB_COLUMNS: &str = "job_id, meeting_id, task_type, status, chunk_path, seq, \
     model_key, payload, result, attempts, max_attempts, last_error, lease_owner, not_before, \
     created_at, started_at, finished_at, metrics, stage, priority";

pub(crate) const MEETING_COLUMNS: &str =
    "meeting_id, title, source_path, source_sha256, kind, duration_s, info, created_at";

pub(crate) const PASSAGE_COLUMNS: &str =
    "p.passage_id, p.meeting_id, p.source, p.start_s, p.end_s, p.text";

/// Reads one row's columns with errors that name the database.
pub(crate) struct Reader<'a> {
    pub row: &'a Row,
    pub db: &'a DbUrl,
}

impl Reader<'_> {
    pub fn get<'b, T: FromSql<'b>>(&'b self, idx: usize) -> Result<T, QueueError> {
        self.row
            .try_get(idx)
            .map_err(|e| QueueError::pg(self.db, e))
    }

    pub fn parse<T: FromStr>(&self, idx: usize) -> Result<T, QueueError>
    where
        T::Err: std::fmt::Display,
    {
        let text: String = self.get(idx)?;
        text.parse().map_err(|e: T::Err| QueueError::Postgres {
            db: self.db.clone(),
            detail: format!("column {idx}: {e}"),
        })
    }

    pub fn json<T: serde::de::DeserializeOwned>(
        &self,
        idx: usize,
        what: impl FnOnce() -> String,
    ) -> Result<Option<T>, QueueError> {
        let text: Option<String> = self.get(idx)?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| QueueError::Postgres {
                db: self.db.clone(),
                detail: BadJson {
                    what: what(),
                    why: e.to_string(),
                }
                .to_string(),
            })
        })
        .transpose()
    }
}

pub(crate) fn job(row: &Row, db: &DbUrl) -> Result<JobRow, QueueError> {
    let r = Reader { row, db };
    let (job_id, meeting_id): (i64, String) = (r.get(0)?, r.get(1)?);
    let what = |c: &str| format!("meeting {meeting_id}, job {job_id}: {c}");
    Ok(JobRow {
        job_id,
        meeting_id: meeting_id.clone(),
        task_type: r.parse(2)?,
        status: r.parse(3)?,
        chunk_path: r.get(4)?,
        seq: r.get(5)?,
        model_key: r.get(6)?,
        payload: r.json(7, || what("payload"))?.unwrap_or_default(),
        result: r.json(8, || what("result"))?,
        attempts: r.get(9)?,
        max_attempts: r.get(10)?,
        last_error: r.get(11)?,
        lease_owner: r.get(12)?,
        not_before: r.get(13)?,
        created_at: r.get(14)?,
        started_at: r.get(15)?,
        finished_at: r.get(16)?,
        metrics: r.json(17, || what("metrics"))?,
        stage: r.get(18)?,
        priority: r.get(19)?,
    })
}

/// A row of `queries/postgres/claim.sql`'s RETURNING list.
pub(crate) fn claimed(row: &Row, db: &DbUrl) -> Result<ClaimedJob, QueueError> {
    let r = Reader { row, db };
    let (job_id, meeting_id): (i64, String) = (r.get(0)?, r.get(1)?);
    Ok(ClaimedJob {
        job_id,
        meeting_id: meeting_id.clone(),
        task_type: r.parse(2)?,
        chunk_path: r.get(3)?,
        seq: r.get(4)?,
        stage: r.get(5)?,
        priority: r.get(6)?,
        model_key: r.get(7)?,
        payload: r
            .json(8, || format!("meeting {meeting_id}, job {job_id}: payload"))?
            .unwrap_or_default(),
        attempts: r.get(9)?,
        max_attempts: r.get(10)?,
        lease_expires_at: r.get(11)?,
    })
}

pub(crate) fn meeting(row: &Row, db: &DbUrl) -> Result<MeetingRow, QueueError> {
    let r = Reader { row, db };
    let meeting_id: String = r.get(0)?;
    Ok(MeetingRow {
        info: r
            .json(6, || format!("meeting {meeting_id}: info"))?
            .unwrap_or_default(),
        meeting_id,
        title: r.get(1)?,
        source_path: r.get(2)?,
        source_sha256: r.get(3)?,
        kind: r.get(4)?,
        duration_s: r.get(5)?,
        created_at: r.get(7)?,
    })
}

pub(crate) fn passage(row: &Row, db: &DbUrl) -> Result<PassageRow, QueueError> {
    let r = Reader { row, db };
    Ok(PassageRow {
        passage_id: r.get(0)?,
        meeting_id: r.get(1)?,
        source: r.get(2)?,
        start_s: r.get(3)?,
        end_s: r.get(4)?,
        text: r.get(5)?,
    })
}

pub(crate) fn vector(row: &Row, db: &DbUrl) -> Result<StoredVector, QueueError> {
    let r = Reader { row, db };
    Ok(StoredVector {
        passage_id: r.get(0)?,
        meeting_id: r.get(1)?,
        vector: r.get(2)?,
    })
}

pub(crate) fn voice_profile(row: &Row, db: &DbUrl) -> Result<VoiceProfile, QueueError> {
    let r = Reader { row, db };
    let name: String = r.get(0)?;
    Ok(VoiceProfile {
        embedding: r
            .json(1, || format!("voice profile {name}: embedding"))?
            .unwrap_or_default(),
        name,
        source: r.get(2)?,
        speech_s: r.get(3)?,
        created_at: r.get(4)?,
    })
}

/// Map every row with `f`.
pub(crate) fn all<T>(
    rows: &[Row],
    db: &DbUrl,
    f: impl Fn(&Row, &DbUrl) -> Result<T, QueueError>,
) -> Result<Vec<T>, QueueError> {
    rows.iter().map(|r| f(r, db)).collect()
}
