//! Keeping a segment's word times in step with its text.
//!
//! The guards may change a segment's text (a decoding loop collapsed, words repeated at a chunk
//! join removed); its words must then match again: one word per whitespace-separated word of
//! the text, in order. Words are matched to the text by their keys (longest common
//! subsequence); a text word without a match gets times between its matched neighbours.

use nightshift_core::Word;

use super::guards::word_key;

/// The words of `text`, timed from `words` where they match, within `start..end`. Empty when
/// `words` is empty (the engine gave no word times).
pub fn reconcile(text: &str, words: &[Word], start: f64, end: f64) -> Vec<Word> {
    let wanted: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || wanted.is_empty() {
        return Vec::new();
    }
    let same = wanted.len() == words.len() && wanted.iter().zip(words).all(|(t, w)| *t == w.text);
    if same {
        return clamp(words.to_vec(), start, end);
    }
    let keys_t: Vec<String> = wanted.iter().map(|w| word_key(w)).collect();
    let keys_w: Vec<String> = words.iter().map(|w| word_key(&w.text)).collect();
    let matched = lcs(&keys_t, &keys_w);
    let mut out: Vec<Option<Word>> = vec![None; wanted.len()];
    for (ti, wi) in matched {
        out[ti] = Some(Word {
            text: wanted[ti].to_string(),
            ..words[wi].clone()
        });
    }
    // Unmatched words: spread evenly between the neighbours' times.
    let mut i = 0;
    while i < out.len() {
        if out[i].is_some() {
            i += 1;
            continue;
        }
        let gap_end = (i..out.len())
            .find(|&j| out[j].is_some())
            .unwrap_or(out.len());
        let from = if i == 0 {
            start
        } else {
            out[i - 1].as_ref().map_or(start, |w| w.end)
        };
        let to = out
            .get(gap_end)
            .and_then(|w| w.as_ref())
            .map_or(end, |w| w.start)
            .max(from);
        let n = (gap_end - i) as f64;
        for (k, slot) in out[i..gap_end].iter_mut().enumerate() {
            let a = from + (to - from) * k as f64 / n;
            let b = from + (to - from) * (k + 1) as f64 / n;
            *slot = Some(Word {
                start: a,
                end: b,
                text: wanted[i + k].to_string(),
                p: 0.0,
            });
        }
        i = gap_end;
    }
    clamp(out.into_iter().flatten().collect(), start, end)
}

/// Times inside `start..end` and never going backwards.
fn clamp(mut words: Vec<Word>, start: f64, end: f64) -> Vec<Word> {
    let mut floor = start;
    for w in &mut words {
        w.start = w.start.clamp(floor, end.max(floor));
        w.end = w.end.clamp(w.start, end.max(w.start));
        floor = w.start;
    }
    words
}

/// Index pairs of a longest common subsequence of `a` and `b` (empty keys never match).
fn lcs(a: &[String], b: &[String]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let mut t = vec![0u16; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[at(i, j)] = if !a[i].is_empty() && a[i] == b[j] {
                t[at(i + 1, j + 1)] + 1
            } else {
                t[at(i + 1, j)].max(t[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n && j < m {
        if !a[i].is_empty() && a[i] == b[j] {
            out.push((i, j));
            i += 1;
            j += 1;
        } else if t[at(i + 1, j)] >= t[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str, start: f64, end: f64) -> Word {
        Word {
            start,
            end,
            text: text.into(),
            p: 0.9,
        }
    }

    #[test]
    fn unchanged_text_keeps_its_words() {
        let words = vec![w("Hello", 1.0, 1.4), w("there.", 1.4, 2.0)];
        assert_eq!(reconcile("Hello there.", &words, 1.0, 2.0), words);
    }

    #[test]
    fn words_removed_at_a_join_take_their_times_with_them() {
        let words = vec![
            w("the", 0.0, 0.2),
            w("demo", 0.2, 0.6),
            w("Next,", 1.0, 1.3),
            w("the", 1.3, 1.5),
            w("budget.", 1.5, 2.0),
        ];
        let out = reconcile("Next, the budget.", &words, 0.0, 2.0);
        let got: Vec<(&str, f64)> = out.iter().map(|w| (w.text.as_str(), w.start)).collect();
        assert_eq!(got, vec![("Next,", 1.0), ("the", 1.3), ("budget.", 1.5)]);
    }

    #[test]
    fn a_text_word_without_a_match_is_placed_between_its_neighbours() {
        let words = vec![w("one", 0.0, 1.0), w("three", 2.0, 3.0)];
        let out = reconcile("one two three", &words, 0.0, 3.0);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1].text, "two");
        assert!((out[1].start - 1.0).abs() < 1e-9 && (out[1].end - 2.0).abs() < 1e-9);
        assert!(reconcile("anything", &[], 0.0, 1.0).is_empty());
    }
}
