//! The semantic signal: all-MiniLM-L6-v2 sentence embeddings of transcript passages and
//! summary items, computed once per passage (stored in `search_vectors`, int8 with a scale) and
//! compared with the query's embedding by cosine, brute force over a cache held in memory.

use std::collections::HashMap;
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
    // The machine's model cache is one of the models directories too: looked in once.
    if let Some(d) = nightshift_embed::default_model_dir().filter(|d| !tried.contains(d)) {
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

/// Embeddings held in memory for searching: one contiguous row of i8 components per passage,
/// with the inverse of each row's norm, compared with the query by an i8×i8→i32 dot product.
#[derive(Debug, Default)]
pub struct VectorCache {
    /// [`Queue::vectors_mark`] when last loaded.
    mark: (i64, i64),
    dim: usize,
    ids: Vec<i64>,
    meetings: Vec<u32>,
    meeting_ids: Vec<String>,
    meeting_index: HashMap<String, u32>,
    inv_norms: Vec<f32>,
    rows: Vec<i8>,
}

impl VectorCache {
    /// Keep the cache when nothing was added since it was loaded (two primary-key reads);
    /// load only the embeddings added since (larger ids) when the passages are the same; reload
    /// everything when passages were stored (a result stored again replaces its passages).
    /// Vectors of a meeting removed meanwhile stay until then: [`VectorCache::nearest`]'s
    /// meeting filter drops them.
    pub fn refresh(&mut self, queue: &Queue) -> Result<()> {
        let mark = queue.vectors_mark(MODEL_NAME)?;
        if mark == self.mark {
            return Ok(());
        }
        let appended = mark.0 == self.mark.0 && mark.1 > self.mark.1;
        if !appended {
            *self = VectorCache::default();
        }
        for v in queue.vectors_after(MODEL_NAME, self.ids.last().copied().unwrap_or(0))? {
            self.push(v.passage_id, v.meeting_id, &v.vector);
        }
        self.mark = mark;
        Ok(())
    }

    /// Add one stored vector (scale then i8 components; the scale is not needed: cosine is
    /// taken between the quantized vectors, whose norms are computed here once).
    fn push(&mut self, passage_id: i64, meeting_id: String, stored: &[u8]) {
        if stored.len() < 5 {
            return;
        }
        let dim = stored.len() - 4;
        if self.dim == 0 {
            self.dim = dim;
        }
        if dim != self.dim {
            return;
        }
        let row = stored[4..].iter().map(|b| *b as i8);
        let norm2: i32 = row.clone().map(|x| i32::from(x) * i32::from(x)).sum();
        if norm2 == 0 {
            return;
        }
        let next = self.meeting_ids.len() as u32;
        let meeting = *self
            .meeting_index
            .entry(meeting_id)
            .or_insert_with_key(|m| {
                self.meeting_ids.push(m.clone());
                next
            });
        self.ids.push(passage_id);
        self.meetings.push(meeting);
        self.inv_norms.push(1.0 / (norm2 as f32).sqrt());
        self.rows.extend(row);
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
        if self.dim == 0 || query.len() != self.dim || k == 0 {
            return Vec::new();
        }
        let q = quantize_row(query);
        let q_norm2: i32 = q.iter().map(|x| i32::from(*x) * i32::from(*x)).sum();
        if q_norm2 == 0 {
            return Vec::new();
        }
        let q_inv = 1.0 / (q_norm2 as f32).sqrt();
        let ok: Vec<bool> = self.meeting_ids.iter().map(|m| allowed(m)).collect();
        let mut scored: Vec<(i64, f32)> = Vec::new();
        for (i, row) in self.rows.chunks_exact(self.dim).enumerate() {
            if !ok[self.meetings[i] as usize] {
                continue;
            }
            let cos = dot_i8(row, &q) as f32 * self.inv_norms[i] * q_inv;
            if cos >= min {
                scored.push((self.ids[i], cos));
            }
        }
        let by_cos = |a: &(i64, f32), b: &(i64, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, by_cos);
            scored.truncate(k);
        }
        scored.sort_unstable_by(by_cos);
        scored
    }
}

/// `v` scaled so that its largest component is ±127, as i8.
fn quantize_row(v: &[f32]) -> Vec<i8> {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    v.iter()
        .map(|x| (x * 127.0 / max).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

/// The dot product of two i8 vectors. Integer sums may be reordered, so the compiler
/// vectorises this (widening multiply-adds); a float sum would stay one add at a time.
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

/// How many passages still need an embedding.
/// Embedding goes in passage id order and new passages get larger ids, so "none after the
/// last embedded one" (two primary-key reads) answers the usual case without counting.
pub fn pending(queue: &Queue) -> Result<i64> {
    if !queue.has_passages_after_vectors(MODEL_NAME, &EMBEDDED_SOURCES)? {
        return Ok(0);
    }
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
    if total == 0 {
        return Ok(0);
    }
    let mut done = 0;
    loop {
        let n = embed_batch(queue, embedder)?;
        if n == 0 {
            return Ok(done);
        }
        done += n;
        progress(done, total.max(done));
    }
}

/// Embed the next `BATCH` passages without an embedding and store them in one transaction;
/// how many (0: none left).
fn embed_batch(queue: &mut Queue, embedder: &Embedder) -> Result<usize> {
    let batch = queue.passages_without_vectors(MODEL_NAME, &EMBEDDED_SOURCES, BATCH)?;
    if batch.is_empty() {
        return Ok(0);
    }
    let texts: Vec<&str> = batch.iter().map(|p| p.text.as_str()).collect();
    let vectors: Vec<(i64, Vec<u8>)> = embedder
        .embed(&texts)
        .iter()
        .zip(&batch)
        .map(|(v, p)| (p.passage_id, quantize(v)))
        .collect();
    queue.put_vectors(MODEL_NAME, &vectors)?;
    Ok(batch.len())
}

/// Embed up to about `limit` pending passages (whole batches of `BATCH`, at least one);
/// how many. For a caller that must stay responsive between slices (the Foreman).
pub fn embed_some(queue: &mut Queue, embedder: &Embedder, limit: usize) -> Result<usize> {
    let mut done = 0;
    while done < limit.max(1) {
        let n = embed_batch(queue, embedder)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn nearest_ranks_by_cosine_within_the_allowed_meetings() {
        let mut cache = VectorCache::default();
        let rows = [
            (1, "a", [1.0, 0.0, 0.0, 0.0]),
            (2, "a", [0.6, 0.8, 0.0, 0.0]),
            (3, "b", [0.9, 0.1, 0.0, 0.0]),
            (4, "b", [0.0, 0.0, 1.0, 0.0]),
        ];
        for (id, m, v) in rows {
            cache.push(id, m.to_string(), &quantize(&unit(&v)));
        }
        assert_eq!(cache.len(), 4);
        let q = unit(&[1.0, 0.05, 0.0, 0.0]);
        let got = cache.nearest(&q, 10, 0.25, |_| true);
        let ids: Vec<i64> = got.iter().map(|(id, _)| *id).collect();
        // 4 is orthogonal: under the threshold.
        assert_eq!(ids, [1, 3, 2]);
        assert!((got[0].1 - 0.9988).abs() < 0.01, "{got:?}");
        assert_eq!(cache.nearest(&q, 1, 0.25, |_| true)[0].0, 1);
        let only_b: Vec<i64> = cache
            .nearest(&q, 10, 0.25, |m| m == "b")
            .iter()
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(only_b, [3]);
        // A query of another dimension finds nothing instead of misreading rows.
        assert!(cache.nearest(&[1.0; 3], 10, 0.0, |_| true).is_empty());
    }

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
