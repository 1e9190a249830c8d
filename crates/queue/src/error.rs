use std::path::{Path, PathBuf};

/// Everything the queue can fail with. Messages name the database file and the cause.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{}: no queue database here (run `nightshift add` first)", .0.display())]
    Missing(PathBuf),
    #[error("{}: not a nightshift database or corrupt ({detail})", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{}: written by a newer nightshift (schema v{found}, this binary knows up to v{known}); upgrade nightshift",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{}: database is locked by another process and stayed locked past the busy timeout", path.display())]
    Locked { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("unknown meeting {0:?}")]
    UnknownMeeting(String),
    #[error("job {job_id}: lease lost (another runner took it over after the lease expired)")]
    LeaseLost { job_id: i64 },
    #[error("job {job_id}: stored value is invalid: {detail}")]
    BadRow { job_id: i64, detail: String },
}

impl QueueError {
    /// Classify a SQLite error into the variants users understand.
    pub(crate) fn sql(path: &Path, e: rusqlite::Error) -> QueueError {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, ref msg) = e {
            match f.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    return QueueError::Locked {
                        path: path.to_path_buf(),
                    };
                }
                ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                    return QueueError::Corrupt {
                        path: path.to_path_buf(),
                        detail: msg.clone().unwrap_or_else(|| f.to_string()),
                    };
                }
                _ => {}
            }
        }
        QueueError::Sql {
            path: path.to_path_buf(),
            source: e,
        }
    }
}
