//! Chunk retention: chunk audio is only needed until a meeting's jobs are finished. After
//! `storage.chunk_retention_days`, the chunk files of finished meetings are deleted (results
//! and the user's input are kept; only files under `<home>/media/chunks` are touched).

use anyhow::Result;
use nightshift_queue::Queue;

use crate::home::Home;

/// Delete expired chunk files; returns how many were removed.
pub fn prune(home: &Home, queue: &mut Queue, retention_days: f64) -> Result<usize> {
    if retention_days <= 0.0 {
        return Ok(0);
    }
    let cutoff = queue.now() - retention_days * 86_400.0;
    let chunks_dir = home.chunks_dir();
    let mut removed = 0;
    for path in queue.expired_chunk_paths(cutoff)? {
        let path = std::path::PathBuf::from(path);
        if path.starts_with(&chunks_dir) && path.exists() {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(
            "retention: deleted {removed} chunk file(s) of meetings finished more than {retention_days} days ago"
        );
    }
    Ok(removed)
}
