//! The embedded backend: one SQLite file (WAL) in the home.
//!
//! Invariants:
//! - A job is taken by one atomic `UPDATE … RETURNING` that sets a lease; nothing else moves a
//!   job to PROCESSING.
//! - Every write transaction is `BEGIN IMMEDIATE` (a deferred one that upgrades gets
//!   SQLITE_BUSY without waiting for `busy_timeout`).
//! - Times are the local clock's unix seconds: every process sharing the file is on this host.

mod connection;
mod gpu_leases;
mod jobs;
mod media;
mod meetings;
mod runners;
mod schema;
mod search;
mod speakers;

use std::path::Path;
use std::time::Duration;

use crate::backend::Store;
use crate::{Clock, DbUrl, QueueError, QueueOptions};

pub(crate) use meetings::copied_status;
pub use schema::SCHEMA_VERSION;

/// One connection to a SQLite queue. Cheap to open; open one per thread or process.
pub struct SqliteQueue {
    conn: rusqlite::Connection,
    url: DbUrl,
    opts: QueueOptions,
    clock: Clock,
}

impl SqliteQueue {
    /// Open (creating if needed) the database at `path` and bring its schema up to date. A
    /// database written by a newer nightshift is refused.
    pub fn open(path: &Path, opts: QueueOptions, clock: Clock) -> Result<SqliteQueue, QueueError> {
        let url = DbUrl::Sqlite(path.to_path_buf());
        let mut conn = connection::open(path, &url, &opts)?;
        schema::migrate(&mut conn, &url)?;
        Ok(SqliteQueue {
            conn,
            url,
            opts,
            clock,
        })
    }

    /// Run `f` inside `BEGIN IMMEDIATE … COMMIT`.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &DbUrl) -> Result<T, QueueError>,
    ) -> Result<T, QueueError> {
        let url = self.url.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| QueueError::sql(&url, e))?;
        let out = f(&tx, &url)?;
        tx.commit().map_err(|e| QueueError::sql(&url, e))?;
        Ok(out)
    }
}

impl Store for SqliteQueue {
    fn url(&self) -> &DbUrl {
        &self.url
    }

    fn now(&self) -> f64 {
        (self.clock)()
    }

    fn lease_duration(&self) -> Duration {
        self.opts.lease
    }

    fn wait_for_jobs(&self, poll: Duration) -> Result<(), QueueError> {
        std::thread::sleep(poll);
        Ok(())
    }

    fn integrity_check(&self) -> Result<(), QueueError> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| QueueError::sql(&self.url, e))?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(QueueError::Corrupt {
                db: self.url.clone(),
                detail: verdict,
            })
        }
    }
}
