-- Schema version 3: search.

-- The searchable text of stored results, one row per passage: a transcript segment (meeting
-- seconds), a decision, an action item, an open question, or a scene's on-screen text. Written
-- by the statement's transaction that stores the job's result (Queue::complete_indexed), so the
-- index never lags the results; deleted with its job or meeting. Speakers are not stored here:
-- they are applied at read time from the diarization result and the names as they are now.
CREATE TABLE search_passages (
    passage_id INTEGER PRIMARY KEY,
    meeting_id TEXT NOT NULL REFERENCES meetings(meeting_id) ON DELETE CASCADE,
    job_id     INTEGER NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    source     TEXT NOT NULL
               CHECK (source IN ('transcript', 'decision', 'action', 'question', 'screen')),
    start_s    REAL NOT NULL,
    end_s      REAL NOT NULL,
    text       TEXT NOT NULL
);
CREATE INDEX search_passages_by_job ON search_passages (job_id);
CREATE INDEX search_passages_by_meeting ON search_passages (meeting_id, start_s);

-- Full text over the passages (external content: the text is stored once), BM25-ranked,
-- English stemming (porter) over Unicode words with diacritics folded.
CREATE VIRTUAL TABLE search_fts USING fts5(
    text,
    content = 'search_passages',
    content_rowid = 'passage_id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER search_passages_insert AFTER INSERT ON search_passages BEGIN
    INSERT INTO search_fts (rowid, text) VALUES (new.passage_id, new.text);
END;
CREATE TRIGGER search_passages_delete AFTER DELETE ON search_passages BEGIN
    INSERT INTO search_fts (search_fts, rowid, text) VALUES ('delete', old.passage_id, old.text);
END;

-- Sentence embeddings of passages (a cache: computed once per passage and model, never on
-- every search; recomputable at any time). `vector` is int8 components with one f32 scale.
CREATE TABLE search_vectors (
    passage_id INTEGER PRIMARY KEY REFERENCES search_passages(passage_id) ON DELETE CASCADE,
    model      TEXT NOT NULL,
    vector     BLOB NOT NULL
);

-- Meetings whose passages must be (re)built from their stored results before a search. Results
-- are typed JSON that only the pipeline reads (pipeline::job), so this migration does not parse
-- them in SQL: it marks every existing meeting, and the first search (or `run`) rebuilds them,
-- each in one transaction.
CREATE TABLE search_stale (
    meeting_id TEXT PRIMARY KEY REFERENCES meetings(meeting_id) ON DELETE CASCADE
);
INSERT INTO search_stale (meeting_id) SELECT meeting_id FROM meetings;
