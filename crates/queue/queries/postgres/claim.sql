-- Claim the best ready job in one statement: highest priority, then oldest; its meeting's
-- earlier stages must be finished. Rows another claimer is taking are skipped, not waited on.
-- $1 test clock (NULL = server time), $2 owner, $3 lease seconds, $4 task type filter (NULL =
-- any), $5 model key filter (NULL = any)
WITH t AS (SELECT coalesce($1::float8, extract(epoch from now())::float8) AS now)
UPDATE jobs
SET status = 'PROCESSING',
    lease_owner = $2,
    lease_expires_at = (SELECT now FROM t) + $3::float8,
    attempts = attempts + 1,
    started_at = (SELECT now FROM t)
WHERE job_id = (
    SELECT j.job_id FROM jobs j
    WHERE j.status = 'PENDING'
      AND j.not_before <= (SELECT now FROM t)
      AND ($4::text IS NULL OR j.task_type = $4::text)
      AND ($5::text IS NULL OR coalesce(j.model_key, '') = $5::text)
      AND NOT EXISTS (
          SELECT 1 FROM jobs d
          WHERE d.meeting_id = j.meeting_id
            AND d.stage < j.stage
            AND d.status IN ('PENDING', 'PROCESSING'))
    ORDER BY j.priority DESC, j.job_id
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
  AND status = 'PENDING'
RETURNING job_id, meeting_id, task_type, chunk_path, seq, stage, priority, model_key, payload,
          attempts, max_attempts, lease_expires_at;
