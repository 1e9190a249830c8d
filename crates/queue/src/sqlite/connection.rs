//! Opening a connection with the settings every connection must have.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::{DbUrl, QueueError, QueueOptions};

/// Open `path` with WAL, `busy_timeout`, foreign keys and `synchronous = NORMAL`.
///
/// Why NORMAL: in WAL mode it syncs the WAL at checkpoints, not at every commit. The database can
/// never be corrupted by a crash or power cut; a *power cut* (not a process crash) may roll back
/// the last transactions committed since the last WAL sync. For us that means a few jobs that had
/// just been marked COMPLETED may come back as PROCESSING and are requeued and redone; an `add`
/// whose meeting id was printed just before the power failed may be missing. A process crash
/// (kill -9, OOM, panic) loses nothing that was committed. FULL would cost an fsync per job, which
/// is most of the queue's time on a laptop SSD. A 16 MiB page cache and in-memory temp tables
/// took a claim from ~128 µs to ~102 µs with 20,000 jobs queued (`nightshift bench queue`).
pub(crate) fn open(path: &Path, db: &DbUrl, opts: &QueueOptions) -> Result<Connection, QueueError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| QueueError::sql(db, e))?;
    conn.busy_timeout(opts.busy_timeout)
        .map_err(|e| QueueError::sql(db, e))?;
    // journal_mode returns a row; a file that is not a database fails here first.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| QueueError::sql(db, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(QueueError::Corrupt {
            db: db.clone(),
            detail: format!("cannot switch to WAL journal (got {mode})"),
        });
    }
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;",
    )
    .map_err(|e| QueueError::sql(db, e))?;
    Ok(conn)
}
