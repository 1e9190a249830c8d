//! Media reachable from every host. A job names its files by the path they had on the host that
//! made them (a chunk under the adding host's home, a video's source, a keyframe). Where hosts
//! share one PostgreSQL queue and no filesystem, those files also go into the database's media
//! store (`[queue] media = "database"`, the default with PostgreSQL), and a host that lacks one
//! fetches it into `<home>/cache/media`, a cache bounded by `[queue] media_cache` (least
//! recently used files go first). With the SQLite queue (or `media = "local"`) nothing is copied:
//! the paths are read where they are.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nightshift_queue::Queue;

use crate::config::{Config, MediaMode};
use crate::home::Home;

/// Default bound of the fetched-media cache.
pub const DEFAULT_CACHE_BYTES: u64 = 4 << 30;

/// Whether this home keeps media in the database (read from its config and queue URL).
pub fn in_database(home: &Home) -> Result<bool> {
    let config = Config::load(home)?;
    Ok(match config.queue.media {
        Some(MediaMode::Database) => true,
        Some(MediaMode::Local) => false,
        None => home.db_url_in(&config)?.is_postgres(),
    })
}

/// Store each file in the database under its own path, when media live there; a no-op
/// otherwise.
pub fn publish<'a>(
    home: &Home,
    queue: &mut Queue,
    files: impl IntoIterator<Item = &'a Path>,
) -> Result<()> {
    if !in_database(home)? {
        return Ok(());
    }
    for file in files {
        queue
            .put_media(&file.to_string_lossy(), file)
            .with_context(|| format!("{}: storing it in the media store", file.display()))?;
    }
    Ok(())
}

/// A readable local path for the file a job names: the file itself when this host has it, else
/// a copy fetched from the media store into the cache. `Ok(None)`: it is nowhere (deleted, or
/// never stored) — the caller reports the gap as it would for a missing file.
pub fn local_copy(home: &Home, queue: &Queue, name: &str) -> Result<Option<PathBuf>> {
    let path = Path::new(name);
    if path.is_file() {
        return Ok(Some(path.to_path_buf()));
    }
    if !in_database(home)? {
        return Ok(None);
    }
    let Some(media) = queue.media(name)? else {
        return Ok(None);
    };
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let dir = cache_dir(home);
    let cached = dir.join(format!("{}{ext}", media.sha256));
    if cached.is_file() {
        // Touch it: the cache evicts the least recently used first.
        let _ = std::fs::File::options()
            .append(true)
            .open(&cached)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        return Ok(Some(cached));
    }
    queue
        .fetch_media(&media, &cached)
        .with_context(|| format!("{name}: fetching it from the media store"))?;
    evict(&dir, cache_bound(home)?, &cached);
    Ok(Some(cached))
}

/// [`local_copy`] for a reader that handles a missing file itself: the local path, or `name`
/// unchanged when the file is nowhere or cannot be fetched (the reason is logged), so the job
/// fails on the missing file as it would on one host.
pub fn readable(home: &Home, queue: &Queue, name: &str) -> PathBuf {
    match local_copy(home, queue, name) {
        Ok(Some(path)) => path,
        Ok(None) => PathBuf::from(name),
        Err(e) => {
            tracing::warn!("{e:#}");
            PathBuf::from(name)
        }
    }
}

fn cache_dir(home: &Home) -> PathBuf {
    home.root.join("cache").join("media")
}

fn cache_bound(home: &Home) -> Result<u64> {
    match Config::load(home)?.queue.media_cache {
        Some(s) => crate::fsutil::parse_size(&s).context("[queue] media_cache"),
        None => Ok(DEFAULT_CACHE_BYTES),
    }
}

/// Delete the least recently used cached files until the cache fits `bound`, never `keep`
/// (the file just fetched, which a job is about to read).
fn evict(dir: &Path, bound: u64, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok().filter(|m| m.is_file())?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= bound {
            break;
        }
        if path != keep && std::fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_drops_least_recently_used_files_but_never_the_one_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(100);
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let p = dir.path().join(name);
            std::fs::write(&p, vec![0u8; 1000]).unwrap();
            std::fs::File::options()
                .append(true)
                .open(&p)
                .unwrap()
                .set_modified(t0 + std::time::Duration::from_secs(i as u64 * 10))
                .unwrap();
        }
        // "a" is the oldest but in use; "b" goes next.
        evict(dir.path(), 2000, &dir.path().join("a"));
        let left: Vec<bool> = ["a", "b", "c"]
            .iter()
            .map(|n| dir.path().join(n).exists())
            .collect();
        assert_eq!(left, vec![true, false, true]);
    }
}
