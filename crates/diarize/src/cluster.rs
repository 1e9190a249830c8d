//! Average-linkage agglomerative clustering on cosine distance, with the number of clusters
//! chosen by a distance threshold or forced by hints.
//!
//! The dendrogram is built with the nearest-neighbour chain algorithm (O(n²) time and memory),
//! then cut: either where the next merge would exceed the threshold, or at the requested count.

/// How many clusters to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountHints {
    /// Exactly this many (when there are enough items).
    pub exact: Option<usize>,
    pub min: usize,
    pub max: usize,
}

impl Default for CountHints {
    fn default() -> Self {
        CountHints {
            exact: None,
            min: 1,
            max: usize::MAX,
        }
    }
}

/// One merge of the dendrogram: clusters `a` and `b` (item indices of their representatives)
/// joined at `distance`.
#[derive(Debug, Clone, Copy)]
struct Merge {
    a: usize,
    b: usize,
    distance: f32,
}

/// Cosine distance between two L2-normalised vectors.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
}

/// Cluster labels `0..k` for L2-normalised `vectors` (`dim` each) with `weights` (how much
/// speech each stands for). Labels are numbered by first occurrence.
pub fn agglomerative(
    vectors: &[f32],
    dim: usize,
    weights: &[f32],
    threshold: f32,
    hints: CountHints,
) -> Vec<usize> {
    let n = weights.len();
    assert_eq!(vectors.len(), n * dim, "one vector per weight");
    if n == 0 {
        return Vec::new();
    }
    let merges = dendrogram(vectors, dim, weights);
    let wanted = match hints.exact {
        Some(k) => k.clamp(1, n),
        None => {
            let by_threshold = n - merges.iter().filter(|m| m.distance <= threshold).count();
            by_threshold.clamp(hints.min.clamp(1, n), hints.max.clamp(1, n))
        }
    };
    let mut uf = UnionFind::new(n);
    for m in merges.iter().take(n - wanted) {
        uf.union(m.a, m.b);
    }
    let mut label_of_root = vec![usize::MAX; n];
    let mut next = 0;
    (0..n)
        .map(|i| {
            let r = uf.find(i);
            if label_of_root[r] == usize::MAX {
                label_of_root[r] = next;
                next += 1;
            }
            label_of_root[r]
        })
        .collect()
}

/// Merges sorted by distance (average linkage is reducible, so the NN-chain's merges sorted by
/// height form the same dendrogram as the naive algorithm).
fn dendrogram(vectors: &[f32], dim: usize, weights: &[f32]) -> Vec<Merge> {
    let n = weights.len();
    let mut d = vec![0.0f32; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let v = cosine_distance(&vectors[i * dim..(i + 1) * dim], &vectors[j * dim..(j + 1) * dim]);
            d[i * n + j] = v;
            d[j * n + i] = v;
        }
    }
    let mut size: Vec<f64> = weights.iter().map(|w| (*w as f64).max(1e-6)).collect();
    let mut active = vec![true; n];
    let mut remaining = n;
    let mut chain: Vec<usize> = Vec::with_capacity(n);
    let mut merges = Vec::with_capacity(n.saturating_sub(1));
    while remaining > 1 {
        if chain.is_empty() {
            chain.push(active.iter().position(|&a| a).expect("an active cluster"));
        }
        let a = *chain.last().expect("non-empty chain");
        let prev = chain.len().checked_sub(2).map(|i| chain[i]);
        // Nearest active neighbour; ties go to the previous chain element so the chain ends.
        let mut best = usize::MAX;
        let mut best_d = f32::INFINITY;
        for c in 0..n {
            if c == a || !active[c] {
                continue;
            }
            let dc = d[a * n + c];
            if dc < best_d || (dc == best_d && Some(c) == prev) {
                best = c;
                best_d = dc;
            }
        }
        if Some(best) == prev {
            chain.pop();
            chain.pop();
            let (keep, gone) = (a.min(best), a.max(best));
            merges.push(Merge {
                a: keep,
                b: gone,
                distance: best_d,
            });
            let (sk, sg) = (size[keep], size[gone]);
            for c in 0..n {
                if active[c] && c != keep && c != gone {
                    let v = ((sk * d[keep * n + c] as f64 + sg * d[gone * n + c] as f64)
                        / (sk + sg)) as f32;
                    d[keep * n + c] = v;
                    d[c * n + keep] = v;
                }
            }
            size[keep] = sk + sg;
            active[gone] = false;
            remaining -= 1;
        } else {
            chain.push(best);
        }
    }
    merges.sort_by(|x, y| x.distance.total_cmp(&y.distance));
    merges
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind((0..n).collect())
    }
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[rb.max(ra)] = rb.min(ra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn points() -> Vec<f32> {
        [
            [1.0, 0.05, 0.0],
            [1.0, -0.05, 0.0],
            [0.0, 1.0, 0.05],
            [0.05, 1.0, 0.0],
            [0.0, 0.02, 1.0],
        ]
        .iter()
        .flat_map(|p| unit(p))
        .collect()
    }

    #[test]
    fn threshold_finds_the_groups() {
        let labels = agglomerative(&points(), 3, &[1.0; 5], 0.3, CountHints::default());
        assert_eq!(labels, vec![0, 0, 1, 1, 2]);
    }

    #[test]
    fn hints_force_the_count() {
        let p = points();
        let exact = |k| CountHints {
            exact: Some(k),
            ..CountHints::default()
        };
        assert_eq!(agglomerative(&p, 3, &[1.0; 5], 0.3, exact(2)).iter().max(), Some(&1));
        assert_eq!(agglomerative(&p, 3, &[1.0; 5], 0.3, exact(9)).iter().max(), Some(&4));
        let bounded = CountHints {
            exact: None,
            min: 4,
            max: 9,
        };
        assert_eq!(agglomerative(&p, 3, &[1.0; 5], 0.3, bounded).iter().max(), Some(&3));
        let capped = CountHints {
            exact: None,
            min: 1,
            max: 1,
        };
        assert_eq!(agglomerative(&p, 3, &[1.0; 5], 0.3, capped), vec![0; 5]);
    }

    #[test]
    fn nn_chain_matches_naive_average_linkage() {
        // Pseudo-random points: the cut at every count must equal naive average linkage.
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let n = 24;
        let v: Vec<f32> = (0..n).flat_map(|_| unit(&[rnd(), rnd(), rnd(), rnd()])).collect();
        let w: Vec<f32> = (0..n).map(|i| 1.0 + (i % 3) as f32).collect();
        let merges = dendrogram(&v, 4, &w);
        // naive: repeatedly merge the closest pair by weighted average distance
        let mut clusters: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        let avg = |a: &Vec<usize>, b: &Vec<usize>| {
            let (mut s, mut tw) = (0.0f64, 0.0f64);
            for &i in a {
                for &j in b {
                    let ww = (w[i] * w[j]) as f64;
                    s += ww * cosine_distance(&v[i * 4..i * 4 + 4], &v[j * 4..j * 4 + 4]) as f64;
                    tw += ww;
                }
            }
            s / tw
        };
        for m in &merges {
            let mut best = (0, 1, f64::INFINITY);
            for i in 0..clusters.len() {
                for j in i + 1..clusters.len() {
                    let dd = avg(&clusters[i], &clusters[j]);
                    if dd < best.2 {
                        best = (i, j, dd);
                    }
                }
            }
            assert!((best.2 - m.distance as f64).abs() < 1e-4, "{} vs {}", best.2, m.distance);
            let b = clusters.remove(best.1);
            clusters[best.0].extend(b);
        }
    }
}
