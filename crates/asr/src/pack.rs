//! Speech-span packing: the VAD's speech spans of a chunk are padded, merged and packed into
//! windows of at most one whisper window (30 s) each, so whisper never decodes silence (where
//! it hallucinates "Thank you.") and never spends an encoder pass on it. Each window remembers
//! where its pieces came from, so times in the packed audio map back to chunk time.
//!
//! Pure functions of their inputs (samples are passed in); unit-tested below.

/// whisper.cpp's only sample rate.
pub const SAMPLE_RATE: usize = 16_000;

/// How spans become windows.
#[derive(Debug, Clone, Copy)]
pub struct PackOptions {
    /// Audio kept on each side of a speech span (VAD edges clip word onsets and endings).
    pub pad_s: f64,
    /// Longest window. Just under whisper's 30 s so the whole window is one encoder pass and
    /// whisper.cpp never seeks into a second, nearly empty window.
    pub max_window_s: f64,
}

impl Default for PackOptions {
    fn default() -> Self {
        Self {
            pad_s: 0.2,
            max_window_s: 29.5,
        }
    }
}

/// A stretch of the chunk copied into a window: `src_start..src_end` in chunk samples, placed at
/// `packed_start` samples into the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub src_start: usize,
    pub src_end: usize,
    pub packed_start: usize,
}

impl Piece {
    fn len(&self) -> usize {
        self.src_end - self.src_start
    }
    fn packed_end(&self) -> usize {
        self.packed_start + self.len()
    }
}

/// One decode unit: pieces of the chunk laid end to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub pieces: Vec<Piece>,
}

impl Window {
    /// Length in samples.
    pub fn len(&self) -> usize {
        self.pieces.last().map_or(0, Piece::packed_end)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The window's audio, copied out of the chunk.
    pub fn gather(&self, samples: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.len());
        for p in &self.pieces {
            out.extend_from_slice(
                &samples[p.src_start.min(samples.len())..p.src_end.min(samples.len())],
            );
        }
        out
    }

    /// Index of the piece holding packed time `t` (seconds); a time exactly on a joint
    /// belongs to the later piece; clamps outside the window.
    pub fn piece_at(&self, t: f64) -> usize {
        let s = secs_to_samples(t.max(0.0));
        let found = self.pieces.iter().position(|p| s < p.packed_end());
        found.unwrap_or(self.pieces.len().saturating_sub(1))
    }

    /// Chunk time (seconds) of packed time `t`, inside piece `idx` (clamped to that piece).
    pub fn to_source_in(&self, idx: usize, t: f64) -> f64 {
        let Some(p) = self.pieces.get(idx) else {
            return 0.0;
        };
        let s = secs_to_samples(t.max(0.0)).clamp(p.packed_start, p.packed_end());
        samples_to_secs(p.src_start + (s - p.packed_start))
    }
}

impl Window {
    /// The part of this window after packed time `t` (seconds), re-packed from 0: what is
    /// left to decode when whisper stopped early. `None` when nothing is left.
    pub fn tail_from(&self, t: f64) -> Option<Window> {
        let cut = secs_to_samples(t.max(0.0));
        let mut pieces = Vec::new();
        let mut at = 0;
        for p in &self.pieces {
            if p.packed_end() <= cut {
                continue;
            }
            let skip = cut.saturating_sub(p.packed_start);
            let piece = Piece {
                src_start: p.src_start + skip,
                src_end: p.src_end,
                packed_start: at,
            };
            at += piece.len();
            pieces.push(piece);
        }
        (!pieces.is_empty()).then_some(Window { pieces })
    }
}

/// The window language detection listens to: the longest (the first such on a tie), so the
/// detector gets the most speech and the choice depends on the chunk alone.
pub fn longest_window(windows: &[Window]) -> Option<&Window> {
    windows
        .iter()
        .enumerate()
        .max_by_key(|(i, w)| (w.len(), std::cmp::Reverse(*i)))
        .map(|(_, w)| w)
}

pub fn secs_to_samples(t: f64) -> usize {
    (t * SAMPLE_RATE as f64).round().max(0.0) as usize
}

pub fn samples_to_secs(s: usize) -> f64 {
    s as f64 / SAMPLE_RATE as f64
}

/// Plan the windows for a chunk of `samples` given VAD `spans` (chunk-local seconds).
/// Empty `spans` yields no windows (the caller decides what "no spans" means).
pub fn plan_windows(spans: &[(f64, f64)], samples: &[f32], opts: &PackOptions) -> Vec<Window> {
    let max = secs_to_samples(opts.max_window_s).max(SAMPLE_RATE);
    let merged = pad_and_merge(spans, samples.len(), secs_to_samples(opts.pad_s));
    let mut pieces_src = Vec::new();
    for (a, b) in merged {
        split_long(a, b, max, samples, &mut pieces_src);
    }
    let mut windows: Vec<Window> = Vec::new();
    let mut current = Window { pieces: Vec::new() };
    for (a, b) in pieces_src {
        if current.len() + (b - a) > max && !current.pieces.is_empty() {
            windows.push(std::mem::replace(
                &mut current,
                Window { pieces: Vec::new() },
            ));
        }
        let at = current.len();
        current.pieces.push(Piece {
            src_start: a,
            src_end: b,
            packed_start: at,
        });
    }
    if !current.pieces.is_empty() {
        windows.push(current);
    }
    windows
}

/// Pad each span, clamp to the chunk, drop empty or NaN spans, merge overlaps. Sample units.
fn pad_and_merge(spans: &[(f64, f64)], n: usize, pad: usize) -> Vec<(usize, usize)> {
    let mut v: Vec<(usize, usize)> = spans
        .iter()
        .filter(|(a, b)| a.is_finite() && b.is_finite() && b > a)
        .map(|&(a, b)| {
            let a = secs_to_samples(a).saturating_sub(pad).min(n);
            let b = (secs_to_samples(b) + pad).min(n);
            (a, b)
        })
        .filter(|(a, b)| b > a)
        .collect();
    v.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Cut a span longer than `max` at its quietest 50 ms frame in the second half of each window
/// (cutting mid-word would garble the word on both sides).
fn split_long(mut a: usize, b: usize, max: usize, samples: &[f32], out: &mut Vec<(usize, usize)>) {
    const FRAME: usize = SAMPLE_RATE / 20;
    while b - a > max {
        let lo = a + max / 2;
        let hi = a + max - FRAME;
        let mut best = (f32::INFINITY, a + max);
        let mut s = lo;
        while s + FRAME <= hi {
            let e: f32 = samples
                .get(s..s + FRAME)
                .map_or(0.0, |f| f.iter().map(|x| x * x).sum());
            if e < best.0 {
                best = (e, s + FRAME / 2);
            }
            s += FRAME;
        }
        out.push((a, best.1));
        a = best.1;
    }
    out.push((a, b));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(s: f64) -> usize {
        secs_to_samples(s)
    }

    #[test]
    fn spans_are_padded_merged_and_packed() {
        let samples = vec![0.1f32; sec(100.0)];
        let spans = [(1.0, 5.0), (5.3, 8.0), (20.0, 40.0), (60.0, 63.0)];
        let w = plan_windows(&spans, &samples, &PackOptions::default());
        // 0.8–8.2 (merged, 7.4 s) + 19.8–40.2 (20.4 s) = 27.8 s; 59.8–63.2 would pass 29.5 s.
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].pieces.len(), 2);
        assert_eq!(w[0].pieces[0].src_start, sec(0.8));
        assert_eq!(w[0].pieces[0].src_end, sec(8.2));
        assert_eq!(w[0].pieces[1].packed_start, sec(7.4));
        assert_eq!(w[1].pieces[0].src_start, sec(59.8));
        assert!(w.iter().all(|w| w.len() <= sec(29.5)));
    }

    #[test]
    fn the_longest_window_is_the_first_of_the_longest() {
        let w = |start: usize, len: usize| Window {
            pieces: vec![Piece {
                src_start: start,
                src_end: start + len,
                packed_start: 0,
            }],
        };
        let windows = [w(0, 10), w(100, 30), w(200, 30), w(300, 5)];
        assert_eq!(longest_window(&windows), Some(&windows[1]));
        assert_eq!(longest_window(&[]), None);
    }

    #[test]
    fn times_map_back_piecewise() {
        let samples = vec![0.1f32; sec(100.0)];
        let w = &plan_windows(
            &[(10.2, 12.0), (50.2, 52.0)],
            &samples,
            &PackOptions::default(),
        )[0];
        // piece 0: 10.0–12.2 at 0; piece 1: 50.0–52.2 at 2.2
        assert_eq!(w.piece_at(1.0), 0);
        assert!((w.to_source_in(0, 1.0) - 11.0).abs() < 1e-6);
        assert_eq!(w.piece_at(3.2), 1);
        assert!((w.to_source_in(1, 3.2) - 51.0).abs() < 1e-6);
        // exactly on the joint: the later piece; read in the earlier one, its end
        assert_eq!(w.piece_at(2.2), 1);
        assert!((w.to_source_in(1, 2.2) - 50.0).abs() < 1e-6);
        assert!((w.to_source_in(0, 2.2) - 12.2).abs() < 1e-6);
        // past the end: the last piece, clamped to its end
        assert_eq!(w.piece_at(29.0), 1);
        assert!((w.to_source_in(1, 29.0) - 52.2).abs() < 1e-6);
    }

    #[test]
    fn long_spans_are_cut_at_the_quietest_point() {
        let mut samples = vec![0.5f32; sec(70.0)];
        // a pause at 22.0–22.3 s
        for x in &mut samples[sec(22.0)..sec(22.3)] {
            *x = 0.0;
        }
        let w = plan_windows(&[(0.0, 70.0)], &samples, &PackOptions::default());
        assert!(w.len() >= 3);
        let cut = w[0].pieces[0].src_end as f64 / SAMPLE_RATE as f64;
        assert!((22.0..=22.3).contains(&cut), "cut at {cut}");
        let total: usize = w.iter().map(Window::len).sum();
        assert_eq!(total, samples.len());
        assert!(w.iter().all(|w| w.len() <= sec(29.5)));
    }

    #[test]
    fn the_tail_after_an_early_stop_is_repacked() {
        let w = Window {
            pieces: vec![
                Piece {
                    src_start: sec(1.0),
                    src_end: sec(3.0),
                    packed_start: 0,
                },
                Piece {
                    src_start: sec(10.0),
                    src_end: sec(14.0),
                    packed_start: sec(2.0),
                },
            ],
        };
        let tail = w.tail_from(3.0).unwrap();
        assert_eq!(
            tail.pieces,
            vec![Piece {
                src_start: sec(11.0),
                src_end: sec(14.0),
                packed_start: 0
            }]
        );
        assert_eq!(w.tail_from(0.5).unwrap().len(), w.len() - sec(0.5));
        assert!(w.tail_from(6.0).is_none());
    }

    #[test]
    fn junk_spans_are_ignored() {
        let samples = vec![0.0f32; sec(5.0)];
        let w = plan_windows(
            &[(3.0, 2.0), (f64::NAN, 1.0), (10.0, 12.0)],
            &samples,
            &PackOptions::default(),
        );
        assert!(w.is_empty());
        assert_eq!(w.iter().map(|w| w.gather(&samples).len()).sum::<usize>(), 0);
    }
}
