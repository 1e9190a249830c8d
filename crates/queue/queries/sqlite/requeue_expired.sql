-- Send PROCESSING jobs whose lease has expired back to PENDING with exponential backoff
-- (2 s, 4 s, 8 s ... capped at 5 min), or to FAILED once their attempts are used up.
-- ?1 now, ?2 extra predicate owner (NULL = any expired lease; otherwise: all jobs of that owner)
UPDATE jobs
SET status = CASE WHEN attempts >= max_attempts THEN 'FAILED' ELSE 'PENDING' END,
    last_error = CASE WHEN ?2 IS NULL
                      THEN 'lease expired: the runner stopped heartbeating (crash or hang)'
                      ELSE 'runner process died while running this job' END,
    not_before = ?1 + CASE WHEN ?2 IS NULL THEN min(300, 1 << min(attempts, 9)) ELSE 0 END,
    finished_at = CASE WHEN attempts >= max_attempts THEN ?1 ELSE NULL END,
    lease_owner = NULL,
    lease_expires_at = NULL
WHERE status = 'PROCESSING'
  AND ((?2 IS NULL AND lease_expires_at < ?1) OR (?2 IS NOT NULL AND lease_owner = ?2));
