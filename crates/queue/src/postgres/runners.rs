//! Runner registration on PostgreSQL. Only runners on this host can be checked by process; a
//! runner on another host that died is found by its leases expiring (`requeue_expired`).

use super::{NOW, PgQueue};
use crate::backend::Runners;
use crate::liveness::dead_runners;
use crate::{QueueError, RunnerIdentity};

impl Runners for PgQueue {
    fn register_runner(&mut self, me: &RunnerIdentity) -> Result<(), QueueError> {
        let now = self.clock_param();
        self.write(|tx| {
            tx.execute(
                &format!(
                    "INSERT INTO runners
                     (runner_id, host, boot_id, pid, proc_start, started_at, heartbeat_at)
                     VALUES ($2, $3, $4, $5, $6, {NOW}, {NOW})
                     ON CONFLICT (runner_id) DO UPDATE SET host = $3, boot_id = $4, pid = $5,
                         proc_start = $6, started_at = {NOW}, heartbeat_at = {NOW}"
                ),
                &[
                    &now,
                    &me.runner_id,
                    &me.host,
                    &me.boot_id,
                    &i64::from(me.pid),
                    &(me.proc_start as i64),
                ],
            )
            .map(|_| ())
        })
    }

    fn unregister_runner(&mut self, runner_id: &str) -> Result<(), QueueError> {
        self.write(|tx| {
            tx.execute("DELETE FROM runners WHERE runner_id = $1", &[&runner_id])
                .map(|_| ())
        })
    }

    fn reclaim_dead_runners(&mut self, me: &RunnerIdentity) -> Result<usize, QueueError> {
        let runners: Vec<(String, String, i64, i64)> = self.read(|c| {
            c.query(
                "SELECT runner_id, boot_id, pid, proc_start FROM runners WHERE host = $1",
                &[&me.host],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
        })?;
        let runners = runners
            .into_iter()
            .map(|(id, boot, pid, start)| (id, boot, u32::try_from(pid).unwrap_or(0), start as u64))
            .collect();
        let mut moved = 0;
        for runner in dead_runners(runners, me) {
            moved += self.requeue_owner(&runner)?;
            self.unregister_runner(&runner)?;
        }
        Ok(moved)
    }
}
