-- Claimable-now work grouped by model and task type, for the scheduling policy.
-- $1 test clock (NULL = server time), $2 task type filter (NULL = any)
SELECT j.model_key, j.task_type, count(*), max(j.priority), min(j.job_id)
FROM jobs j
WHERE j.status = 'PENDING'
  AND j.not_before <= coalesce($1::float8, extract(epoch from now())::float8)
  AND ($2::text IS NULL OR j.task_type = $2::text)
  AND NOT EXISTS (
      SELECT 1 FROM jobs d
      WHERE d.meeting_id = j.meeting_id
        AND d.stage < j.stage
        AND d.status IN ('PENDING', 'PROCESSING'))
GROUP BY j.model_key, j.task_type;
