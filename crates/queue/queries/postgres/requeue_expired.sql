-- Send PROCESSING jobs whose lease has expired back to PENDING with exponential backoff
-- (2 s, 4 s, 8 s ... capped at 5 min), or to FAILED once their attempts are used up. Any host
-- may run it: an expired lease is how a runner that died on another host is noticed.
-- $1 test clock (NULL = server time), $2 owner (NULL = any expired lease; otherwise: every job
-- of that owner, whose process is known to be dead)
WITH t AS (SELECT coalesce($1::float8, extract(epoch from now())::float8) AS now)
UPDATE jobs
SET status = CASE WHEN attempts >= max_attempts THEN 'FAILED' ELSE 'PENDING' END,
    last_error = CASE WHEN $2::text IS NULL
                      THEN 'lease expired: the runner stopped heartbeating (crash or hang)'
                      ELSE 'runner process died while running this job' END,
    not_before = (SELECT now FROM t)
                 + CASE WHEN $2::text IS NULL THEN least(300, 1 << least(attempts, 9)::int) ELSE 0 END,
    finished_at = CASE WHEN attempts >= max_attempts THEN (SELECT now FROM t) ELSE NULL END,
    lease_owner = NULL,
    lease_expires_at = NULL
WHERE status = 'PROCESSING'
  AND (($2::text IS NULL AND lease_expires_at < (SELECT now FROM t))
       OR ($2::text IS NOT NULL AND lease_owner = $2::text));
