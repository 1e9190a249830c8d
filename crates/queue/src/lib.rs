//! The durable job queue: every unit of work is a row in SQLite (WAL).
//!
//! Invariants:
//! - A job is taken by one atomic `UPDATE … RETURNING` that sets a lease; nothing else moves a
//!   job to PROCESSING.
//! - A PROCESSING job always has a lease owner and expiry; an expired lease (or a dead owner
//!   process on this host) sends it back to PENDING with backoff, or to FAILED after
//!   `max_attempts`, keeping its last error.
//! - A job's result is written by the same statement that marks it COMPLETED, and only by the
//!   lease holder: a runner that lost its lease cannot overwrite anything.
//! - Every write transaction is `BEGIN IMMEDIATE` (a deferred one that upgrades gets SQLITE_BUSY
//!   without waiting for `busy_timeout`).

mod connection;
mod error;
mod gpu_leases;
mod jobs;
mod liveness;
mod meetings;
mod schema;
mod search;
mod speakers;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use error::QueueError;
pub use gpu_leases::{GpuLease, LeaseDenied, STALE_AFTER_S};
pub use jobs::{ClaimFilter, ClaimedJob, JobRow, NewJob, ReadyGroupRow, StatusCounts};
pub use liveness::{RunnerIdentity, process_alive};
pub use meetings::{Inserted, MeetingRow, NewMeeting};
pub use schema::SCHEMA_VERSION;
pub use search::{FtsFilter, FtsMatch, Passage, PassageRow, StoredVector};
pub use speakers::VoiceProfile;

/// A source of "now" in unix seconds. Real code uses the system clock; tests pass their own.
pub type Clock = Arc<dyn Fn() -> f64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    })
}

/// Tunables of the queue. The defaults suit a desktop runner.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// How long a claim is valid without a heartbeat.
    pub lease: Duration,
    /// How long a writer waits for another process's lock before giving up.
    pub busy_timeout: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            lease: Duration::from_secs(60),
            // NIGHTSHIFT_BUSY_TIMEOUT_MS lets scripts (and tests) fail fast on a locked database.
            busy_timeout: std::env::var("NIGHTSHIFT_BUSY_TIMEOUT_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Duration::from_millis)
                .unwrap_or(Duration::from_secs(30)),
        }
    }
}

/// One connection to the queue database. Cheap to open; open one per thread or process.
pub struct Queue {
    conn: rusqlite::Connection,
    path: PathBuf,
    opts: QueueOptions,
    clock: Clock,
}

impl Queue {
    /// Open (creating if needed) the queue database at `path` and bring its schema up to date.
    /// A database written by a newer nightshift is refused.
    pub fn open(path: &Path) -> Result<Queue, QueueError> {
        Queue::open_with(path, QueueOptions::default(), system_clock())
    }

    pub fn open_with(path: &Path, opts: QueueOptions, clock: Clock) -> Result<Queue, QueueError> {
        let mut conn = connection::open(path, &opts)?;
        schema::migrate(&mut conn, path)?;
        Ok(Queue {
            conn,
            path: path.to_path_buf(),
            opts,
            clock,
        })
    }

    /// Open an existing database without creating or migrating it (for read-only commands on a
    /// home that must already exist).
    pub fn open_existing(path: &Path) -> Result<Queue, QueueError> {
        if !path.is_file() {
            return Err(QueueError::Missing(path.to_path_buf()));
        }
        Queue::open(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn now(&self) -> f64 {
        (self.clock)()
    }

    pub fn lease_duration(&self) -> Duration {
        self.opts.lease
    }

    /// `PRAGMA integrity_check`: `Ok(())` when the database is sound.
    pub fn integrity_check(&self) -> Result<(), QueueError> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| QueueError::sql(&self.path, e))?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(QueueError::Corrupt {
                path: self.path.clone(),
                detail: verdict,
            })
        }
    }

    /// Run `f` inside `BEGIN IMMEDIATE … COMMIT`.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &Path) -> Result<T, QueueError>,
    ) -> Result<T, QueueError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| QueueError::sql(&path, e))?;
        let out = f(&tx, &path)?;
        tx.commit().map_err(|e| QueueError::sql(&path, e))?;
        Ok(out)
    }
}
