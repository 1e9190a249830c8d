-- Claim the best ready job in one statement: highest priority, then oldest; its meeting's earlier
-- stages must be finished. The bundled SQLite has no UPDATE ... LIMIT, hence the sub-select.
-- ?1 owner, ?2 lease expiry, ?3 now, ?4 task type filter (NULL = any), ?5 model key filter (NULL = any)
UPDATE jobs
SET status = 'PROCESSING',
    lease_owner = ?1,
    lease_expires_at = ?2,
    attempts = attempts + 1,
    started_at = ?3
WHERE job_id = (
    SELECT j.job_id FROM jobs j
    WHERE j.status = 'PENDING'
      AND j.not_before <= ?3
      AND (?4 IS NULL OR j.task_type = ?4)
      AND (?5 IS NULL OR coalesce(j.model_key, '') = ?5)
      AND NOT EXISTS (
          SELECT 1 FROM jobs d
          WHERE d.meeting_id = j.meeting_id
            AND d.stage < j.stage
            AND d.status IN ('PENDING', 'PROCESSING'))
    ORDER BY j.priority DESC, j.job_id
    LIMIT 1)
  AND status = 'PENDING'
RETURNING job_id, meeting_id, task_type, status, chunk_path, seq, stage, priority, model_key,
          payload, attempts, max_attempts, lease_expires_at;
