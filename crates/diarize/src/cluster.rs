//! Agglomerative clustering of speaker embeddings by their centroids, with the number of
//! clusters chosen by a distance threshold or forced by hints.
//!
//! Clusters compare by their weighted mean vectors (cosine), not by all their members' pairs,
//! so a voice heard in many noisy short pieces still forms one tight cluster. A centroid of few
//! pieces is itself noisy (its error shrinks like 1/√n), so the distance two clusters must be
//! under to merge is relaxed by `size_slack · (1/√a + 1/√b)` (sizes in pieces): single pieces
//! of one voice join readily, while two well-heard voices stay apart unless their centroids are
//! within `threshold`. Merges go closest (adjusted) pair first.

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

/// `v` scaled to unit length (a zero vector stays zero).
pub(crate) fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// Cosine distance between two L2-normalised vectors.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
}

/// How the merging stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linkage {
    /// Largest centroid distance two large clusters merge at.
    pub threshold: f32,
    /// Extra distance allowed per 1/√size of each cluster.
    pub size_slack: f32,
    /// Weight of one piece (sizes are weights divided by this).
    pub piece_weight: f32,
}

/// Cluster labels `0..k` (numbered by first occurrence) for L2-normalised `vectors` (`dim`
/// each) with `weights` (how much speech each stands for).
pub fn agglomerative(
    vectors: &[f32],
    dim: usize,
    weights: &[f32],
    linkage: Linkage,
    hints: CountHints,
) -> Vec<usize> {
    let n = weights.len();
    assert_eq!(vectors.len(), n * dim, "one vector per weight");
    if n == 0 {
        return Vec::new();
    }
    let (min, max) = count_bounds(hints, n);
    let mut clusters = Clusters::new(vectors, dim, weights, linkage);
    let mut label: Vec<usize> = (0..n).collect();
    let mut count = n;
    while count > min {
        let Some((a, (b, d))) = clusters.closest_pair() else {
            break;
        };
        if count <= max && d > linkage.threshold {
            break;
        }
        clusters.merge_labelled(a, b, &mut label);
        count -= 1;
    }
    renumber(&mut label);
    label
}

/// The labels after every merge that leaves at most `kmax` clusters (and at least one), from
/// one agglomerative run without a threshold: `levels[k - 1]` has `k` clusters, numbered by
/// first occurrence. The same merge order as [`agglomerative`], so the level at the count the
/// threshold picks is the threshold's labelling.
pub fn agglomerative_levels(
    vectors: &[f32],
    dim: usize,
    weights: &[f32],
    linkage: Linkage,
    kmax: usize,
) -> Vec<Vec<usize>> {
    let n = weights.len();
    assert_eq!(vectors.len(), n * dim, "one vector per weight");
    if n == 0 {
        return Vec::new();
    }
    let mut clusters = Clusters::new(vectors, dim, weights, linkage);
    let mut label: Vec<usize> = (0..n).collect();
    let mut levels = vec![Vec::new(); kmax.min(n)];
    let mut count = n;
    loop {
        if count <= levels.len() {
            let mut l = label.clone();
            renumber(&mut l);
            levels[count - 1] = l;
        }
        let Some((a, (b, _))) = clusters.closest_pair() else {
            break;
        };
        clusters.merge_labelled(a, b, &mut label);
        count -= 1;
    }
    levels
}

/// How well `labels` separate the items: the weighted mean over items of the simplified
/// silhouette `(b - a) / max(a, b)`, where `a` is the cosine distance to the centroid of the
/// rest of the item's cluster and `b` to the nearest other centroid. In [-1, 1]; 0 for one cluster.
/// Centroids, not all pairs, so it costs `n · k` distances on hour-long meetings too.
pub fn silhouette(vectors: &[f32], dim: usize, weights: &[f32], labels: &[usize]) -> f32 {
    let k = labels.iter().max().map_or(0, |m| m + 1);
    if k < 2 {
        return 0.0;
    }
    let mut sums = vec![vec![0.0f32; dim]; k];
    for (i, &l) in labels.iter().enumerate() {
        for (s, v) in sums[l].iter_mut().zip(&vectors[i * dim..(i + 1) * dim]) {
            *s += v * weights[i];
        }
    }
    let cents: Vec<Vec<f32>> = sums.iter().map(|s| unit(s)).collect();
    let (mut total, mut mass) = (0.0f64, 0.0f64);
    for (i, &l) in labels.iter().enumerate() {
        let v = &vectors[i * dim..(i + 1) * dim];
        // The own centroid without the item (else a small cluster looks tight by including
        // itself); an item alone in its cluster scores 0, as in the classic silhouette.
        let rest: Vec<f32> = sums[l]
            .iter()
            .zip(v)
            .map(|(s, x)| s - x * weights[i])
            .collect();
        let s = if rest.iter().map(|x| x * x).sum::<f32>() < 1e-12 {
            0.0
        } else {
            let a = cosine_distance(v, &unit(&rest));
            let b = (0..k)
                .filter(|&c| c != l)
                .map(|c| cosine_distance(v, &cents[c]))
                .fold(f32::INFINITY, f32::min);
            if a.max(b) > 0.0 {
                (b - a) / a.max(b)
            } else {
                0.0
            }
        };
        total += f64::from(s * weights[i]);
        mass += f64::from(weights[i]);
    }
    if mass > 0.0 {
        (total / mass) as f32
    } else {
        0.0
    }
}

/// The fewest and most clusters `hints` allow for `n` items, each in `1..=n`.
fn count_bounds(hints: CountHints, n: usize) -> (usize, usize) {
    match hints.exact {
        Some(k) => (k.clamp(1, n), k.clamp(1, n)),
        None => (
            hints.min.clamp(1, n),
            hints.max.clamp(1, n).max(hints.min.clamp(1, n)),
        ),
    }
}

/// The merging state, one slot per item: a merged cluster lives on in the lower slot of the
/// two and the other goes inactive. Each active cluster's nearest neighbour is cached and
/// updated on every merge, so a merge costs O(n) distances instead of O(n²).
struct Clusters {
    linkage: Linkage,
    /// Weighted sum of the members' vectors.
    sums: Vec<Vec<f32>>,
    /// Sum of the members' weights.
    mass: Vec<f32>,
    /// `sums` scaled to unit length: the centroid directions.
    units: Vec<Vec<f32>>,
    active: Vec<bool>,
    /// Nearest active cluster and its adjusted distance.
    nearest: Vec<Option<(usize, f32)>>,
}

impl Clusters {
    /// One cluster per item; weights are floored at 1e-6 so no cluster is massless.
    fn new(vectors: &[f32], dim: usize, weights: &[f32], linkage: Linkage) -> Self {
        let n = weights.len();
        let sums: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                let w = weights[i].max(1e-6);
                vectors[i * dim..(i + 1) * dim]
                    .iter()
                    .map(|v| v * w)
                    .collect()
            })
            .collect();
        let mass: Vec<f32> = weights.iter().map(|w| w.max(1e-6)).collect();
        let units: Vec<Vec<f32>> = sums.iter().map(|s| unit(s)).collect();
        let mut clusters = Clusters {
            linkage,
            sums,
            mass,
            units,
            active: vec![true; n],
            nearest: Vec::new(),
        };
        clusters.nearest = (0..n).map(|a| clusters.find_nearest(a)).collect();
        clusters
    }

    /// Adjusted distance: centroid distance minus the slack both sizes earn.
    fn dist(&self, a: usize, b: usize) -> f32 {
        let linkage = self.linkage;
        let slack = |m: f32| linkage.size_slack / (m / linkage.piece_weight).max(1.0).sqrt();
        cosine_distance(&self.units[a], &self.units[b]) - slack(self.mass[a]) - slack(self.mass[b])
    }

    /// The active cluster nearest to `a` (the first of equals), with its distance.
    fn find_nearest(&self, a: usize) -> Option<(usize, f32)> {
        (0..self.active.len())
            .filter(|&c| c != a && self.active[c])
            .map(|c| (c, self.dist(a, c)))
            .min_by(|x, y| x.1.total_cmp(&y.1))
    }

    /// The active cluster with the nearest neighbour, with that neighbour and distance.
    fn closest_pair(&self) -> Option<(usize, (usize, f32))> {
        (0..self.active.len())
            .filter(|&i| self.active[i])
            .filter_map(|i| self.nearest[i].map(|x| (i, x)))
            .min_by(|x, y| x.1.1.total_cmp(&y.1.1))
    }

    /// Merges clusters `a` and `b` into the lower slot and relabels the items of the other.
    fn merge_labelled(&mut self, a: usize, b: usize, label: &mut [usize]) {
        let (keep, gone) = (a.min(b), a.max(b));
        self.merge(keep, gone);
        label
            .iter_mut()
            .filter(|l| **l == gone)
            .for_each(|l| *l = keep);
    }

    /// Merges cluster `gone` into `keep`, then updates the cached neighbours: recomputed for
    /// `keep` and for every cluster whose neighbour was one of the two, else lowered to `keep`
    /// where the merged cluster came nearer.
    fn merge(&mut self, keep: usize, gone: usize) {
        let moved = std::mem::take(&mut self.sums[gone]);
        self.sums[keep]
            .iter_mut()
            .zip(&moved)
            .for_each(|(s, m)| *s += m);
        self.mass[keep] += self.mass[gone];
        self.units[keep] = unit(&self.sums[keep]);
        self.active[gone] = false;
        self.nearest[gone] = None;
        self.nearest[keep] = self.find_nearest(keep);
        for c in 0..self.active.len() {
            if !self.active[c] || c == keep {
                continue;
            }
            match self.nearest[c] {
                Some((t, _)) if t == keep || t == gone => {
                    self.nearest[c] = self.find_nearest(c);
                }
                Some((_, old)) => {
                    let dc = self.dist(c, keep);
                    if dc < old {
                        self.nearest[c] = Some((keep, dc));
                    }
                }
                None => {}
            }
        }
    }
}

/// `s` scaled to unit length, its norm floored at 1e-12.
fn unit(s: &[f32]) -> Vec<f32> {
    let norm = s.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    s.iter().map(|x| x / norm).collect()
}

/// Moves every item to its nearest cluster centroid until nothing moves (k-means steps from
/// the agglomerative start): an early merge of a noisy piece into the wrong voice is undone
/// once the clusters' centroids are good. Empty clusters disappear; labels are renumbered by
/// first occurrence.
pub fn refine(vectors: &[f32], dim: usize, weights: &[f32], labels: &mut [usize], rounds: usize) {
    for _ in 0..rounds {
        let k = labels.iter().max().map_or(0, |m| m + 1);
        let mut sums = vec![0.0f32; k * dim];
        for (i, &l) in labels.iter().enumerate() {
            for (s, v) in sums[l * dim..(l + 1) * dim]
                .iter_mut()
                .zip(&vectors[i * dim..(i + 1) * dim])
            {
                *s += v * weights[i];
            }
        }
        for c in sums.chunks_exact_mut(dim) {
            let n = c.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                c.iter_mut().for_each(|x| *x /= n);
            }
        }
        let mut moved = false;
        for (i, l) in labels.iter_mut().enumerate() {
            let v = &vectors[i * dim..(i + 1) * dim];
            let best = (0..k)
                .max_by(|a, b| {
                    let da: f32 = sums[a * dim..(a + 1) * dim]
                        .iter()
                        .zip(v)
                        .map(|(x, y)| x * y)
                        .sum();
                    let db: f32 = sums[b * dim..(b + 1) * dim]
                        .iter()
                        .zip(v)
                        .map(|(x, y)| x * y)
                        .sum();
                    da.total_cmp(&db)
                })
                .unwrap_or(*l);
            if best != *l {
                *l = best;
                moved = true;
            }
        }
        renumber(labels);
        if !moved {
            break;
        }
    }
}

/// Labels renumbered `0..k` by first occurrence.
pub fn renumber(labels: &mut [usize]) {
    let mut map: Vec<Option<usize>> = vec![None; labels.iter().max().map_or(0, |m| m + 1)];
    let mut next = 0;
    for l in labels.iter_mut() {
        *l = *map[*l].get_or_insert_with(|| {
            next += 1;
            next - 1
        });
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

    const PLAIN: Linkage = Linkage {
        threshold: 0.3,
        size_slack: 0.0,
        piece_weight: 1.0,
    };

    #[test]
    fn threshold_finds_the_groups() {
        let labels = agglomerative(&points(), 3, &[1.0; 5], PLAIN, CountHints::default());
        assert_eq!(labels, vec![0, 0, 1, 1, 2]);
    }

    #[test]
    fn levels_follow_the_merge_order_down_to_one_cluster() {
        let levels = agglomerative_levels(&points(), 3, &[1.0; 5], PLAIN, 4);
        assert_eq!(levels.len(), 4);
        // The closest pair (2, 3) merges first.
        assert_eq!(levels[3], vec![0, 1, 2, 2, 3]);
        assert_eq!(levels[2], vec![0, 0, 1, 1, 2], "the threshold's labelling");
        assert_eq!(levels[0], vec![0; 5]);
        assert_eq!(levels[1].iter().max(), Some(&1));
    }

    #[test]
    fn silhouette_is_highest_for_the_true_groups() {
        let p = points();
        let w = [1.0; 5];
        let truth = silhouette(&p, 3, &w, &[0, 0, 1, 1, 2]);
        // Four items near their group, the lone fifth one scores 0.
        assert!(truth > 0.75, "{truth}");
        assert!(silhouette(&p, 3, &w, &[0, 0, 0, 0, 1]) < truth);
        assert!(silhouette(&p, 3, &w, &[0, 1, 2, 2, 3]) < truth);
        assert_eq!(silhouette(&p, 3, &w, &[0; 5]), 0.0);
    }

    #[test]
    fn small_clusters_get_slack_large_ones_do_not() {
        // Two directions 0.02 apart in cosine distance: as single pieces they merge under a
        // threshold of 0.01 thanks to the slack; as heavy clusters they stay apart.
        let a = unit(&[1.0, 0.2]);
        let b = unit(&[1.0, -0.0]);
        let v: Vec<f32> = a.iter().chain(&b).copied().collect();
        let link = Linkage {
            threshold: 0.01,
            size_slack: 0.02,
            piece_weight: 1.0,
        };
        assert_eq!(
            agglomerative(&v, 2, &[1.0, 1.0], link, CountHints::default()),
            vec![0, 0]
        );
        assert_eq!(
            agglomerative(&v, 2, &[400.0, 400.0], link, CountHints::default()),
            vec![0, 1]
        );
    }

    #[test]
    fn refinement_moves_a_misplaced_item() {
        let p = points();
        // item 1 starts in the wrong cluster
        let mut labels = vec![0, 1, 1, 1, 2];
        refine(&p, 3, &[1.0; 5], &mut labels, 10);
        assert_eq!(labels, vec![0, 0, 1, 1, 2]);
    }

    #[test]
    fn hints_force_the_count() {
        let p = points();
        let exact = |k| CountHints {
            exact: Some(k),
            ..CountHints::default()
        };
        let max_label = |h| {
            *agglomerative(&p, 3, &[1.0; 5], PLAIN, h)
                .iter()
                .max()
                .unwrap()
        };
        assert_eq!(max_label(exact(2)), 1);
        assert_eq!(max_label(exact(9)), 4);
        assert_eq!(
            max_label(CountHints {
                exact: None,
                min: 4,
                max: 9
            }),
            3
        );
        assert_eq!(
            max_label(CountHints {
                exact: None,
                min: 1,
                max: 1
            }),
            0
        );
    }

    #[test]
    fn cached_neighbours_match_a_naive_centroid_linkage() {
        // With no threshold stop and no slack, merging down to one cluster must follow the
        // naive algorithm step by step; compare the partitions at every count.
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let n = 24;
        let v: Vec<f32> = (0..n)
            .flat_map(|_| unit(&[rnd(), rnd(), rnd(), rnd()]))
            .collect();
        let w: Vec<f32> = (0..n).map(|i| 1.0 + (i % 3) as f32).collect();
        let mut clusters: Vec<(Vec<usize>, Vec<f32>)> = (0..n)
            .map(|i| {
                (
                    vec![i],
                    v[i * 4..i * 4 + 4].iter().map(|x| x * w[i]).collect(),
                )
            })
            .collect();
        for k in (1..n).rev() {
            let mut best = (0, 1, f32::INFINITY);
            for i in 0..clusters.len() {
                for j in i + 1..clusters.len() {
                    let d = cosine_distance(&unit(&clusters[i].1), &unit(&clusters[j].1));
                    if d < best.2 {
                        best = (i, j, d);
                    }
                }
            }
            let b = clusters.remove(best.1);
            clusters[best.0].0.extend(b.0);
            clusters[best.0]
                .1
                .iter_mut()
                .zip(&b.1)
                .for_each(|(x, y)| *x += y);
            let hints = CountHints {
                exact: Some(k),
                ..CountHints::default()
            };
            let labels = agglomerative(&v, 4, &w, PLAIN, hints);
            for (members, _) in &clusters {
                assert!(
                    members.iter().all(|&m| labels[m] == labels[members[0]]),
                    "k={k}"
                );
            }
        }
    }
}
