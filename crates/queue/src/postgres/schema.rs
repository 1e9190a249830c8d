//! Versioned migrations for PostgreSQL, recorded in `nightshift_schema`. Versions count on their
//! own (v1 is SQLite's v1–v3 at once).

use postgres::Client;

use crate::{DbUrl, QueueError};

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("../../queries/postgres/schema_v1.sql")];

/// The PostgreSQL schema version this binary writes.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Any constant: the advisory lock that serialises runners migrating one database at once.
const MIGRATION_LOCK: i64 = 0x6e69_6768_7473;

pub(crate) fn migrate(client: &mut Client, db: &DbUrl) -> Result<(), QueueError> {
    let pg = |e| QueueError::pg(db, e);
    let mut tx = client.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS nightshift_schema (version bigint NOT NULL)")
        .map_err(pg)?;
    let found: i64 = tx
        .query_opt("SELECT version FROM nightshift_schema", &[])
        .map_err(pg)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(pg)?
        .unwrap_or(0);
    if found > PG_SCHEMA_VERSION {
        return Err(QueueError::TooNew {
            db: db.clone(),
            found,
            known: PG_SCHEMA_VERSION,
        });
    }
    for sql in MIGRATIONS.iter().skip(found.max(0) as usize) {
        tx.batch_execute(sql).map_err(pg)?;
    }
    if found < PG_SCHEMA_VERSION {
        tx.execute("DELETE FROM nightshift_schema", &[])
            .map_err(pg)?;
        tx.execute(
            "INSERT INTO nightshift_schema (version) VALUES ($1)",
            &[&PG_SCHEMA_VERSION],
        )
        .map_err(pg)?;
    }
    tx.commit().map_err(pg)
}
