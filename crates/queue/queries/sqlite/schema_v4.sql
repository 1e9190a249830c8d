-- Schema version 4: the media store (used when media are kept in the database instead of the
-- home's directories): files by the name their job uses, content-addressed in 4 MiB parts.
CREATE TABLE media_files (
    name   TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size   INTEGER NOT NULL
);
CREATE INDEX media_files_by_blob ON media_files (sha256);
CREATE TABLE media_parts (
    sha256 TEXT NOT NULL,
    part   INTEGER NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (sha256, part)
);
