//! The durable job queue: every unit of work is a row in a database — an embedded SQLite file
//! (the default) or a PostgreSQL server many machines share.
//!
//! Invariants, whatever the backend:
//! - A job is taken by one atomic statement that sets a lease; nothing else moves a job to
//!   PROCESSING, and two runners never hold the same job.
//! - A PROCESSING job always has a lease owner and expiry; an expired lease (or a dead owner
//!   process on this host) sends it back to PENDING with backoff, or to FAILED after
//!   `max_attempts`, keeping its last error.
//! - A job's result is written by the same statement that marks it COMPLETED, and only by the
//!   lease holder: a runner that lost its lease cannot overwrite anything.
//! - A database written by a newer nightshift is refused, never downgraded.

mod backend;
mod error;
mod liveness;
mod media;
mod postgres;
mod sqlite;
mod types;
mod url;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use backend::{
    Backend, GpuLeases, IDLE_RECHECK, Jobs, MediaStore, Meetings, Runners, SearchIndex, Speakers,
    Store,
};
pub use error::QueueError;
pub use liveness::{RunnerIdentity, process_alive};
pub use media::{MediaRef, PART_BYTES};
pub use postgres::{PG_SCHEMA_VERSION, PgQueue};
pub use sqlite::{SCHEMA_VERSION, SqliteQueue};
pub use types::{
    ClaimFilter, ClaimedJob, FtsFilter, FtsMatch, GpuLease, Inserted, JobRow, LeaseDenied,
    MeetingRow, NewJob, NewMeeting, Passage, PassageRow, ReadyGroupRow, STALE_AFTER_S,
    StatusCounts, StoredVector, VoiceProfile,
};
pub use url::DbUrl;

/// A source of "now" in unix seconds. Real code uses the system clock (SQLite) or the server's
/// (PostgreSQL); tests pass their own.
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
        let env_secs = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
        };
        QueueOptions {
            // NIGHTSHIFT_LEASE_S shortens leases where a dead host must be noticed fast
            // (tests, a cluster of spot machines); heartbeats follow at a quarter of it.
            lease: Duration::from_secs_f64(env_secs("NIGHTSHIFT_LEASE_S").unwrap_or(60.0).max(1.0)),
            // NIGHTSHIFT_BUSY_TIMEOUT_MS lets scripts (and tests) fail fast on a locked database.
            busy_timeout: std::env::var("NIGHTSHIFT_BUSY_TIMEOUT_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Duration::from_millis)
                .unwrap_or(Duration::from_secs(30)),
        }
    }
}

/// One connection to the queue, whichever backend holds it. Cheap to open; open one per thread
/// or process. Every operation is a method of [`Backend`] (reached through `Deref`), so callers
/// never name the backend.
pub struct Queue {
    inner: Box<dyn Backend>,
}

impl Queue {
    /// Open (creating if needed) the queue at `db` and bring its schema up to date. A database
    /// written by a newer nightshift is refused.
    pub fn open(db: impl Into<DbUrl>) -> Result<Queue, QueueError> {
        Queue::open_inner(db.into(), QueueOptions::default(), None)
    }

    /// Open with explicit options and clock (tests drive time by hand). With PostgreSQL, a
    /// given clock replaces the server's.
    pub fn open_with(
        db: impl Into<DbUrl>,
        opts: QueueOptions,
        clock: Clock,
    ) -> Result<Queue, QueueError> {
        Queue::open_inner(db.into(), opts, Some(clock))
    }

    /// Open an existing queue without creating a SQLite file (for read-only commands on a home
    /// that must already exist).
    pub fn open_existing(db: impl Into<DbUrl>) -> Result<Queue, QueueError> {
        let db = db.into();
        if let DbUrl::Sqlite(path) = &db
            && !path.is_file()
        {
            return Err(QueueError::Missing(db));
        }
        Queue::open(db)
    }

    fn open_inner(
        db: DbUrl,
        opts: QueueOptions,
        clock: Option<Clock>,
    ) -> Result<Queue, QueueError> {
        let inner: Box<dyn Backend> = match db {
            DbUrl::Sqlite(path) => Box::new(SqliteQueue::open(
                &path,
                opts,
                clock.unwrap_or_else(system_clock),
            )?),
            DbUrl::Postgres(url) => Box::new(PgQueue::open(&url, opts, clock)?),
        };
        Ok(Queue { inner })
    }

    /// The SQLite file behind this queue (`None` on PostgreSQL).
    pub fn path(&self) -> Option<&Path> {
        self.inner.url().sqlite_path()
    }
}

impl Deref for Queue {
    type Target = dyn Backend;

    fn deref(&self) -> &(dyn Backend + 'static) {
        &*self.inner
    }
}

impl DerefMut for Queue {
    fn deref_mut(&mut self) -> &mut (dyn Backend + 'static) {
        &mut *self.inner
    }
}
