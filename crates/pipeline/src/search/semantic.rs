//! The semantic signal: all-MiniLM-L6-v2 sentence embeddings of transcript passages and
//! summary items, computed once per passage (stored in `search_vectors`, int8 with a scale) and
//! compared with the query's embedding by cosine, brute force over a cache held in memory.

use std::path::PathBuf;

use anyhow::Result;
use nightshift_embed::{EMBEDDING_MODEL_ENV, Embedder, MODEL_NAME, missing_file};
use nightshift_queue::Queue;

use crate::home::Home;

/// The sources that get embeddings (on-screen text is OCR: words, not sentences).
pub const EMBEDDED_SOURCES: [&str; 4] = ["transcript", "decision", "action", "question"];

/// Passages embedded per transaction.
const BATCH: usize = 32;

/// Where the embedding model is: `$NIGHTSHIFT_EMBEDDING_MODEL`, else
/// `embeddings/all-MiniLM-L6-v2` under each models directory (`NIGHTSHIFT_MODELS`,
/// `<home>/models`), else `~/.cache/nightshift-models/embeddings/all-MiniLM-L6-v2` (where
/// `scripts/fetch-embedding-model.sh` puts it). The error says where it looked and how to get it.
pub fn model_dir(home: &Home) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(EMBEDDING_MODEL_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return match missing_file(&dir) {
            None => Ok(dir),
            Some(f) => Err(format!(
                "{}: missing {f} ({EMBEDDING_MODEL_ENV})",
                dir.display()
            )),
        };
    }
    let mut tried: Vec<PathBuf> = home
        .model_dirs()
        .into_iter()
        .map(|d| d.join("embeddings").join(MODEL_NAME))
        .collect();
    if let Some(d) = nightshift_embed::default_model_dir() {
        tried.push(d);
    }
    if let Some(found) = tried.iter().find(|d| missing_file(d).is_none()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = tried.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "{MODEL_NAME} not found (looked in {}); run scripts/fetch-embedding-model.sh (or set NIGHTSHIFT_EMBEDDING_MODEL) to enable it",
        looked.join(", ")
    ))
}

/// A unit vector as stored: its largest magnitude / 127 as f32 (little endian), then one i8
/// per component.
pub fn quantize(v: &[f32]) -> Vec<u8> {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    let scale = max / 127.0;
    let mut out = Vec::with_capacity(4 + v.len());
    out.extend_from_slice(&scale.to_le_bytes());
    out.extend(
        v.iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8),
    );
    out
}

/// Embeddings held in memory for searching: one row of i8 components per passage.
#[derive(Debug, Default)]
pub struct VectorCache {
    stamp: (i64, i64),
    dim: usize,
    ids: Vec<i64>,
    meetings: Vec<u32>,
    meeting_ids: Vec<String>,
    scales: Vec<f32>,
    rows: Vec<i8>,
}

impl VectorCache {
    /// Load (or keep, when nothing changed since) every stored embedding.
    pub fn refresh(&mut self, queue: &Queue) -> Result<()> {
        let stamp = queue.vectors_stamp(MODEL_NAME)?;
        if stamp == self.stamp && !self.ids.is_empty() {
            return Ok(());
        }
        let mut fresh = VectorCache {
            stamp,
            ..VectorCache::default()
        };
        for v in queue.vectors(MODEL_NAME)? {
            if v.vector.len() < 5 {
                continue;
            }
            let dim = v.vector.len() - 4;
            if fresh.dim == 0 {
                fresh.dim = dim;
            }
            if dim != fresh.dim {
                continue;
            }
            let scale = f32::from_le_bytes([v.vector[0], v.vector[1], v.vector[2], v.vector[3]]);
            let meeting = match fresh.meeting_ids.iter().rposition(|m| *m == v.meeting_id) {
                Some(i) => i,
                None => {
                    fresh.meeting_ids.push(v.meeting_id);
                    fresh.meeting_ids.len() - 1
                }
            };
            fresh.ids.push(v.passage_id);
            fresh.meetings.push(meeting as u32);
            fresh.scales.push(scale);
            fresh.rows.extend(v.vector[4..].iter().map(|b| *b as i8));
        }
        *self = fresh;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The `k` passages most similar to `query` (a unit vector) with cosine ≥ `min`, best
    /// first, among the meetings `allowed` accepts.
    pub fn nearest(
        &self,
        query: &[f32],
        k: usize,
        min: f32,
        allowed: impl Fn(&str) -> bool,
    ) -> Vec<(i64, f32)> {
        if self.dim == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let ok: Vec<bool> = self.meeting_ids.iter().map(|m| allowed(m)).collect();
        let mut scored: Vec<(i64, f32)> = Vec::new();
        for (i, row) in self.rows.chunks_exact(self.dim).enumerate() {
            if !ok[self.meetings[i] as usize] {
                continue;
            }
            let dot: f32 = row.iter().zip(query).map(|(a, b)| f32::from(*a) * b).sum();
            let cos = dot * self.scales[i];
            if cos >= min {
                scored.push((self.ids[i], cos));
            }
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
        scored
    }
}

/// How many passages still need an embedding.
pub fn pending(queue: &Queue) -> Result<i64> {
    Ok(queue.count_without_vectors(MODEL_NAME, &EMBEDDED_SOURCES)?)
}

/// Embed every passage that has no embedding yet, `BATCH` per transaction; `progress` gets
/// (done, total). Returns how many were embedded.
pub fn embed_pending(
    queue: &mut Queue,
    embedder: &Embedder,
    mut progress: impl FnMut(usize, usize),
) -> Result<usize> {
    let total = pending(queue)? as usize;
    let mut done = 0;
    loop {
        let batch = queue.passages_without_vectors(MODEL_NAME, &EMBEDDED_SOURCES, BATCH)?;
        if batch.is_empty() {
            return Ok(done);
        }
        let texts: Vec<&str> = batch.iter().map(|p| p.text.as_str()).collect();
        let vectors: Vec<(i64, Vec<u8>)> = embedder
            .embed(&texts)
            .iter()
            .zip(&batch)
            .map(|(v, p)| (p.passage_id, quantize(v)))
            .collect();
        queue.put_vectors(MODEL_NAME, &vectors)?;
        done += batch.len();
        progress(done, total.max(done));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_vectors_keep_their_cosine() {
        let a: Vec<f32> = (0..384)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 40.0)
            .collect();
        let norm = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let a: Vec<f32> = a.iter().map(|x| x / norm).collect();
        let q = quantize(&a);
        assert_eq!(q.len(), 4 + 384);
        let scale = f32::from_le_bytes([q[0], q[1], q[2], q[3]]);
        let dot: f32 = q[4..]
            .iter()
            .zip(&a)
            .map(|(b, x)| f32::from(*b as i8) * x)
            .sum();
        assert!((dot * scale - 1.0).abs() < 0.01, "{}", dot * scale);
    }
}
