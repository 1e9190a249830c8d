use crate::DbUrl;

/// Everything the queue can fail with. Messages name the database and the cause.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{0}: no queue database here (run `nightshift add` first)")]
    Missing(DbUrl),
    #[error("{db}: not a nightshift database or corrupt ({detail})")]
    Corrupt { db: DbUrl, detail: String },
    #[error(
        "{db}: written by a newer nightshift (schema v{found}, this binary knows up to v{known}); upgrade nightshift"
    )]
    TooNew { db: DbUrl, found: i64, known: i64 },
    #[error("{db}: database is locked by another process and stayed locked past the busy timeout")]
    Locked { db: DbUrl },
    #[error("{db}: {source}")]
    Sql { db: DbUrl, source: rusqlite::Error },
    #[error("{db}: cannot reach the database: {detail}")]
    Unreachable { db: DbUrl, detail: String },
    #[error("{db}: {detail}")]
    Postgres { db: DbUrl, detail: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("media {name}: {detail}")]
    BadMedia { name: String, detail: String },
    #[error("{db}: refused: {detail}")]
    Refused { db: DbUrl, detail: String },
    #[error("unknown meeting {0:?}")]
    UnknownMeeting(String),
    #[error("job {job_id}: lease lost (another runner took it over after the lease expired)")]
    LeaseLost { job_id: i64 },
    #[error("job {job_id}: stored value is invalid: {detail}")]
    BadRow { job_id: i64, detail: String },
}

impl QueueError {
    /// Classify a SQLite error into the variants users understand.
    pub(crate) fn sql(db: &DbUrl, e: rusqlite::Error) -> QueueError {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, ref msg) = e {
            match f.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    return QueueError::Locked { db: db.clone() };
                }
                ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                    return QueueError::Corrupt {
                        db: db.clone(),
                        detail: msg.clone().unwrap_or_else(|| f.to_string()),
                    };
                }
                _ => {}
            }
        }
        QueueError::Sql {
            db: db.clone(),
            source: e,
        }
    }

    /// Classify a PostgreSQL error: a connection that cannot be made or was lost is
    /// `Unreachable`; a server error keeps its message and SQLSTATE.
    pub(crate) fn pg(db: &DbUrl, e: postgres::Error) -> QueueError {
        if let Some(db_err) = e.as_db_error() {
            return QueueError::Postgres {
                db: db.clone(),
                detail: format!("{} (SQLSTATE {})", db_err.message(), db_err.code().code()),
            };
        }
        if e.is_closed() || e.to_string().contains("connect") {
            return QueueError::Unreachable {
                db: db.clone(),
                detail: error_chain(&e),
            };
        }
        QueueError::Postgres {
            db: db.clone(),
            detail: error_chain(&e),
        }
    }
}

/// An error and its causes on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}
