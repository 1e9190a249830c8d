-- Schema version 1. Times are unix seconds (REAL). Large payloads (audio, transcripts of whole
-- meetings) live in files under the home; rows hold paths and small JSON.

CREATE TABLE meetings (
    meeting_id    TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    source_path   TEXT NOT NULL,
    -- Content hash of the input: adding the same bytes twice yields the same meeting.
    source_sha256 TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('audio', 'video')),
    duration_s    REAL NOT NULL,
    -- Probe facts, VAD speech ratio, no-speech spans, warnings (JSON object).
    info          TEXT NOT NULL DEFAULT '{}',
    created_at    REAL NOT NULL
);

CREATE TABLE jobs (
    job_id           INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting_id       TEXT NOT NULL REFERENCES meetings(meeting_id) ON DELETE CASCADE,
    task_type        TEXT NOT NULL CHECK (task_type IN ('AUDIO', 'VISUAL', 'SUMMARY')),
    status           TEXT NOT NULL DEFAULT 'PENDING'
                     CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    chunk_path       TEXT,
    -- Order of the job inside its meeting (chunk index).
    seq              INTEGER NOT NULL DEFAULT 0,
    -- Dependency by stage: a job runs only when every job of its meeting with a lower stage is
    -- finished (AUDIO and VISUAL are stage 0, SUMMARY stage 1).
    stage            INTEGER NOT NULL DEFAULT 0,
    priority         INTEGER NOT NULL DEFAULT 0,
    -- Which model the job needs; the Foreman batches by it.
    model_key        TEXT,
    -- Small JSON input (chunk offset, speech spans, skip reason, ...).
    payload          TEXT NOT NULL DEFAULT '{}',
    -- Small JSON output, written in the same statement that marks the job COMPLETED.
    result           TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    last_error       TEXT,
    lease_owner      TEXT,
    lease_expires_at REAL,
    -- Backoff: a requeued job is not claimable before this time.
    not_before       REAL NOT NULL DEFAULT 0,
    created_at       REAL NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    metrics          TEXT
);

-- The claim query scans ready work in priority order.
CREATE INDEX jobs_ready ON jobs (status, priority DESC, job_id);
CREATE INDEX jobs_by_meeting ON jobs (meeting_id, stage, status);
CREATE INDEX jobs_by_lease ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;

-- Every live runner (Foreman) registers here; liveness is pid + process start time + boot id on
-- the same host, so a recycled pid is not mistaken for the old runner.
CREATE TABLE runners (
    runner_id    TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    boot_id      TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    proc_start   INTEGER NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);

-- Who holds the GPU budget. At most a handful of rows; a dead holder is reclaimed by liveness.
CREATE TABLE gpu_leases (
    holder       TEXT PRIMARY KEY,
    model_key    TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    pid          INTEGER NOT NULL,
    heartbeat_at REAL NOT NULL
);
