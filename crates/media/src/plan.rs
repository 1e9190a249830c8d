//! Chunk planning: where to cut the decoded timeline, given the VAD's speech spans.
//!
//! Pure: no audio, no I/O, only sample positions. [`ChunkPlanner`] is fed spans as the VAD
//! settles them and closes chunks as soon as enough is known, so ingest can write each chunk
//! while decoding goes on; [`plan_chunks`] runs the same logic over a finished timeline.
//!
//! Rules, in order:
//! 1. A pause of `long_silence` or more ends a *run*: the chunk closes `margin` after the last
//!    speech, the silence becomes a no-speech span, and the next chunk opens `margin` before the
//!    next speech. Such a chunk may be shorter than `min` (as may the last chunk of the file).
//! 2. Otherwise a chunk closes in `[start + min, start + max]`, in the middle of the longest
//!    pause inside that window (pauses clipped to it). Never inside a speech span.
//! 3. Only if the window holds no pause at all (continuous speech for `max - min`) is the cut
//!    forced, at the `fallback` position (the quietest frame, chosen by the caller).

use crate::vad::Span;

/// Planner parameters in samples (16 kHz).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanParams {
    pub min: u64,
    pub max: u64,
    /// A pause at least this long is not chunked (10 s: longer than any conversational pause,
    /// short enough that a screen-share or break never costs ASR time).
    pub long_silence: u64,
    /// Silence kept around speech at run edges (whisper needs a little lead-in).
    pub margin: u64,
}

impl PlanParams {
    pub fn from_seconds(min_s: f64, max_s: f64) -> Self {
        let s = |x: f64| (x.max(0.0) * 16_000.0).round() as u64;
        let max = s(max_s).max(1);
        PlanParams {
            min: s(min_s).min(max),
            max,
            long_silence: s(10.0),
            margin: s(0.5),
        }
    }
}

/// A chunk the planner has closed: `[start, end)` in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub start: u64,
    pub end: u64,
    /// The cut at `end` had to go inside speech (no pause in the window).
    pub forced: bool,
}

/// Online planner. Feed spans in order with [`push_span`](Self::push_span), then
/// [`advance`](Self::advance) with the VAD's settled position; at end of stream call
/// [`finish`](Self::finish).
#[derive(Debug)]
pub struct ChunkPlanner {
    p: PlanParams,
    /// Start of the open chunk.
    open: Option<u64>,
    /// Speech spans at or after the open chunk's start (or waiting to open one).
    spans: Vec<Span>,
    /// End of the last closed chunk: chunks never overlap.
    prev_end: u64,
}

impl ChunkPlanner {
    pub fn new(p: PlanParams) -> Self {
        ChunkPlanner {
            p,
            open: None,
            spans: Vec::new(),
            prev_end: 0,
        }
    }

    pub fn push_span(&mut self, span: Span) {
        if span.1 > span.0 {
            self.spans.push(span);
        }
    }

    /// The earliest sample a future chunk can still contain: audio before it may be dropped.
    pub fn keep_from(&self, settled: u64) -> u64 {
        let next = self
            .spans
            .first()
            .map_or(settled, |s| s.0)
            .min(settled)
            .saturating_sub(self.p.margin);
        self.open.unwrap_or(next).max(self.prev_end)
    }

    /// Close every chunk that is decided now that no speech can start before `settled`.
    /// `fallback(lo, hi)` picks a forced cut position in `[lo, hi]`.
    pub fn advance(
        &mut self,
        settled: u64,
        fallback: &mut dyn FnMut(u64, u64) -> u64,
    ) -> Vec<Planned> {
        let mut out = Vec::new();
        while let Some(start) = self.open_chunk() {
            if let Some(run_end) = self.run_end(settled)
                && run_end < start + self.p.max
            {
                let end = (run_end + self.p.margin).min(start + self.p.max);
                out.push(self.close(end, false));
                continue;
            }
            let last_end = self.spans.last().map_or(start, |s| s.1);
            if settled < start + self.p.max || last_end < start + self.p.max {
                // Either the window is not fully known, or a pause that began inside it is still
                // going and may turn out long (waits at most `long_silence`).
                break;
            }
            out.push(self.cut_in_window(start, fallback));
        }
        out
    }

    /// End of the first speech span followed by a long silence (the next known span, or
    /// `settled` if none, being `long_silence` or more away).
    fn run_end(&self, settled: u64) -> Option<u64> {
        let n = self.spans.len();
        (0..n).find_map(|i| {
            let end = self.spans[i].1;
            let next = self.spans.get(i + 1).map_or(settled, |s| s.0);
            (next >= end + self.p.long_silence).then_some(end)
        })
    }

    /// End of stream at `total` samples: close what remains.
    pub fn finish(
        &mut self,
        total: u64,
        fallback: &mut dyn FnMut(u64, u64) -> u64,
    ) -> Vec<Planned> {
        let mut out = Vec::new();
        while let Some(start) = self.open_chunk() {
            if let Some(e) = self.run_end(total)
                && e < start + self.p.max
            {
                let end = (e + self.p.margin).min(start + self.p.max).min(total);
                out.push(self.close(end, false));
            } else if total <= start + self.p.max {
                out.push(self.close(total.max(start), false));
            } else {
                out.push(self.cut_in_window(start, fallback));
            }
        }
        out
    }

    fn open_chunk(&mut self) -> Option<u64> {
        if self.open.is_none() {
            let first = self.spans.first()?;
            self.open = Some(first.0.saturating_sub(self.p.margin).max(self.prev_end));
        }
        self.open
    }

    fn close(&mut self, end: u64, forced: bool) -> Planned {
        let start = self.open.take().unwrap_or(self.prev_end);
        self.prev_end = end;
        self.spans.retain(|s| s.1 > end);
        if let Some(first) = self.spans.first_mut() {
            first.0 = first.0.max(end);
        }
        Planned { start, end, forced }
    }

    /// Close the chunk at the best cut in `[start+min, start+max]` and open the next one there.
    fn cut_in_window(&mut self, start: u64, fallback: &mut dyn FnMut(u64, u64) -> u64) -> Planned {
        let (lo, hi) = (start + self.p.min, start + self.p.max);
        let (cut, forced) = match best_pause_cut(&self.spans, lo, hi) {
            Some(c) => (c, false),
            None => (fallback(lo, hi).clamp(lo.max(start + 1), hi), true),
        };
        let planned = self.close(cut, forced);
        if !self.spans.is_empty() {
            self.open = Some(cut);
        }
        planned
    }
}

/// Middle of the longest pause between consecutive `spans`, clipped to `[lo, hi]`.
/// Ties go to the earlier pause. None when no pause reaches into the window.
pub fn best_pause_cut(spans: &[Span], lo: u64, hi: u64) -> Option<u64> {
    let mut best: Option<(u64, u64)> = None; // (clipped length, cut)
    for w in spans.windows(2) {
        let (a, b) = (w[0].1.max(lo), w[1].0.min(hi));
        if a < b && best.is_none_or(|(len, _)| b - a > len) {
            best = Some((b - a, a + (b - a) / 2));
        }
    }
    best.map(|(_, cut)| cut)
}

/// Plan a whole timeline at once (the same decisions the online planner makes).
pub fn plan_chunks(speech: &[Span], total: u64, p: PlanParams) -> Vec<Planned> {
    let mut planner = ChunkPlanner::new(p);
    let mut fallback = |_lo: u64, hi: u64| hi;
    for &s in speech {
        planner.push_span(s);
    }
    let mut out = planner.advance(total, &mut fallback);
    out.extend(planner.finish(total, &mut fallback));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters in whole "seconds" of 1 sample each keeps the tables readable.
    const P: PlanParams = PlanParams {
        min: 60,
        max: 120,
        long_silence: 10,
        margin: 1,
    };

    fn plan(speech: &[Span], total: u64) -> Vec<(u64, u64)> {
        plan_chunks(speech, total, P)
            .iter()
            .map(|c| (c.start, c.end))
            .collect()
    }

    /// (name, speech spans, total length, expected chunks)
    type Case = (&'static str, Vec<Span>, u64, Vec<(u64, u64)>);

    #[test]
    fn table() {
        let cases: Vec<Case> = vec![
            ("silence only", vec![], 500, vec![]),
            ("short speech, short tail", vec![(5, 30)], 35, vec![(4, 35)]),
            ("short speech, long tail", vec![(5, 30)], 100, vec![(4, 31)]),
            (
                "cut at the middle of the longest pause in the window",
                vec![(0, 50), (52, 70), (75, 100), (103, 150)],
                150,
                vec![(0, 72), (72, 150)],
            ),
            (
                "pause straddling the window start is clipped to it",
                vec![(0, 55), (64, 130), (133, 140)],
                140,
                vec![(0, 62), (62, 140)],
            ),
            (
                "long silence splits runs; short first chunk is allowed",
                vec![(0, 20), (40, 120), (123, 150)],
                150,
                vec![(0, 21), (39, 150)],
            ),
            (
                "no pause in the window: forced cut at max",
                vec![(0, 300)],
                300,
                vec![(0, 120), (120, 240), (240, 300)],
            ),
            (
                "leading silence trimmed to the margin",
                vec![(50, 60)],
                60,
                vec![(49, 60)],
            ),
        ];
        for (name, speech, total, want) in cases {
            assert_eq!(plan(&speech, total), want, "{name}");
        }
    }

    #[test]
    fn online_equals_batch_and_respects_bounds() {
        // Speech in 7 s bursts with 1 s pauses, one 30 s break.
        let mut speech = Vec::new();
        let mut t = 3;
        while t < 1000 {
            speech.push((t, t + 7));
            t += if t == 403 { 37 } else { 8 };
        }
        let total = 1003;
        let batch = plan_chunks(&speech, total, P);
        // Online: spans become known one step after they end.
        let mut online = ChunkPlanner::new(P);
        let mut fb = |_lo: u64, hi: u64| hi;
        let mut got = Vec::new();
        let mut next = 0;
        for now in 0..=total {
            while next < speech.len() && speech[next].1 < now {
                online.push_span(speech[next]);
                next += 1;
            }
            let settled = speech.get(next).map_or(now, |s| s.0.min(now));
            got.extend(online.advance(settled, &mut fb));
            assert!(online.keep_from(settled) + P.max + P.long_silence + 8 >= now);
        }
        got.extend(online.finish(total, &mut fb));
        assert_eq!(got, batch);
        for w in batch.windows(2) {
            assert!(w[0].end <= w[1].start);
        }
        for c in &batch {
            assert!(!c.forced);
            assert!(c.end - c.start <= P.max);
            for s in &speech {
                assert!(!(s.0 < c.end && c.end < s.1), "cut {} inside {s:?}", c.end);
            }
        }
    }
}
