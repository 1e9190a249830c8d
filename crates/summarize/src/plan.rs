//! Splitting a transcript into windows that fit a context, and grouping notes for reduce.

use nightshift_core::Segment;
use serde::{Deserialize, Serialize};

/// A conservative token estimate for English text with BPE vocabularies: ~3 bytes per token
/// (real tokenizers give 3.5–4.5 on meeting speech), so a window sized with it fits.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3)
}

/// One L1 (map) input: consecutive transcript lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapWindow {
    pub index: usize,
    pub start: f64,
    pub end: f64,
    /// `[mm:ss] Speaker: text` lines.
    pub text: String,
    pub est_tokens: usize,
    /// Set when one segment alone was longer than the budget and had to be cut into parts.
    pub split_segment: bool,
}

fn clock(t: f64) -> String {
    let s = t.max(0.0).round() as u64;
    format!("{:02}:{:02}", s / 60, s % 60)
}

fn line(seg: &Segment, text: &str) -> String {
    match &seg.speaker {
        Some(sp) => format!("[{}] {sp}: {}\n", clock(seg.start), text.trim()),
        None => format!("[{}] {}\n", clock(seg.start), text.trim()),
    }
}

/// Pack segments into windows of at most `budget_tokens` (estimated). Every word of every
/// segment lands in exactly one window, in order.
pub fn plan_map_windows(segments: &[Segment], budget_tokens: usize) -> Vec<MapWindow> {
    let budget = budget_tokens.max(16);
    let mut windows: Vec<MapWindow> = Vec::new();
    let mut cur: Option<MapWindow> = None;
    let flush = |cur: &mut Option<MapWindow>, windows: &mut Vec<MapWindow>| {
        if let Some(mut w) = cur.take() {
            w.index = windows.len();
            windows.push(w);
        }
    };
    for seg in segments.iter().filter(|s| !s.text.trim().is_empty()) {
        for piece in split_to_fit(seg, budget) {
            let l = line(seg, &piece);
            let t = estimate_tokens(&l);
            let split = piece.len() < seg.text.trim().len();
            if let Some(w) = cur.as_mut()
                && w.est_tokens + t <= budget
            {
                w.text.push_str(&l);
                w.est_tokens += t;
                w.end = seg.end;
                w.split_segment |= split;
                continue;
            }
            flush(&mut cur, &mut windows);
            cur = Some(MapWindow {
                index: 0,
                start: seg.start,
                end: seg.end,
                text: l,
                est_tokens: t,
                split_segment: split,
            });
        }
    }
    flush(&mut cur, &mut windows);
    windows
}

/// A segment's text in word-boundary pieces whose lines each fit `budget` tokens.
fn split_to_fit(seg: &Segment, budget: usize) -> Vec<String> {
    let text = seg.text.trim();
    if estimate_tokens(&line(seg, text)) <= budget {
        return vec![text.to_string()];
    }
    let overhead = estimate_tokens(&line(seg, ""));
    let max_bytes = budget.saturating_sub(overhead).max(4) * 3;
    let mut out = Vec::new();
    let mut piece = String::new();
    for word in text.split_whitespace() {
        if !piece.is_empty() && piece.len() + 1 + word.len() > max_bytes {
            out.push(std::mem::take(&mut piece));
        }
        if !piece.is_empty() {
            piece.push(' ');
        }
        piece.push_str(word);
    }
    if !piece.is_empty() {
        out.push(piece);
    }
    out
}

/// One reduce step: the inputs (by index into the level's items) reduced together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceGroup {
    pub inputs: Vec<usize>,
    pub est_tokens: usize,
}

/// Group reduce inputs (their estimated token sizes) so each group fits `budget_tokens`.
/// One group means this level is the final reduce; more mean another level follows.
/// Every group but a lone last one takes at least two inputs, even past the budget, so each
/// level at least halves the count and the hierarchy always ends (the caller sizes the context
/// so that two maximal outputs fit).
pub fn plan_reduce(input_tokens: &[usize], budget_tokens: usize) -> Vec<ReduceGroup> {
    let budget = budget_tokens.max(1);
    let mut groups: Vec<ReduceGroup> = Vec::new();
    for (i, &t) in input_tokens.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if g.est_tokens + t <= budget || g.inputs.len() < 2 => {
                g.inputs.push(i);
                g.est_tokens += t;
            }
            _ => groups.push(ReduceGroup {
                inputs: vec![i],
                est_tokens: t,
            }),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f64, text: &str) -> Segment {
        Segment {
            start,
            end: start + 2.0,
            speaker: Some("Ana".into()),
            text: text.into(),
            words: Vec::new(),
        }
    }

    fn words(s: &str) -> Vec<String> {
        s.lines()
            .flat_map(|l| l.split_once(": ").map_or(l, |(_, t)| t).split_whitespace())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_transcript_four_times_the_context_keeps_every_word_in_order() {
        let segments: Vec<Segment> = (0..200)
            .map(|i| {
                seg(
                    i as f64 * 3.0,
                    &format!("point {i} about the roadmap and the budget for quarter {i}"),
                )
            })
            .collect();
        let all: Vec<String> = segments
            .iter()
            .flat_map(|s| s.text.split_whitespace().map(str::to_string))
            .collect();
        let total: usize = segments
            .iter()
            .map(|s| estimate_tokens(&line(s, &s.text)))
            .sum();
        let budget = total / 4;
        let windows = plan_map_windows(&segments, budget);
        assert!(windows.len() >= 4, "{} windows", windows.len());
        assert!(windows.iter().all(|w| w.est_tokens <= budget));
        let got: Vec<String> = windows.iter().flat_map(|w| words(&w.text)).collect();
        assert_eq!(got, all, "a word was dropped, duplicated or reordered");
        assert!(windows.windows(2).all(|p| p[0].end <= p[1].start + 2.0));
    }

    #[test]
    fn a_segment_longer_than_the_budget_is_split_at_words_and_marked() {
        let long = "word ".repeat(300);
        let windows = plan_map_windows(&[seg(0.0, &long)], 100);
        assert!(windows.len() > 1);
        assert!(
            windows
                .iter()
                .all(|w| w.split_segment && w.est_tokens <= 100)
        );
        let n: usize = windows.iter().map(|w| words(&w.text).len()).sum();
        assert_eq!(n, 300);
    }

    #[test]
    fn reduce_groups_fit_and_cover_every_input_once() {
        let groups = plan_reduce(&[40, 40, 40, 90, 10, 10], 100);
        let flat: Vec<usize> = groups.iter().flat_map(|g| g.inputs.clone()).collect();
        assert_eq!(flat, vec![0, 1, 2, 3, 4, 5]);
        assert!(
            groups
                .iter()
                .all(|g| g.est_tokens <= 100 || g.inputs.len() == 2)
        );
        assert_eq!(
            plan_reduce(&[10, 20, 30], 100).len(),
            1,
            "fits: one final reduce"
        );
        assert_eq!(
            plan_reduce(&[150], 100).len(),
            1,
            "oversized input stands alone"
        );
        // Inputs each near the budget still pair up, so every level shrinks.
        let g = plan_reduce(&[90, 90, 90, 90, 90], 100);
        let sizes: Vec<usize> = g.iter().map(|g| g.inputs.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
    }
}
