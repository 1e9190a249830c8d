//! Word error rate: word-level Levenshtein alignment, pooled over a set (DESIGN §4: pooled over
//! all words of a set, not averaged per clip).

use serde::{Deserialize, Serialize};

/// Edit counts of one reference/hypothesis pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WerCounts {
    pub substitutions: usize,
    pub deletions: usize,
    pub insertions: usize,
    pub ref_words: usize,
}

impl WerCounts {
    pub fn errors(&self) -> usize {
        self.substitutions + self.deletions + self.insertions
    }

    /// WER of this pair alone; see [`pooled_wer`] for the empty-reference convention.
    pub fn wer(&self) -> f64 {
        pooled_wer(std::slice::from_ref(self))
    }
}

impl std::ops::Add for WerCounts {
    type Output = WerCounts;
    fn add(self, o: WerCounts) -> WerCounts {
        WerCounts {
            substitutions: self.substitutions + o.substitutions,
            deletions: self.deletions + o.deletions,
            insertions: self.insertions + o.insertions,
            ref_words: self.ref_words + o.ref_words,
        }
    }
}

/// Minimal-edit alignment of `hypothesis` against `reference`.
///
/// Keeps two DP rows whose cells carry their own S/D/I counts, so memory is linear in the
/// hypothesis length (a long meeting is thousands of words on each side). Among equally cheap
/// alignments a substitution is preferred to a deletion + insertion pair, then deletions to
/// insertions, which is the usual convention (jiwer, sclite) and keeps counts deterministic.
pub fn wer_counts(reference: &[String], hypothesis: &[String]) -> WerCounts {
    #[derive(Clone, Copy, Default)]
    struct Cell {
        cost: usize,
        s: usize,
        d: usize,
        i: usize,
    }
    // Row for reference prefix 0: the hypothesis words so far are all insertions.
    let mut prev: Vec<Cell> = (0..=hypothesis.len())
        .map(|j| Cell {
            cost: j,
            i: j,
            ..Cell::default()
        })
        .collect();
    let mut cur = prev.clone();
    for (r_idx, r) in reference.iter().enumerate() {
        cur[0] = Cell {
            cost: r_idx + 1,
            d: r_idx + 1,
            ..Cell::default()
        };
        for (h_idx, h) in hypothesis.iter().enumerate() {
            let j = h_idx + 1;
            let same = r == h;
            let mut diag = prev[j - 1];
            if !same {
                diag.cost += 1;
                diag.s += 1;
            }
            let mut del = prev[j];
            del.cost += 1;
            del.d += 1;
            let mut ins = cur[j - 1];
            ins.cost += 1;
            ins.i += 1;
            cur[j] = if diag.cost <= del.cost && diag.cost <= ins.cost {
                diag
            } else if del.cost <= ins.cost {
                del
            } else {
                ins
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let last = prev[hypothesis.len()];
    WerCounts {
        substitutions: last.s,
        deletions: last.d,
        insertions: last.i,
        ref_words: reference.len(),
    }
}

/// Errors over all pairs divided by reference words over all pairs.
///
/// With no reference words at all, any inserted word is infinitely wrong: the result is 0.0
/// when the hypothesis is empty too, and `f64::INFINITY` otherwise (a hallucination into
/// silence must never score as perfect).
pub fn pooled_wer(counts: &[WerCounts]) -> f64 {
    let total = counts.iter().fold(WerCounts::default(), |a, b| a + *b);
    match (total.errors(), total.ref_words) {
        (0, _) => 0.0,
        (_, 0) => f64::INFINITY,
        (e, r) => e as f64 / r as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn counts(r: &str, h: &str) -> (usize, usize, usize, usize) {
        let c = wer_counts(&w(r), &w(h));
        (c.substitutions, c.deletions, c.insertions, c.ref_words)
    }

    #[test]
    fn known_pairs() {
        let cases = [
            ("a b c", "a b c", (0, 0, 0, 3)),
            ("a b c", "a x c", (1, 0, 0, 3)),
            ("a b c", "a c", (0, 1, 0, 3)),
            ("a b c", "a b c d", (0, 0, 1, 3)),
            ("a b c", "", (0, 3, 0, 3)),
            ("", "a b", (0, 0, 2, 0)),
            ("", "", (0, 0, 0, 0)),
            ("the cat sat on the mat", "the cat sat on mat", (0, 1, 0, 6)),
            // equal cost either way: two substitutions win over a deletion + an insertion
            (
                "the cat sat on the mat",
                "the cat sat on mat today",
                (2, 0, 0, 6),
            ),
            ("a b c d", "b c d e", (0, 1, 1, 4)),
            ("one two three", "three two one", (2, 0, 0, 3)),
        ];
        for (r, h, want) in cases {
            assert_eq!(counts(r, h), want, "{r:?} vs {h:?}");
        }
    }

    #[test]
    fn pooled_is_over_words_not_clips() {
        // 1 error in 1 word and 0 errors in 9 words: per-clip mean is 50 %, pooled is 10 %.
        let a = wer_counts(&w("x"), &w("y"));
        let b = wer_counts(&w("a b c d e f g h i"), &w("a b c d e f g h i"));
        assert!((pooled_wer(&[a, b]) - 0.1).abs() < 1e-12);
        assert_eq!(pooled_wer(&[]), 0.0);
        assert_eq!(wer_counts(&[], &w("you")).wer(), f64::INFINITY);
        assert_eq!(wer_counts(&[], &[]).wer(), 0.0);
    }
}
