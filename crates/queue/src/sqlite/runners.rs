//! Runner registration and reclaiming the jobs of dead runners on this host.

use rusqlite::params;

use super::SqliteQueue;
use crate::backend::{Runners, Store};
use crate::liveness::dead_runners;
use crate::{QueueError, RunnerIdentity};

impl Runners for SqliteQueue {
    /// Record this runner so others can tell whether it is alive.
    fn register_runner(&mut self, me: &RunnerIdentity) -> Result<(), QueueError> {
        let now = self.now();
        self.write(|tx, p| {
            tx.execute(
                "INSERT OR REPLACE INTO runners
                 (runner_id, host, boot_id, pid, proc_start, started_at, heartbeat_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![
                    me.runner_id,
                    me.host,
                    me.boot_id,
                    me.pid,
                    me.proc_start as i64,
                    now
                ],
            )
            .map(|_| ())
            .map_err(|e| QueueError::sql(p, e))
        })
    }

    fn unregister_runner(&mut self, runner_id: &str) -> Result<(), QueueError> {
        self.write(|tx, p| {
            tx.execute("DELETE FROM runners WHERE runner_id = ?1", [runner_id])
                .map(|_| ())
                .map_err(|e| QueueError::sql(p, e))
        })
    }

    /// Requeue at once (no backoff, the attempt still counts) the jobs of runners on this host
    /// whose process is gone or that belong to an earlier boot. Returns how many jobs moved.
    fn reclaim_dead_runners(&mut self, me: &RunnerIdentity) -> Result<usize, QueueError> {
        let runners: Vec<(String, String, u32, u64)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT runner_id, boot_id, pid, proc_start FROM runners WHERE host = ?1")
                .map_err(|e| QueueError::sql(&self.url, e))?;
            stmt.query_map([&me.host], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| QueueError::sql(&self.url, e))?
        };
        let mut moved = 0;
        for runner in dead_runners(runners, me) {
            moved += self.requeue_owner(&runner)?;
            self.unregister_runner(&runner)?;
        }
        Ok(moved)
    }
}
