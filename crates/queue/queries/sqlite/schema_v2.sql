-- Schema version 2: speaker names.

-- Enrolled voices (`nightshift speakers enroll`). The embedding is a JSON array of floats
-- (L2-normalised), compared by cosine similarity with each meeting's speakers.
CREATE TABLE voice_profiles (
    name       TEXT PRIMARY KEY,
    embedding  TEXT NOT NULL,
    source     TEXT NOT NULL,
    speech_s   REAL NOT NULL,
    created_at REAL NOT NULL
);

-- Names given to a meeting's speakers after the fact (`nightshift speakers rename`); they win
-- over enrolled voices.
CREATE TABLE speaker_names (
    meeting_id TEXT NOT NULL REFERENCES meetings(meeting_id) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    name       TEXT NOT NULL,
    PRIMARY KEY (meeting_id, label)
);
