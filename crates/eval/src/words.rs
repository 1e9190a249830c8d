//! Word times and word speakers against a meeting's reference turns.
//!
//! The reference gives each sentence's start and each turn's speaker; the hypothesis is the
//! transcript's words (start, speaker, text). Both are normalised (DESIGN §4) and aligned by
//! edit distance over the normalised words; a hypothesis word that spells several normalised
//! words ("2025") contributes each of them with its own start and speaker.
//! - Start error: for every reference sentence whose first word is aligned to a hypothesis
//!   word, `|hypothesis start − sentence start|`.
//! - Attribution: of the aligned words, the fraction whose hypothesis speaker maps to the
//!   reference speaker, speakers mapped one-to-one by how many words they share (greedy).

use std::collections::HashMap;

use crate::manifest::Turn;
use crate::normalize::normalize;

/// One transcript word as the hypothesis.
#[derive(Debug, Clone, PartialEq)]
pub struct HypWord {
    pub start: f64,
    pub speaker: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WordScore {
    /// Sentence-start errors, seconds, one per aligned sentence start.
    pub start_errors: Vec<f64>,
    /// Aligned words, and of them those carrying their reference speaker.
    pub aligned: usize,
    pub attributed: usize,
    /// Reference words in all.
    pub reference_words: usize,
}

impl WordScore {
    pub fn median_start_error(&self) -> Option<f64> {
        let mut v = self.start_errors.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    }

    pub fn attribution(&self) -> f64 {
        if self.aligned == 0 {
            0.0
        } else {
            self.attributed as f64 / self.aligned as f64
        }
    }
}

/// Reference words: (key, speaker, start of its sentence when it opens one).
fn reference(turns: &[Turn]) -> Vec<(String, String, Option<f64>)> {
    let mut out = Vec::new();
    for t in turns {
        let sentences: Vec<(f64, &str)> = if t.sentences.is_empty() {
            vec![(t.start_s, t.text.as_deref().unwrap_or_default())]
        } else {
            t.sentences
                .iter()
                .map(|s| (s.start_s, s.text.as_str()))
                .collect()
        };
        for (start, text) in sentences {
            for (i, w) in normalize(text).into_iter().enumerate() {
                out.push((w, t.speaker.clone(), (i == 0).then_some(start)));
            }
        }
    }
    out
}

/// Score `hyp` (in time order) against the meeting's reference `turns`.
pub fn score_words(turns: &[Turn], hyp: &[HypWord]) -> WordScore {
    let reference = reference(turns);
    let hyp: Vec<(String, f64, Option<&str>)> = hyp
        .iter()
        .flat_map(|h| {
            normalize(&h.text)
                .into_iter()
                .map(move |k| (k, h.start, h.speaker.as_deref()))
        })
        .collect();
    let a: Vec<&str> = reference.iter().map(|r| r.0.as_str()).collect();
    let b: Vec<&str> = hyp.iter().map(|h| h.0.as_str()).collect();
    let pairs = align(&a, &b);
    let mut start_errors = Vec::new();
    let mut together: HashMap<(&str, &str), usize> = HashMap::new();
    for &(i, j) in &pairs {
        if let Some(truth) = reference[i].2 {
            start_errors.push((hyp[j].1 - truth).abs());
        }
        if let Some(s) = hyp[j].2 {
            *together.entry((s, reference[i].1.as_str())).or_default() += 1;
        }
    }
    // One-to-one speaker map, largest shared counts first.
    let mut counts: Vec<((&str, &str), usize)> = together.into_iter().collect();
    counts.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut map: HashMap<&str, &str> = HashMap::new();
    let mut used: Vec<&str> = Vec::new();
    for ((h, r), _) in counts {
        if !map.contains_key(h) && !used.contains(&r) {
            map.insert(h, r);
            used.push(r);
        }
    }
    let attributed = pairs
        .iter()
        .filter(|&&(i, j)| hyp[j].2.and_then(|s| map.get(s)) == Some(&reference[i].1.as_str()))
        .count();
    WordScore {
        start_errors,
        aligned: pairs.len(),
        attributed,
        reference_words: reference.len(),
    }
}

/// Index pairs of equal words on a minimum edit-distance alignment of `a` and `b`.
fn align(a: &[&str], b: &[&str]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let w = m + 1;
    let mut d = vec![0u32; (n + 1) * w];
    for i in 0..=n {
        d[i * w] = i as u32;
    }
    for (j, cell) in d.iter_mut().enumerate().take(m + 1) {
        *cell = j as u32;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[(i - 1) * w + j - 1] + u32::from(a[i - 1] != b[j - 1]);
            d[i * w + j] = sub.min(d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1);
        }
    }
    let (mut i, mut j, mut out) = (n, m, Vec::new());
    while i > 0 && j > 0 {
        let here = d[i * w + j];
        if a[i - 1] == b[j - 1] && here == d[(i - 1) * w + j - 1] {
            out.push((i - 1, j - 1));
            i -= 1;
            j -= 1;
        } else if here == d[(i - 1) * w + j - 1] + 1 {
            i -= 1;
            j -= 1;
        } else if here == d[(i - 1) * w + j] + 1 {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Sentence;

    fn turn(speaker: &str, sentences: &[(f64, &str)]) -> Turn {
        Turn {
            speaker: speaker.into(),
            start_s: sentences[0].0,
            end_s: sentences[0].0 + 5.0,
            text: None,
            sentences: sentences
                .iter()
                .map(|(s, t)| Sentence {
                    start_s: *s,
                    end_s: s + 2.0,
                    text: (*t).into(),
                })
                .collect(),
        }
    }

    fn hyp(start: f64, speaker: &str, text: &str) -> HypWord {
        HypWord {
            start,
            speaker: Some(speaker.into()),
            text: text.into(),
        }
    }

    #[test]
    fn starts_and_speakers_are_scored_on_aligned_words() {
        let turns = vec![
            turn("ANNA", &[(1.0, "Good morning all."), (3.0, "Two topics.")]),
            turn("BEN", &[(6.0, "Thanks Anna.")]),
        ];
        let words = vec![
            hyp(1.1, "S1", "Good"),
            hyp(1.4, "S1", "morning"),
            hyp(1.7, "S1", "all."),
            hyp(3.3, "S1", "2"),
            hyp(3.6, "S1", "topics."),
            hyp(6.0, "S1", "Thanks,"),
            hyp(6.4, "S2", "Anna."),
        ];
        let s = score_words(&turns, &words);
        assert_eq!(s.reference_words, 7);
        assert_eq!(s.aligned, 7);
        let mut e = s.start_errors.clone();
        e.sort_by(f64::total_cmp);
        assert!(
            (e[0] - 0.0).abs() < 1e-9 && (e[1] - 0.1).abs() < 1e-9 && (e[2] - 0.3).abs() < 1e-9
        );
        assert!((s.median_start_error().unwrap() - 0.1).abs() < 1e-9);
        // S1 ↦ ANNA (5 words), S2 ↦ BEN: "Thanks," under S1 is the one miss.
        assert_eq!(s.attributed, 6);
    }
}
