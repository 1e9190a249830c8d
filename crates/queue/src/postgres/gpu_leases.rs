//! GPU leases on PostgreSQL, per host: a lease names its host, and a taker sums only the live
//! leases of its own host. Takers on one host are serialised by a transaction-scoped advisory
//! lock keyed on the host name, so two cannot both squeeze in; hosts never wait on each other.

use postgres::Transaction;

use super::{NOW, PgQueue};
use crate::backend::GpuLeases;
use crate::{GpuLease, LeaseDenied, QueueError, STALE_AFTER_S, process_alive};

impl GpuLeases for PgQueue {
    fn gpu_leases_of_others(&mut self, holder: &str) -> Result<Vec<GpuLease>, QueueError> {
        let (now, host) = (self.clock_param(), self.host().to_string());
        let live = self.write(|tx| live_leases(tx, now, &host))?;
        Ok(live.into_iter().filter(|l| l.holder != holder).collect())
    }

    fn acquire_gpu(
        &mut self,
        holder: &str,
        model_key: &str,
        bytes: u64,
        budget_bytes: u64,
    ) -> Result<Result<(), LeaseDenied>, QueueError> {
        let (now, host) = (self.clock_param(), self.host().to_string());
        let pid = i64::from(std::process::id());
        self.write(|tx| {
            let others: Vec<GpuLease> = live_leases(tx, now, &host)?
                .into_iter()
                .filter(|l| l.holder != holder)
                .collect();
            if let Err(denied) = LeaseDenied::check(others, bytes, budget_bytes) {
                return Ok(Err(denied));
            }
            tx.execute(
                &format!(
                    "INSERT INTO gpu_leases (holder, host, model_key, bytes, pid, heartbeat_at)
                     VALUES ($2, $3, $4, $5, $6, {NOW})
                     ON CONFLICT (holder) DO UPDATE SET host = $3, model_key = $4, bytes = $5,
                         pid = $6, heartbeat_at = {NOW}"
                ),
                &[&now, &holder, &host, &model_key, &(bytes as i64), &pid],
            )?;
            Ok(Ok(()))
        })
    }

    fn heartbeat_gpu(&mut self, holder: &str) -> Result<(), QueueError> {
        let now = self.clock_param();
        self.write(|tx| {
            tx.execute(
                &format!("UPDATE gpu_leases SET heartbeat_at = {NOW} WHERE holder = $2"),
                &[&now, &holder],
            )
            .map(|_| ())
        })
    }

    fn release_gpu(&mut self, holder: &str) -> Result<(), QueueError> {
        self.write(|tx| {
            tx.execute("DELETE FROM gpu_leases WHERE holder = $1", &[&holder])
                .map(|_| ())
        })
    }
}

/// This host's leases still alive, after deleting its dead ones. Takes the host's
/// advisory lock for the rest of the transaction.
fn live_leases(
    tx: &mut Transaction<'_>,
    now: Option<f64>,
    host: &str,
) -> Result<Vec<GpuLease>, postgres::Error> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('nightshift-gpu:' || $1))",
        &[&host],
    )?;
    // Leases gone stale are dead wherever their holder runs.
    tx.execute(
        &format!("DELETE FROM gpu_leases WHERE heartbeat_at < {NOW} - $2::float8"),
        &[&now, &STALE_AFTER_S],
    )?;
    let rows = tx.query(
        "SELECT holder, model_key, bytes, pid, heartbeat_at FROM gpu_leases WHERE host = $1",
        &[&host],
    )?;
    let mut live = Vec::with_capacity(rows.len());
    for row in rows {
        let lease = GpuLease {
            holder: row.try_get(0)?,
            model_key: row.try_get(1)?,
            bytes: row.try_get::<_, i64>(2)?.max(0) as u64,
            pid: u32::try_from(row.try_get::<_, i64>(3)?).unwrap_or(0),
            heartbeat_at: row.try_get(4)?,
        };
        if process_alive(lease.pid, 0) {
            live.push(lease);
        } else {
            tx.execute("DELETE FROM gpu_leases WHERE holder = $1", &[&lease.holder])?;
        }
    }
    Ok(live)
}
