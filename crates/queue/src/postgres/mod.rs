//! The shared backend: one PostgreSQL database that every host's Foreman drains.
//!
//! Invariants (besides the crate's):
//! - A claim is one `UPDATE … WHERE job_id = (SELECT … FOR UPDATE SKIP LOCKED)`: concurrent
//!   claimers skip each other's rows instead of queueing on them.
//! - Leases, backoff and heartbeats use the server's clock (`now()` of the transaction), never
//!   a host's, so hosts with skewed clocks agree on when a lease expired. Every statement that
//!   needs the time takes it as `coalesce($1, server now)`; `$1` is NULL except under a test's
//!   hand-driven clock.
//! - A write that PostgreSQL aborts for a deadlock or a serialization conflict is retried whole.
//! - A lost connection is reopened once before an operation fails as unreachable.

mod gpu_leases;
mod jobs;
mod media;
mod meetings;
mod rows;
mod runners;
mod schema;
mod search;
mod speakers;

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Statement, Transaction};

use crate::backend::Store;
use crate::{Clock, DbUrl, QueueError, QueueOptions, system_clock};

pub use schema::PG_SCHEMA_VERSION;

/// The server's "now" in unix seconds unless `$1` (a test clock) is given.
pub(crate) const NOW: &str = "coalesce($1::float8, extract(epoch from now())::float8)";

/// How long connecting may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes retried this many times on deadlock or serialization failure.
const WRITE_ATTEMPTS: usize = 5;

/// One connection to a PostgreSQL queue.
pub struct PgQueue {
    client: RefCell<Client>,
    /// Hot statements prepared once per connection (a claim is then one round trip).
    statements: RefCell<HashMap<&'static str, Statement>>,
    config: postgres::Config,
    url: DbUrl,
    opts: QueueOptions,
    /// A test's clock; `None` in real use (the server's clock rules).
    clock: Option<Clock>,
    /// Server clock minus this host's, measured at connect: `now()` without a round trip.
    skew_s: f64,
    /// This host's name, for per-host GPU budgets and runner liveness.
    host: String,
}

impl PgQueue {
    /// Connect, bring the schema up to date (refusing a newer one) and LISTEN for new work.
    pub fn open(
        url: &str,
        opts: QueueOptions,
        clock: Option<Clock>,
    ) -> Result<PgQueue, QueueError> {
        let db = DbUrl::Postgres(url.to_string());
        let mut config: postgres::Config = url.parse().map_err(|e| QueueError::Unreachable {
            db: db.clone(),
            detail: format!("not a valid PostgreSQL URL: {e}"),
        })?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("nightshift");
        // "already exists, skipping" and the like are not for users' logs.
        config.options("-c client_min_messages=warning");
        let mut client = connect(&config, &db)?;
        schema::migrate(&mut client, &db)?;
        let server_now: f64 = client
            .query_one("SELECT extract(epoch from clock_timestamp())::float8", &[])
            .and_then(|r| r.try_get(0))
            .map_err(|e| QueueError::pg(&db, e))?;
        let skew_s = server_now - (system_clock())();
        Ok(PgQueue {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            config,
            url: db,
            opts,
            clock,
            skew_s,
            host: crate::liveness::hostname(),
        })
    }

    /// The value bound to `$1` in statements that read the time.
    pub(crate) fn clock_param(&self) -> Option<f64> {
        self.clock.as_ref().map(|c| c())
    }

    pub(crate) fn lease_s(&self) -> f64 {
        self.opts.lease.as_secs_f64()
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The client, reconnected first if the server closed the connection.
    pub(crate) fn client(&self) -> Result<std::cell::RefMut<'_, Client>, QueueError> {
        let mut client = self.client.borrow_mut();
        if client.is_closed() {
            *client = connect(&self.config, &self.url)?;
            self.statements.borrow_mut().clear();
        }
        Ok(client)
    }

    /// `sql` prepared on this connection, once.
    pub(crate) fn prepared(&self, sql: &'static str) -> Result<Statement, QueueError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.read(|c| c.prepare(sql))?;
        self.statements.borrow_mut().insert(sql, stmt.clone());
        Ok(stmt)
    }

    /// Run `f` in a transaction and commit; retried whole on deadlock or serialization failure.
    pub(crate) fn write<T>(
        &self,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, QueueError> {
        let mut client = self.client()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let out = client.transaction().and_then(|mut tx| {
                let out = f(&mut tx)?;
                tx.commit()?;
                Ok(out)
            });
            match out {
                Err(e) if attempt < WRITE_ATTEMPTS && is_retryable(&e) => {
                    std::thread::sleep(Duration::from_millis(5 << attempt));
                }
                other => return other.map_err(|e| QueueError::pg(&self.url, e)),
            }
        }
    }

    /// Run a read on the connection (one statement, or several that need no common snapshot).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, QueueError> {
        let mut client = self.client()?;
        f(&mut client).map_err(|e| QueueError::pg(&self.url, e))
    }

    /// Block until a job may have become claimable (a NOTIFY on `nightshift_jobs`) or
    /// `timeout` passes. Returns whether a notification came.
    pub fn wait_for_notification(&self, timeout: Duration) -> Result<bool, QueueError> {
        let mut client = self.client()?;
        let mut notes = client.notifications();
        let got = notes
            .timeout_iter(timeout)
            .next()
            .map_err(|e| QueueError::pg(&self.url, e))?
            .is_some();
        // Several notifications may be queued; one wake-up is enough.
        while notes
            .iter()
            .next()
            .map_err(|e| QueueError::pg(&self.url, e))?
            .is_some()
        {}
        Ok(got)
    }
}

fn connect(config: &postgres::Config, db: &DbUrl) -> Result<Client, QueueError> {
    let mut client = config.connect(NoTls).map_err(|e| QueueError::Unreachable {
        db: db.clone(),
        detail: crate::error::error_chain(&e),
    })?;
    client
        .batch_execute("LISTEN nightshift_jobs")
        .map_err(|e| QueueError::pg(db, e))?;
    Ok(client)
}

/// Deadlock detected (40P01) or serialization failure (40001).
fn is_retryable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

impl Store for PgQueue {
    fn url(&self) -> &DbUrl {
        &self.url
    }

    fn now(&self) -> f64 {
        match &self.clock {
            Some(c) => c(),
            None => (system_clock())() + self.skew_s,
        }
    }

    fn lease_duration(&self) -> Duration {
        self.opts.lease
    }

    /// What SQLite's integrity check guards is PostgreSQL's own business; this checks the
    /// queue's invariants over the rows: every PROCESSING job has a lease, no finished job keeps
    /// one.
    fn wait_for_jobs(&self, _poll: Duration) -> Result<(), QueueError> {
        self.wait_for_notification(crate::backend::IDLE_RECHECK)
            .map(|_| ())
    }

    fn integrity_check(&self) -> Result<(), QueueError> {
        let bad: i64 = self.read(|c| {
            c.query_one(
                "SELECT count(*) FROM jobs
                 WHERE (status = 'PROCESSING' AND (lease_owner IS NULL OR lease_expires_at IS NULL))
                    OR (status <> 'PROCESSING' AND lease_owner IS NOT NULL)",
                &[],
            )?
            .try_get(0)
        })?;
        if bad == 0 {
            Ok(())
        } else {
            Err(QueueError::Corrupt {
                db: self.url.clone(),
                detail: format!("{bad} jobs have a lease that does not match their status"),
            })
        }
    }
}
