//! The media store in a SQLite queue (one home's media as blobs; mostly the stepping stone of
//! `db migrate` to and from PostgreSQL).

use std::path::Path;

use rusqlite::{OptionalExtension, params};

use super::SqliteQueue;
use crate::backend::MediaStore;
use crate::media::{BlobWriter, for_each_part, hash_file};
use crate::{MediaRef, QueueError};

impl MediaStore for SqliteQueue {
    fn put_media(&mut self, name: &str, local: &Path) -> Result<MediaRef, QueueError> {
        let (sha256, size) = hash_file(local)?;
        self.write(|tx, db| {
            let sql = |e| QueueError::sql(db, e);
            let stored: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM media_parts WHERE sha256 = ?1)",
                    [&sha256],
                    |r| r.get(0),
                )
                .map_err(sql)?;
            if !stored {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO media_parts (sha256, part, bytes) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(sql)?;
                for_each_part(local, |part, bytes| {
                    stmt.execute(params![sha256, part, bytes])
                        .map(|_| ())
                        .map_err(sql)
                })?;
            }
            tx.execute(
                "INSERT INTO media_files (name, sha256, size) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET sha256 = ?2, size = ?3",
                params![name, sha256, size as i64],
            )
            .map_err(sql)?;
            Ok(())
        })?;
        Ok(MediaRef {
            name: name.to_string(),
            sha256,
            size,
        })
    }

    fn media(&self, name: &str) -> Result<Option<MediaRef>, QueueError> {
        self.conn
            .query_row(
                "SELECT sha256, size FROM media_files WHERE name = ?1",
                [name],
                |r| {
                    Ok(MediaRef {
                        name: name.to_string(),
                        sha256: r.get(0)?,
                        size: r.get::<_, i64>(1)?.max(0) as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| QueueError::sql(&self.url, e))
    }

    fn media_list(&self) -> Result<Vec<MediaRef>, QueueError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, sha256, size FROM media_files ORDER BY name")
            .map_err(|e| QueueError::sql(&self.url, e))?;
        stmt.query_map([], |r| {
            Ok(MediaRef {
                name: r.get(0)?,
                sha256: r.get(1)?,
                size: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| QueueError::sql(&self.url, e))
    }

    fn forget_media(&mut self, names: &[String]) -> Result<usize, QueueError> {
        self.write(|tx, db| {
            let sql = |e| QueueError::sql(db, e);
            let mut forgotten = 0;
            for name in names {
                let sha: Option<String> = tx
                    .query_row(
                        "DELETE FROM media_files WHERE name = ?1 RETURNING sha256",
                        [name],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql)?;
                let Some(sha) = sha else { continue };
                forgotten += 1;
                tx.execute(
                    "DELETE FROM media_parts WHERE sha256 = ?1
                       AND NOT EXISTS (SELECT 1 FROM media_files WHERE sha256 = ?1)",
                    [&sha],
                )
                .map_err(sql)?;
            }
            Ok(forgotten)
        })
    }

    fn fetch_media(&self, media: &MediaRef, dest: &Path) -> Result<(), QueueError> {
        let mut out = BlobWriter::create(dest)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM media_parts WHERE sha256 = ?1 ORDER BY part")
            .map_err(|e| QueueError::sql(&self.url, e))?;
        let mut rows = stmt
            .query([&media.sha256])
            .map_err(|e| QueueError::sql(&self.url, e))?;
        while let Some(row) = rows.next().map_err(|e| QueueError::sql(&self.url, e))? {
            let bytes = row
                .get_ref(0)
                .and_then(|v| v.as_blob().map_err(Into::into))
                .map_err(|e| QueueError::sql(&self.url, e))?;
            out.write(bytes)?;
        }
        out.finish(media)
    }
}
