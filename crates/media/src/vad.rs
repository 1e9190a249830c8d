//! Voice activity detection on the decoded stream.
//!
//! Frame probabilities come from earshot (a small pure-Rust network over 40 log-mel bands,
//! weights embedded; 16 ms frames at 16 kHz). Spectral features are what separate speech from
//! fan/HVAC noise, which an energy threshold cannot. [`Smoother`] turns probabilities into speech
//! spans: hysteresis (enter above `onset`, leave below `offset`), short gaps bridged, short
//! bursts dropped, then padding. It works online and says how far its output is final
//! (`settled`), which is what lets the chunker cut while decoding is still going.

/// Samples per VAD frame (earshot's fixed frame size).
pub const FRAME: usize = 256;

/// A speech span in samples of the 16 kHz timeline, end exclusive.
pub type Span = (u64, u64);

/// Smoothing parameters, in seconds and probabilities.
#[derive(Debug, Clone, Copy)]
pub struct VadParams {
    pub onset: f32,
    pub offset: f32,
    /// Gaps shorter than this are bridged (inside a sentence, not a pause).
    pub min_silence_s: f64,
    /// Bursts shorter than this are dropped (clicks, door knocks).
    pub min_speech_s: f64,
    /// Added before and after every span: word onsets and tails are quiet.
    pub pad_s: f64,
}

impl Default for VadParams {
    fn default() -> Self {
        // Chosen on the dev meetings + AMI excerpt (frame F1 0.97–0.99 over a wide plateau:
        // onset 0.3–0.6 all score within 0.01). Padding costs F1 but protects word edges;
        // 50 ms is a compromise.
        VadParams {
            onset: 0.4,
            offset: 0.3,
            min_silence_s: 0.3,
            min_speech_s: 0.12,
            pad_s: 0.05,
        }
    }
}

/// earshot over a stream of samples of any block size.
pub struct FrameVad {
    detector: Box<earshot::Detector>,
    pending: Vec<f32>,
}

impl Default for FrameVad {
    fn default() -> Self {
        FrameVad {
            detector: earshot::Detector::default_boxed(),
            pending: Vec::with_capacity(FRAME),
        }
    }
}

impl FrameVad {
    /// Feed samples; push one probability per completed frame onto `probs`.
    pub fn push(&mut self, samples: &[f32], probs: &mut Vec<f32>) {
        let mut frame = [0f32; FRAME];
        let mut rest = samples;
        if !self.pending.is_empty() {
            let need = FRAME - self.pending.len();
            let take = need.min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() < FRAME {
                return;
            }
            frame.copy_from_slice(&self.pending);
            self.pending.clear();
            probs.push(self.predict(&mut frame));
        }
        let mut it = rest.chunks_exact(FRAME);
        for block in &mut it {
            frame.copy_from_slice(block);
            probs.push(self.predict(&mut frame));
        }
        self.pending.extend_from_slice(it.remainder());
    }

    fn predict(&mut self, frame: &mut [f32; FRAME]) -> f32 {
        // earshot expects [-1, 1]; clipped or NaN input must not poison its state.
        for x in frame.iter_mut() {
            *x = if x.is_finite() {
                x.clamp(-1.0, 1.0)
            } else {
                0.0
            };
        }
        self.detector.predict_f32(frame)
    }
}

/// Online probability → span smoother.
pub struct Smoother {
    p: VadParams,
    min_silence: u64,
    min_speech: u64,
    pad: u64,
    /// Frames seen so far.
    frames: u64,
    /// Start (in samples) of the raw speech run we are inside, if any.
    in_speech: Option<u64>,
    /// Last raw run, held back until we know the next one is far enough away.
    held: Option<Span>,
    out: Vec<Span>,
}

impl Smoother {
    pub fn new(p: VadParams) -> Self {
        let s = |x: f64| (x.max(0.0) * f64::from(crate::decode::RATE)).round() as u64;
        let pad = s(p.pad_s);
        Smoother {
            p,
            // Gaps that survive bridging must stay gaps after padding both sides, so a span is
            // final the moment it is emitted (padding can never merge it with a later one).
            min_silence: s(p.min_silence_s).max(2 * pad + 1),
            min_speech: s(p.min_speech_s),
            pad,
            frames: 0,
            in_speech: None,
            held: None,
            out: Vec::new(),
        }
    }

    /// Feed one frame probability.
    pub fn push(&mut self, prob: f32) {
        let start = self.frames * FRAME as u64;
        self.frames += 1;
        match self.in_speech {
            None if prob >= self.p.onset => self.in_speech = Some(start),
            Some(s) if prob < self.p.offset => {
                self.in_speech = None;
                self.close_run((s, start));
            }
            None => {
                // Silent long enough that no later run can be bridged to the held one: it is
                // final. (Holding it through a long silence would stall `settled`, and with it
                // the chunker and the memory bound.)
                if let Some(h) = self.held
                    && start + FRAME as u64 >= h.1 + self.min_silence
                {
                    self.held = None;
                    self.emit(h);
                }
            }
            _ => {}
        }
    }

    fn close_run(&mut self, run: Span) {
        match self.held {
            Some((hs, he)) if run.0.saturating_sub(he) < self.min_silence => {
                self.held = Some((hs, run.1));
            }
            Some(h) => {
                self.emit(h);
                self.held = Some(run);
            }
            None => self.held = Some(run),
        }
    }

    fn emit(&mut self, (s, e): Span) {
        if e - s < self.min_speech {
            return;
        }
        let (s, e) = (s.saturating_sub(self.pad), e + self.pad);
        match self.out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => self.out.push((s, e)),
        }
    }

    /// Take the spans that are final so far.
    pub fn drain(&mut self) -> Vec<Span> {
        std::mem::take(&mut self.out)
    }

    /// No span emitted later can start before this sample.
    pub fn settled(&self) -> u64 {
        let now = self.frames * FRAME as u64;
        let open = self.held.map(|h| h.0).or(self.in_speech).unwrap_or(now);
        open.min(now).saturating_sub(self.pad)
    }

    /// End of stream at `total` samples: flush everything, clip to the timeline.
    pub fn finish(&mut self, total: u64) -> Vec<Span> {
        if let Some(s) = self.in_speech.take() {
            let end = (self.frames * FRAME as u64).min(total.max(s));
            self.close_run((s, end));
        }
        if let Some(h) = self.held.take() {
            self.emit(h);
        }
        let mut spans = self.drain();
        spans.retain_mut(|sp| {
            sp.1 = sp.1.min(total);
            sp.0 < sp.1
        });
        spans
    }
}

/// Non-speech spans: the complement of `speech` (sorted, disjoint) over `[0, total)`.
pub fn complement(speech: &[Span], total: u64) -> Vec<Span> {
    let mut out = Vec::new();
    let mut pos = 0;
    for &(s, e) in speech {
        if s > pos {
            out.push((pos, s.min(total)));
        }
        pos = pos.max(e);
    }
    if pos < total {
        out.push((pos, total));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(probs: &[f32], p: VadParams) -> Vec<Span> {
        let mut s = Smoother::new(p);
        let mut got: Vec<Span> = Vec::new();
        let mut settled = 0;
        let total = probs.len() as u64 * FRAME as u64;
        let check = |got: &mut Vec<Span>, new: Vec<Span>, settled: u64| {
            for sp in new {
                // The promise the chunker relies on: nothing new starts before `settled`.
                assert!(sp.0 >= settled, "{sp:?} starts before settled {settled}");
                assert!(sp.0 >= got.last().map_or(0, |l| l.1), "out of order");
                got.push(sp);
            }
        };
        for &x in probs {
            s.push(x);
            check(&mut got, s.drain(), settled);
            settled = s.settled();
        }
        check(&mut got, s.finish(total), settled);
        got
    }

    fn frames(pattern: &str) -> Vec<f32> {
        pattern
            .chars()
            .map(|c| match c {
                '#' => 0.9,
                '~' => 0.4, // between offset and onset: keeps speech, never starts it
                _ => 0.05,
            })
            .collect()
    }

    const NO_PAD: VadParams = VadParams {
        onset: 0.5,
        offset: 0.35,
        min_silence_s: 0.05, // 3.1 frames
        min_speech_s: 0.03,  // 1.9 frames
        pad_s: 0.0,
    };

    #[test]
    fn smoothing_table() {
        let f = FRAME as u64;
        let cases: &[(&str, &[(u64, u64)])] = &[
            ("....", &[]),
            ("..##..", &[(2, 4)]),
            ("..#...", &[]),           // shorter than min speech
            ("..##~~..", &[(2, 6)]),   // hysteresis keeps the tail
            ("..~~##..", &[(4, 6)]),   // but never starts speech
            ("..##..##..", &[(2, 8)]), // 2-frame gap bridged
            ("..##....##..", &[(2, 4), (8, 10)]),
            ("######", &[(0, 6)]), // speech to the very end
        ];
        for (pat, want) in cases {
            let want: Vec<Span> = want.iter().map(|&(a, b)| (a * f, b * f)).collect();
            assert_eq!(run(&frames(pat), NO_PAD), want, "{pat}");
        }
    }

    #[test]
    fn padding_merges_and_clips() {
        let p = VadParams {
            pad_s: 0.02,
            ..NO_PAD
        }; // 320 samples
        let got = run(&frames("##....##"), p);
        assert_eq!(got, vec![(0, 2 * 256 + 320), (6 * 256 - 320, 8 * 256)]);
    }

    #[test]
    fn complement_covers_the_rest() {
        assert_eq!(
            complement(&[(10, 20), (30, 40)], 50),
            vec![(0, 10), (20, 30), (40, 50)]
        );
        assert_eq!(complement(&[], 5), vec![(0, 5)]);
        assert_eq!(complement(&[(0, 5)], 5), vec![]);
    }
}
