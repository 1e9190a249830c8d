//! Versioned migrations keyed on `PRAGMA user_version`.

use rusqlite::Connection;

use crate::{DbUrl, QueueError};

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../queries/sqlite/schema_v1.sql"),
    include_str!("../../queries/sqlite/schema_v2.sql"),
    include_str!("../../queries/sqlite/schema_v3.sql"),
    include_str!("../../queries/sqlite/schema_v4.sql"),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn migrate(conn: &mut Connection, db: &DbUrl) -> Result<(), QueueError> {
    let sql_err = |e| QueueError::sql(db, e);
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql_err)?;
    if found > SCHEMA_VERSION {
        return Err(QueueError::TooNew {
            db: db.clone(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    // Several runners may start at once on a new home: the IMMEDIATE lock serialises them and the
    // version is re-read under it.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let current: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql_err)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        tx.execute_batch(sql).map_err(sql_err)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(sql_err)?;
    }
    tx.commit().map_err(sql_err)?;
    Ok(())
}
