//! GPU leases: who holds model memory right now, so that two processes sharing one home (the
//! Foreman, another runner, the session daemon) never load models that do not fit together.
//!
//! A lease is a row `(holder, model_key, bytes, pid, heartbeat_at)`. Taking one is a single
//! `BEGIN IMMEDIATE` transaction that sums the *live* leases of everyone else and inserts only
//! if the new model fits the budget next to them, so two takers cannot both squeeze in. A lease
//! whose process is gone on this host, or whose heartbeat is older than `STALE_AFTER_S`, is
//! dead and removed by the next taker.

use rusqlite::params;

use super::SqliteQueue;
use crate::backend::{GpuLeases, Store};
use crate::{GpuLease, LeaseDenied, QueueError, STALE_AFTER_S, process_alive};

impl GpuLeases for SqliteQueue {
    /// Live leases of holders other than `holder` (dead ones are dropped on the way).
    fn gpu_leases_of_others(&mut self, holder: &str) -> Result<Vec<GpuLease>, QueueError> {
        let now = self.now();
        self.write(|tx, p| {
            let live = live_leases(tx, now).map_err(|e| QueueError::sql(p, e))?;
            Ok(live.into_iter().filter(|l| l.holder != holder).collect())
        })
    }

    /// Take (or resize) `holder`'s lease for `bytes` if it fits `budget_bytes` next to every
    /// other live lease. `Ok(Err(..))` says who is in the way.
    fn acquire_gpu(
        &mut self,
        holder: &str,
        model_key: &str,
        bytes: u64,
        budget_bytes: u64,
    ) -> Result<Result<(), LeaseDenied>, QueueError> {
        let now = self.now();
        let pid = std::process::id();
        self.write(|tx, p| {
            let others: Vec<GpuLease> = live_leases(tx, now)
                .map_err(|e| QueueError::sql(p, e))?
                .into_iter()
                .filter(|l| l.holder != holder)
                .collect();
            if let Err(denied) = LeaseDenied::check(others, bytes, budget_bytes) {
                return Ok(Err(denied));
            }
            tx.execute(
                "INSERT INTO gpu_leases (holder, model_key, bytes, pid, heartbeat_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (holder) DO UPDATE SET model_key = ?2, bytes = ?3, pid = ?4, heartbeat_at = ?5",
                params![holder, model_key, bytes as i64, pid, now],
            )
            .map_err(|e| QueueError::sql(p, e))?;
            Ok(Ok(()))
        })
    }

    /// Keep `holder`'s lease alive (the runner's heartbeat thread calls this).
    fn heartbeat_gpu(&mut self, holder: &str) -> Result<(), QueueError> {
        let now = self.now();
        self.write(|tx, p| {
            tx.execute(
                "UPDATE gpu_leases SET heartbeat_at = ?2 WHERE holder = ?1",
                params![holder, now],
            )
            .map(|_| ())
            .map_err(|e| QueueError::sql(p, e))
        })
    }

    fn release_gpu(&mut self, holder: &str) -> Result<(), QueueError> {
        self.write(|tx, p| {
            tx.execute("DELETE FROM gpu_leases WHERE holder = ?1", params![holder])
                .map(|_| ())
                .map_err(|e| QueueError::sql(p, e))
        })
    }
}

/// Every lease still alive, after deleting the dead ones.
fn live_leases(tx: &rusqlite::Transaction<'_>, now: f64) -> rusqlite::Result<Vec<GpuLease>> {
    let all: Vec<GpuLease> = tx
        .prepare_cached("SELECT holder, model_key, bytes, pid, heartbeat_at FROM gpu_leases")?
        .query_map([], |r| {
            Ok(GpuLease {
                holder: r.get(0)?,
                model_key: r.get(1)?,
                bytes: r.get::<_, i64>(2)?.max(0) as u64,
                pid: r.get(3)?,
                heartbeat_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let (live, dead): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|l| now - l.heartbeat_at <= STALE_AFTER_S && process_alive(l.pid, 0));
    for d in dead {
        tx.execute(
            "DELETE FROM gpu_leases WHERE holder = ?1",
            params![d.holder],
        )?;
    }
    Ok(live)
}
