//! The search index on PostgreSQL: passages with an English-stemmed `tsvector`, ranked by
//! `ts_rank_cd` and highlighted by `ts_headline`.

use postgres::Transaction;

use super::PgQueue;
use super::rows::{self, JOB_COLUMNS, PASSAGE_COLUMNS};
use crate::backend::SearchIndex;
use crate::{FtsFilter, FtsMatch, JobRow, Passage, PassageRow, QueueError, StoredVector};

/// Replace a job's passages.
pub(crate) fn insert_passages(
    tx: &mut Transaction<'_>,
    meeting_id: &str,
    job_id: i64,
    passages: &[Passage],
) -> Result<(), postgres::Error> {
    tx.execute("DELETE FROM search_passages WHERE job_id = $1", &[&job_id])?;
    if passages.is_empty() {
        return Ok(());
    }
    let stmt = tx.prepare(
        "INSERT INTO search_passages (meeting_id, job_id, source, start_s, end_s, text)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )?;
    for p in passages {
        tx.execute(
            &stmt,
            &[
                &meeting_id,
                &job_id,
                &p.source,
                &p.start_s,
                &p.end_s,
                &p.text,
            ],
        )?;
    }
    Ok(())
}

/// Translate the FTS5 expression `pipeline::search::query` writes into `to_tsquery` syntax:
/// `"a b"` → `(a <-> b)`, `"w" *` → `w:*`, `OR` → `|`, `NOT` → `& !`, parentheses kept. Words
/// are letters and digits only (the query parser guarantees it; anything else is dropped here
/// too), so nothing the user typed is tsquery syntax. `None` when no word is left.
pub(crate) fn tsquery_from_fts5(expr: &str) -> Option<String> {
    let mut out = String::new();
    let mut words = 0;
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            continue;
                        }
                        break;
                    }
                    text.push(c);
                }
                let parts: Vec<String> = text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase)
                    .collect();
                if parts.is_empty() {
                    return None;
                }
                words += parts.len();
                // A trailing ` *` makes the piece a prefix.
                let rest: String = chars
                    .clone()
                    .take_while(|c| *c == ' ' || *c == '*')
                    .collect();
                let prefix = rest.contains('*');
                if prefix {
                    for _ in 0..rest.len() {
                        chars.next();
                    }
                }
                let joined = parts.join(" <-> ");
                if parts.len() > 1 {
                    out.push_str(&format!("({joined})"));
                } else if prefix {
                    out.push_str(&format!("{joined}:*"));
                } else {
                    out.push_str(&joined);
                }
            }
            '(' | ')' => out.push(c),
            c if c.is_ascii_uppercase() => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_uppercase() {
                        word.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                match word.as_str() {
                    "OR" => out.push_str(" | "),
                    "AND" => out.push_str(" & "),
                    "NOT" => out.push_str(" & !"),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    (words > 0).then_some(out)
}

impl SearchIndex for PgQueue {
    fn search_stale_meetings(&self) -> Result<Vec<String>, QueueError> {
        self.read(|c| {
            c.query(
                "SELECT meeting_id FROM search_stale ORDER BY meeting_id",
                &[],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
        })
    }

    fn mark_search_stale(&mut self, meeting_id: Option<&str>) -> Result<usize, QueueError> {
        let n = self.write(|tx| {
            tx.execute(
                "INSERT INTO search_stale (meeting_id)
                 SELECT meeting_id FROM meetings WHERE $1::text IS NULL OR meeting_id = $1::text
                 ON CONFLICT DO NOTHING",
                &[&meeting_id],
            )
        })?;
        Ok(n as usize)
    }

    fn reindex_meeting(
        &mut self,
        meeting_id: &str,
        by_job: &[(i64, Vec<Passage>)],
    ) -> Result<(), QueueError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM search_passages WHERE meeting_id = $1",
                &[&meeting_id],
            )?;
            for (job_id, passages) in by_job {
                let exists = tx
                    .query_opt(
                        "SELECT 1 FROM jobs WHERE job_id = $1 AND meeting_id = $2",
                        &[job_id, &meeting_id],
                    )?
                    .is_some();
                if exists {
                    insert_passages(tx, meeting_id, *job_id, passages)?;
                }
            }
            tx.execute(
                "DELETE FROM search_stale WHERE meeting_id = $1",
                &[&meeting_id],
            )?;
            Ok(())
        })
    }

    fn fts_search(&self, expr: &str, filter: &FtsFilter<'_>) -> Result<Vec<FtsMatch>, QueueError> {
        let Some(tsquery) = tsquery_from_fts5(expr) else {
            return Ok(Vec::new());
        };
        let meetings: Option<Vec<String>> = filter.meetings.map(|m| m.to_vec());
        let limit = filter.limit.min(i64::MAX as usize) as i64;
        // ts_rank_cd is "higher is better"; FtsMatch keeps FTS5's "lower is better".
        let sql = format!(
            "WITH q AS (SELECT to_tsquery('english', $1) AS q)
             SELECT {PASSAGE_COLUMNS},
                    ts_headline('english', p.text, q.q,
                                'StartSel=\"\u{2}\", StopSel=\"\u{3}\", HighlightAll=true'),
                    -ts_rank_cd(p.tsv, q.q)::float8
             FROM search_passages p, q
             WHERE p.tsv @@ q.q
               AND ($2::text[] IS NULL OR p.meeting_id = ANY($2::text[]))
             ORDER BY ts_rank_cd(p.tsv, q.q) DESC, p.passage_id
             LIMIT $3"
        );
        let found = self.read(|c| c.query(&sql, &[&tsquery, &meetings, &limit]))?;
        found
            .iter()
            .map(|row| {
                let r = rows::Reader { row, db: &self.url };
                Ok(FtsMatch {
                    passage: rows::passage(row, &self.url)?,
                    marked: r.get(6)?,
                    bm25: r.get(7)?,
                })
            })
            .collect()
    }

    fn passages_by_id(&self, ids: &[i64]) -> Result<Vec<PassageRow>, QueueError> {
        let sql =
            format!("SELECT {PASSAGE_COLUMNS} FROM search_passages p WHERE p.passage_id = ANY($1)");
        let found = self.read(|c| c.query(&sql, &[&ids]))?;
        rows::all(&found, &self.url, rows::passage)
    }

    fn passages_without_vectors(
        &self,
        model: &str,
        sources: &[&str],
        limit: usize,
    ) -> Result<Vec<PassageRow>, QueueError> {
        let sql = format!(
            "SELECT {PASSAGE_COLUMNS} FROM search_passages p
             WHERE p.source = ANY($2)
               AND NOT EXISTS (SELECT 1 FROM search_vectors v
                               WHERE v.passage_id = p.passage_id AND v.model = $1)
             ORDER BY p.passage_id LIMIT $3"
        );
        let limit = limit.min(i64::MAX as usize) as i64;
        let found = self.read(|c| c.query(&sql, &[&model, &sources, &limit]))?;
        rows::all(&found, &self.url, rows::passage)
    }

    fn count_without_vectors(&self, model: &str, sources: &[&str]) -> Result<i64, QueueError> {
        self.read(|c| {
            c.query_one(
                "SELECT count(*) FROM search_passages p
                 WHERE p.source = ANY($2)
                   AND NOT EXISTS (SELECT 1 FROM search_vectors v
                                   WHERE v.passage_id = p.passage_id AND v.model = $1)",
                &[&model, &sources],
            )?
            .try_get(0)
        })
    }

    fn put_vectors(&mut self, model: &str, vectors: &[(i64, Vec<u8>)]) -> Result<(), QueueError> {
        self.write(|tx| {
            let stmt = tx.prepare(
                "INSERT INTO search_vectors (passage_id, model, vector)
                 SELECT $1, $2, $3 WHERE EXISTS
                     (SELECT 1 FROM search_passages WHERE passage_id = $1)
                 ON CONFLICT (passage_id) DO UPDATE SET model = $2, vector = $3",
            )?;
            for (id, v) in vectors {
                tx.execute(&stmt, &[id, &model, v])?;
            }
            Ok(())
        })
    }

    fn vectors(&self, model: &str) -> Result<Vec<StoredVector>, QueueError> {
        self.vectors_after(model, 0)
    }

    fn vectors_stamp(&self, model: &str) -> Result<(i64, i64), QueueError> {
        self.read(|c| {
            let r = c.query_one(
                "SELECT count(*), coalesce(max(passage_id), 0) FROM search_vectors
                 WHERE model = $1",
                &[&model],
            )?;
            Ok((r.try_get(0)?, r.try_get(1)?))
        })
    }

    fn last_vector_id(&self, model: &str) -> Result<i64, QueueError> {
        self.read(|c| {
            c.query_one(
                "SELECT coalesce((SELECT passage_id FROM search_vectors WHERE model = $1
                                  ORDER BY passage_id DESC LIMIT 1), 0)",
                &[&model],
            )?
            .try_get(0)
        })
    }

    fn vectors_mark(&self, model: &str) -> Result<(i64, i64), QueueError> {
        let last_passage: i64 = self.read(|c| {
            c.query_one(
                "SELECT coalesce(max(passage_id), 0) FROM search_passages",
                &[],
            )?
            .try_get(0)
        })?;
        Ok((last_passage, self.last_vector_id(model)?))
    }

    fn has_passages_after_vectors(
        &self,
        model: &str,
        sources: &[&str],
    ) -> Result<bool, QueueError> {
        let last = self.last_vector_id(model)?;
        self.read(|c| {
            c.query_one(
                "SELECT EXISTS (SELECT 1 FROM search_passages
                                WHERE passage_id > $1 AND source = ANY($2))",
                &[&last, &sources],
            )?
            .try_get(0)
        })
    }

    fn vectors_after(&self, model: &str, after: i64) -> Result<Vec<StoredVector>, QueueError> {
        let found = self.read(|c| {
            c.query(
                "SELECT v.passage_id, p.meeting_id, v.vector FROM search_vectors v
                 JOIN search_passages p ON p.passage_id = v.passage_id
                 WHERE v.model = $1 AND v.passage_id > $2 ORDER BY v.passage_id",
                &[&model, &after],
            )
        })?;
        rows::all(&found, &self.url, rows::vector)
    }

    fn diarize_jobs_of(&self, meeting_id: &str) -> Result<Vec<JobRow>, QueueError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE meeting_id = $1 AND model_key = 'diarize' AND status = 'COMPLETED'"
        );
        let found = self.read(|c| c.query(&sql, &[&meeting_id]))?;
        rows::all(&found, &self.url, rows::job)
    }

    fn passages_of_meeting(
        &self,
        meeting_id: &str,
        source: &str,
    ) -> Result<Vec<PassageRow>, QueueError> {
        let sql = format!(
            "SELECT {PASSAGE_COLUMNS} FROM search_passages p
             WHERE p.meeting_id = $1 AND p.source = $2 ORDER BY p.start_s"
        );
        let found = self.read(|c| c.query(&sql, &[&meeting_id, &source]))?;
        rows::all(&found, &self.url, rows::passage)
    }
}

#[cfg(test)]
mod tests {
    use super::tsquery_from_fts5;

    #[test]
    fn fts5_expressions_become_tsqueries_and_nothing_else_gets_through() {
        assert_eq!(
            tsquery_from_fts5(r#"("launch date" OR "budget" OR "migr" *) NOT ("draft" OR "x")"#)
                .unwrap(),
            "((launch <-> date) | budget | migr:*) & !(draft | x)"
        );
        assert_eq!(tsquery_from_fts5(r#""a" OR "b""#).unwrap(), "a | b");
        assert_eq!(
            tsquery_from_fts5(r#""it's:*&!|""#).unwrap(),
            "(it <-> s)",
            "tsquery syntax inside a quoted piece is split away"
        );
        assert_eq!(tsquery_from_fts5(r#"("")"#), None);
    }
}
