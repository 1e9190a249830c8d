//! The media store on PostgreSQL: what lets `add` on one host and `run` on another share no
//! filesystem. Parts are read one at a time, so fetching a large video holds one part in memory.

use std::path::Path;

use super::PgQueue;
use crate::backend::MediaStore;
use crate::media::{BlobWriter, for_each_part, hash_file};
use crate::{MediaRef, QueueError};

impl MediaStore for PgQueue {
    fn put_media(&mut self, name: &str, local: &Path) -> Result<MediaRef, QueueError> {
        let (sha256, size) = hash_file(local)?;
        let db = self.url.clone();
        let pg = |e| QueueError::pg(&db, e);
        let mut client = self.client()?;
        // Dropping the transaction on any error rolls it back: no half-stored blob is ever
        // committed.
        let mut tx = client.transaction().map_err(pg)?;
        // Two hosts storing the same bytes at once: the blob's lock makes the second wait and
        // then find the parts there.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('nightshift-media:' || $1))",
            &[&sha256],
        )
        .map_err(pg)?;
        let stored: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM media_parts WHERE sha256 = $1)",
                &[&sha256],
            )
            .and_then(|r| r.try_get(0))
            .map_err(pg)?;
        if !stored {
            let stmt = tx
                .prepare("INSERT INTO media_parts (sha256, part, bytes) VALUES ($1, $2, $3)")
                .map_err(pg)?;
            for_each_part(local, |part, bytes| {
                tx.execute(&stmt, &[&sha256, &part, &bytes])
                    .map(|_| ())
                    .map_err(pg)
            })?;
        }
        tx.execute(
            "INSERT INTO media_files (name, sha256, size) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET sha256 = $2, size = $3",
            &[&name, &sha256, &(size as i64)],
        )
        .map_err(pg)?;
        tx.commit().map_err(pg)?;
        Ok(MediaRef {
            name: name.to_string(),
            sha256,
            size,
        })
    }

    fn media(&self, name: &str) -> Result<Option<MediaRef>, QueueError> {
        let row = self.read(|c| {
            c.query_opt(
                "SELECT sha256, size FROM media_files WHERE name = $1",
                &[&name],
            )
        })?;
        row.map(|r| {
            let r = super::rows::Reader {
                row: &r,
                db: &self.url,
            };
            Ok(MediaRef {
                name: name.to_string(),
                sha256: r.get(0)?,
                size: r.get::<i64>(1)?.max(0) as u64,
            })
        })
        .transpose()
    }

    fn media_list(&self) -> Result<Vec<MediaRef>, QueueError> {
        self.read(|c| {
            c.query(
                "SELECT name, sha256, size FROM media_files ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(MediaRef {
                    name: r.try_get(0)?,
                    sha256: r.try_get(1)?,
                    size: r.try_get::<_, i64>(2)?.max(0) as u64,
                })
            })
            .collect()
        })
    }

    fn forget_media(&mut self, names: &[String]) -> Result<usize, QueueError> {
        // Data-modifying CTEs see the same snapshot: the parts check excludes the names being
        // dropped explicitly rather than seeing them gone.
        let forgotten: i64 = self.write(|tx| {
            tx.query_one(
                "WITH gone AS (DELETE FROM media_files WHERE name = ANY($1) RETURNING sha256),
                      parts AS (DELETE FROM media_parts p
                                USING (SELECT DISTINCT sha256 FROM gone) g
                                WHERE p.sha256 = g.sha256
                                  AND NOT EXISTS (SELECT 1 FROM media_files f
                                                  WHERE f.sha256 = g.sha256
                                                    AND f.name <> ALL($1)))
                 SELECT count(*) FROM gone",
                &[&names],
            )?
            .try_get(0)
        })?;
        Ok(forgotten as usize)
    }

    fn fetch_media(&self, media: &MediaRef, dest: &Path) -> Result<(), QueueError> {
        let mut out = BlobWriter::create(dest)?;
        let count: i64 = self.read(|c| {
            c.query_one(
                "SELECT count(*) FROM media_parts WHERE sha256 = $1",
                &[&media.sha256],
            )?
            .try_get(0)
        })?;
        for part in 0..count {
            let bytes: Vec<u8> = self.read(|c| {
                c.query_one(
                    "SELECT bytes FROM media_parts WHERE sha256 = $1 AND part = $2",
                    &[&media.sha256, &part],
                )?
                .try_get(0)
            })?;
            out.write(&bytes)?;
        }
        out.finish(media)
    }
}
