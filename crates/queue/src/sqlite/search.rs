//! The search index (schema v3): passages of stored results, FTS5 over them, cached sentence
//! embeddings, and meetings whose passages must be rebuilt. What a result's passages are is the
//! pipeline's business (it reads the typed results); this module stores and queries them.

use rusqlite::{OptionalExtension, Row, params};

use super::SqliteQueue;
use super::jobs::{JOB_COLUMNS, job_from_row};
use crate::backend::SearchIndex;
use crate::{FtsFilter, FtsMatch, JobRow, Passage, PassageRow, QueueError, StoredVector};

const PASSAGE_COLUMNS: &str = "p.passage_id, p.meeting_id, p.source, p.start_s, p.end_s, p.text";

fn passage_from_row(r: &Row<'_>) -> rusqlite::Result<PassageRow> {
    Ok(PassageRow {
        passage_id: r.get(0)?,
        meeting_id: r.get(1)?,
        source: r.get(2)?,
        start_s: r.get(3)?,
        end_s: r.get(4)?,
        text: r.get(5)?,
    })
}

pub(super) fn insert_passages(
    tx: &rusqlite::Transaction<'_>,
    meeting_id: &str,
    job_id: i64,
    passages: &[Passage],
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM search_passages WHERE job_id = ?1")?
        .execute([job_id])?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO search_passages (meeting_id, job_id, source, start_s, end_s, text)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for p in passages {
        stmt.execute(params![
            meeting_id, job_id, p.source, p.start_s, p.end_s, p.text
        ])?;
    }
    Ok(())
}

/// A JSON array of meeting ids for `json_each`, or NULL for "all".
fn meetings_param(meetings: Option<&[String]>) -> Option<String> {
    meetings.map(|m| serde_json::Value::from(m.to_vec()).to_string())
}

impl SearchIndex for SqliteQueue {
    /// Meetings whose passages must be rebuilt (stored before the index existed, or marked).
    fn search_stale_meetings(&self) -> Result<Vec<String>, QueueError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT meeting_id FROM search_stale ORDER BY meeting_id")
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// Mark one meeting (or every meeting) for a rebuild of its passages.
    fn mark_search_stale(&mut self, meeting_id: Option<&str>) -> Result<usize, QueueError> {
        self.write(|tx, p| {
            tx.execute(
                "INSERT OR IGNORE INTO search_stale (meeting_id)
                 SELECT meeting_id FROM meetings WHERE ?1 IS NULL OR meeting_id = ?1",
                [meeting_id],
            )
            .map_err(|e| QueueError::sql(p, e))
        })
    }

    /// Replace a stale meeting's passages with `by_job` (job id → passages of its result) and
    /// clear its mark, in one transaction. Jobs named here that no longer exist are skipped;
    /// a meeting removed meanwhile is left removed.
    fn reindex_meeting(
        &mut self,
        meeting_id: &str,
        by_job: &[(i64, Vec<Passage>)],
    ) -> Result<(), QueueError> {
        self.write(|tx, p| {
            let sql = |e| QueueError::sql(p, e);
            tx.execute(
                "DELETE FROM search_passages WHERE meeting_id = ?1",
                [meeting_id],
            )
            .map_err(sql)?;
            for (job_id, passages) in by_job {
                let exists: Option<i64> = tx
                    .query_row(
                        "SELECT 1 FROM jobs WHERE job_id = ?1 AND meeting_id = ?2",
                        params![job_id, meeting_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql)?;
                if exists.is_some() {
                    insert_passages(tx, meeting_id, *job_id, passages).map_err(sql)?;
                }
            }
            tx.execute(
                "DELETE FROM search_stale WHERE meeting_id = ?1",
                [meeting_id],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    /// Passages matching an FTS5 query expression, best BM25 first. `expr` must be built by the
    /// caller from quoted terms (it is bound as a parameter, never spliced into SQL).
    fn fts_search(&self, expr: &str, filter: &FtsFilter<'_>) -> Result<Vec<FtsMatch>, QueueError> {
        let sql = format!(
            "SELECT {PASSAGE_COLUMNS}, highlight(search_fts, 0, char(2), char(3)), bm25(search_fts)
             FROM search_fts JOIN search_passages p ON p.passage_id = search_fts.rowid
             WHERE search_fts MATCH ?1
               AND (?2 IS NULL OR p.meeting_id IN (SELECT value FROM json_each(?2)))
             ORDER BY bm25(search_fts) LIMIT ?3"
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map(
            params![expr, meetings_param(filter.meetings), filter.limit as i64],
            |r| {
                Ok(FtsMatch {
                    passage: passage_from_row(r)?,
                    marked: r.get(6)?,
                    bm25: r.get(7)?,
                })
            },
        )
        .and_then(|rows| rows.collect())
        .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// Stored passages by id (any order).
    fn passages_by_id(&self, ids: &[i64]) -> Result<Vec<PassageRow>, QueueError> {
        let sql = format!(
            "SELECT {PASSAGE_COLUMNS} FROM search_passages p
             WHERE p.passage_id IN (SELECT value FROM json_each(?1))"
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| QueueError::sql(&self.url, e))?;
        let ids = serde_json::Value::from(ids.to_vec()).to_string();
        stmt.query_map([ids], passage_from_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// Up to `limit` passages of the given sources with no embedding from `model` yet.
    fn passages_without_vectors(
        &self,
        model: &str,
        sources: &[&str],
        limit: usize,
    ) -> Result<Vec<PassageRow>, QueueError> {
        let sql = format!(
            "SELECT {PASSAGE_COLUMNS} FROM search_passages p
             WHERE p.source IN (SELECT value FROM json_each(?2))
               AND NOT EXISTS (SELECT 1 FROM search_vectors v
                               WHERE v.passage_id = p.passage_id AND v.model = ?1)
             ORDER BY p.passage_id LIMIT ?3"
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| QueueError::sql(&self.url, e))?;
        let sources = serde_json::Value::from(sources.to_vec()).to_string();
        stmt.query_map(params![model, sources, limit as i64], passage_from_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// How many passages of the given sources have no embedding from `model` yet.
    fn count_without_vectors(&self, model: &str, sources: &[&str]) -> Result<i64, QueueError> {
        let sources = serde_json::Value::from(sources.to_vec()).to_string();
        self.conn
            .query_row(
                "SELECT count(*) FROM search_passages p
                 WHERE p.source IN (SELECT value FROM json_each(?2))
                   AND NOT EXISTS (SELECT 1 FROM search_vectors v
                                   WHERE v.passage_id = p.passage_id AND v.model = ?1)",
                params![model, sources],
                |r| r.get(0),
            )
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// Store embeddings (passages deleted meanwhile are skipped).
    fn put_vectors(&mut self, model: &str, vectors: &[(i64, Vec<u8>)]) -> Result<(), QueueError> {
        self.write(|tx, p| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO search_vectors (passage_id, model, vector)
                     SELECT ?1, ?2, ?3 WHERE EXISTS
                         (SELECT 1 FROM search_passages WHERE passage_id = ?1)",
                )
                .map_err(|e| QueueError::sql(p, e))?;
            for (id, v) in vectors {
                stmt.execute(params![id, model, v])
                    .map_err(|e| QueueError::sql(p, e))?;
            }
            Ok(())
        })
    }

    /// Every stored embedding from `model`, with its meeting.
    fn vectors(&self, model: &str) -> Result<Vec<StoredVector>, QueueError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT v.passage_id, p.meeting_id, v.vector FROM search_vectors v
                 JOIN search_passages p ON p.passage_id = v.passage_id
                 WHERE v.model = ?1 ORDER BY v.passage_id",
            )
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map([model], |r| {
            Ok(StoredVector {
                passage_id: r.get(0)?,
                meeting_id: r.get(1)?,
                vector: r.get(2)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// (count, largest passage id) of `model`'s embeddings (a scan of the table: for reports;
    /// a reader that polls uses [`Queue::vectors_mark`]).
    fn vectors_stamp(&self, model: &str) -> Result<(i64, i64), QueueError> {
        self.conn
            .query_row(
                "SELECT count(*), coalesce(max(passage_id), 0) FROM search_vectors WHERE model = ?1",
                [model],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// The largest passage id with an embedding from `model` (0: none), read from the end of
    /// the primary key (no scan while one model fills the table).
    fn last_vector_id(&self, model: &str) -> Result<i64, QueueError> {
        self.conn
            .query_row(
                "SELECT coalesce((SELECT passage_id FROM search_vectors WHERE model = ?1
                                  ORDER BY passage_id DESC LIMIT 1), 0)",
                [model],
                |r| r.get(0),
            )
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// (largest passage id, largest embedded passage id of `model`): two reads at the ends of
    /// the primary keys. Passages and their embeddings are only ever added with larger ids
    /// (a stored result's passages are replaced, never edited) and embedded in id order, so
    /// this changes whenever something was added; what a removal leaves in a reader's cache
    /// belongs to a meeting or passage that is gone, which the reader filters out.
    fn vectors_mark(&self, model: &str) -> Result<(i64, i64), QueueError> {
        let last_passage: i64 = self
            .conn
            .query_row(
                "SELECT coalesce(max(passage_id), 0) FROM search_passages",
                [],
                |r| r.get(0),
            )
            .map_err(|e| QueueError::sql(&self.url, e))?;
        Ok((last_passage, self.last_vector_id(model)?))
    }

    /// Whether a passage of the given sources after the last embedded one (in id order) waits
    /// for an embedding from `model`: the cheap test for "anything to embed?" that holds
    /// because embedding goes in passage id order ([`Queue::passages_without_vectors`]).
    fn has_passages_after_vectors(
        &self,
        model: &str,
        sources: &[&str],
    ) -> Result<bool, QueueError> {
        let last = self.last_vector_id(model)?;
        let sources = serde_json::Value::from(sources.to_vec()).to_string();
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM search_passages
                                WHERE passage_id > ?1
                                  AND source IN (SELECT value FROM json_each(?2)))",
                params![last, sources],
                |r| r.get(0),
            )
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// Embeddings from `model` of passages with id above `after`, in id order (what a reader's
    /// cache lacks after new passages were embedded).
    fn vectors_after(&self, model: &str, after: i64) -> Result<Vec<StoredVector>, QueueError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT v.passage_id, p.meeting_id, v.vector FROM search_vectors v
                 JOIN search_passages p ON p.passage_id = v.passage_id
                 WHERE v.model = ?1 AND v.passage_id > ?2 ORDER BY v.passage_id",
            )
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map(params![model, after], |r| {
            Ok(StoredVector {
                passage_id: r.get(0)?,
                meeting_id: r.get(1)?,
                vector: r.get(2)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// A meeting's completed diarization job(s) (model key `diarize`): what a search needs to
    /// name speakers, without reading every chunk's result.
    fn diarize_jobs_of(&self, meeting_id: &str) -> Result<Vec<JobRow>, QueueError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE meeting_id = ?1 AND model_key = 'diarize' AND status = 'COMPLETED'"
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map([meeting_id], job_from_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    /// A meeting's passages of one source in time order.
    fn passages_of_meeting(
        &self,
        meeting_id: &str,
        source: &str,
    ) -> Result<Vec<PassageRow>, QueueError> {
        let sql = format!(
            "SELECT {PASSAGE_COLUMNS} FROM search_passages p
             WHERE p.meeting_id = ?1 AND p.source = ?2 ORDER BY p.start_s"
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map(params![meeting_id, source], passage_from_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| QueueError::sql(&self.url, e))
    }
}
