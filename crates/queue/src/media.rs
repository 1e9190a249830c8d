//! The media store's backend-neutral half: hashing a file, cutting it into parts, and writing a
//! fetched blob to disk so that a reader never sees a partial or wrong file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::QueueError;

/// Bytes per stored part: small enough for one row, large enough that a 1 GB video is 256 rows.
pub const PART_BYTES: usize = 4 << 20;

/// A file in the media store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// The name jobs use for it (the path it had on the host that stored it).
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

pub(crate) fn io_error(path: &Path, e: std::io::Error) -> QueueError {
    QueueError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// sha256 and size of a file, read once.
pub(crate) fn hash_file(path: &Path) -> Result<(String, u64), QueueError> {
    let mut f = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| io_error(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(h.finalize()), size))
}

/// Call `put` with each part of the file in order.
pub(crate) fn for_each_part(
    path: &Path,
    mut put: impl FnMut(i64, &[u8]) -> Result<(), QueueError>,
) -> Result<(), QueueError> {
    let mut f = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut buf = vec![0u8; PART_BYTES];
    let mut part = 0i64;
    loop {
        let mut filled = 0;
        while filled < PART_BYTES {
            let n = f.read(&mut buf[filled..]).map_err(|e| io_error(path, e))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 && part > 0 {
            return Ok(());
        }
        put(part, &buf[..filled])?;
        part += 1;
        if filled < PART_BYTES {
            return Ok(());
        }
    }
}

/// Writes a blob's parts to `<dest>.part`, checks size and hash, then renames it into place.
pub(crate) struct BlobWriter {
    dest: PathBuf,
    tmp: PathBuf,
    file: std::fs::File,
    hash: Sha256,
    size: u64,
}

impl BlobWriter {
    pub fn create(dest: &Path) -> Result<BlobWriter, QueueError> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        let tmp = dest.with_extension("part");
        let file = std::fs::File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
        Ok(BlobWriter {
            dest: dest.to_path_buf(),
            tmp,
            file,
            hash: Sha256::new(),
            size: 0,
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), QueueError> {
        self.hash.update(bytes);
        self.size += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .map_err(|e| io_error(&self.tmp, e))
    }

    /// Verify against `media` and move into place; a mismatch deletes the temp file.
    pub fn finish(self, media: &MediaRef) -> Result<(), QueueError> {
        let BlobWriter {
            dest,
            tmp,
            file,
            hash,
            size,
        } = self;
        let synced = file.sync_all().map_err(|e| io_error(&tmp, e));
        drop(file);
        let sha = hex::encode(hash.finalize());
        if let Err(e) = synced {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if sha != media.sha256 || size != media.size {
            let _ = std::fs::remove_file(&tmp);
            return Err(QueueError::BadMedia {
                name: media.name.clone(),
                detail: format!(
                    "stored blob reads as {size} bytes with sha256 {sha}, expected {} bytes with {}",
                    media.size, media.sha256
                ),
            });
        }
        std::fs::rename(&tmp, &dest).map_err(|e| io_error(&dest, e))
    }
}
