//! Where a live recording is cut: at the first pause after the target length, in the middle of
//! what has been heard of that pause, or at the hard maximum if nobody pauses. Pure: fed one
//! VAD probability per frame, it answers frame positions.

use nightshift_media::vad::{FRAME, VadParams};

use crate::RATE;

#[derive(Debug, Clone, Copy)]
pub struct CutParams {
    /// Close the chunk at the first pause once it is this long (samples).
    pub target: u64,
    /// Close it here even inside speech (samples).
    pub max: u64,
    /// A pause is at least this much non-speech (samples).
    pub min_pause: u64,
    pub vad: VadParams,
}

impl CutParams {
    pub fn from_seconds(target_s: f64) -> CutParams {
        let s = |x: f64| (x.max(0.0) * f64::from(RATE)).round() as u64;
        let target = s(target_s).max(FRAME as u64);
        CutParams {
            target,
            // Nobody talks for a minute without a breath; the cap bounds the open chunk.
            max: target + s(target_s * 0.5).max(s(5.0)),
            min_pause: s(0.3),
            vad: VadParams::default(),
        }
    }
}

/// Online cutter over the frames of one stream. Frame `k` covers samples
/// `[k * FRAME, (k + 1) * FRAME)` of the whole recording.
#[derive(Debug)]
pub struct Cutter {
    p: CutParams,
    /// Speech flags of the open chunk's frames.
    flags: Vec<bool>,
    in_speech: bool,
    /// First frame of the open chunk.
    start: u64,
}

impl Cutter {
    pub fn new(p: CutParams) -> Cutter {
        Cutter {
            p,
            flags: Vec::new(),
            in_speech: false,
            start: 0,
        }
    }

    /// First frame of the open chunk.
    pub fn chunk_start_frame(&self) -> u64 {
        self.start
    }

    /// Feed the next frame's speech probability. `Some(cut)`: close the open chunk at frame
    /// `cut.end` (exclusive, global); frames from there on belong to the next chunk.
    pub fn push(&mut self, prob: f32) -> Option<Cut> {
        // Hysteresis: enter above onset, leave below offset.
        self.in_speech = if self.in_speech {
            prob >= self.p.vad.offset
        } else {
            prob >= self.p.vad.onset
        };
        self.flags.push(self.in_speech);
        let frame = FRAME as u64;
        let len = self.flags.len() as u64 * frame;
        if len < self.p.target {
            return None;
        }
        let pause_frames = self.flags.iter().rev().take_while(|s| !**s).count() as u64;
        let min_pause_frames = self.p.min_pause.div_ceil(frame);
        let cut_local = if pause_frames >= min_pause_frames {
            // The pause may go on; cutting in the middle of what we heard keeps silence on
            // both sides of the cut. A pause that began before the target is cut at the target.
            let pause_start = self.flags.len() as u64 - pause_frames;
            let target_frames = self.p.target.div_ceil(frame);
            Some((pause_start + pause_frames / 2).max(target_frames))
        } else if len >= self.p.max {
            Some(self.flags.len() as u64)
        } else {
            None
        }?;
        let end = self.start + cut_local;
        let flags: Vec<bool> = self.flags.drain(..cut_local as usize).collect();
        self.start = end;
        Some(Cut { end, flags })
    }

    /// End of stream: the open chunk's speech flags.
    pub fn take_rest(&mut self) -> Vec<bool> {
        std::mem::take(&mut self.flags)
    }
}

/// A decided cut: the closed chunk ends at frame `end`; `flags` are its frames' speech flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub end: u64,
    pub flags: Vec<bool>,
}

/// Speech spans of a chunk from its frame flags, chunk-local seconds: short gaps bridged,
/// short bursts dropped, padded — the same smoothing parameters as ingest.
pub fn speech_spans(flags: &[bool], vad: &VadParams, len_samples: u64) -> Vec<(f64, f64)> {
    let frame_s = FRAME as f64 / f64::from(RATE);
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < flags.len() {
        if flags[i] {
            let s = i;
            while i < flags.len() && flags[i] {
                i += 1;
            }
            match runs.last_mut() {
                Some(last) if (s - last.1) as f64 * frame_s < vad.min_silence_s => last.1 = i,
                _ => runs.push((s, i)),
            }
        } else {
            i += 1;
        }
    }
    let total = len_samples as f64 / f64::from(RATE);
    runs.into_iter()
        .filter(|(s, e)| (e - s) as f64 * frame_s >= vad.min_speech_s)
        .map(|(s, e)| {
            (
                (s as f64 * frame_s - vad.pad_s).max(0.0),
                (e as f64 * frame_s + vad.pad_s).min(total),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(target_frames: u64) -> CutParams {
        CutParams {
            target: target_frames * FRAME as u64,
            max: target_frames * 2 * FRAME as u64,
            min_pause: 10 * FRAME as u64,
            vad: VadParams::default(),
        }
    }

    fn feed(c: &mut Cutter, pattern: &[(f32, usize)]) -> Vec<u64> {
        let mut cuts = Vec::new();
        for &(p, n) in pattern {
            for _ in 0..n {
                cuts.extend(c.push(p).map(|cut| cut.end));
            }
        }
        cuts
    }

    #[test]
    fn cuts_in_the_first_pause_after_the_target() {
        let mut c = Cutter::new(params(100));
        // Speech 120 frames (past the target), a pause of 20, speech again.
        let cuts = feed(
            &mut c,
            &[(0.9, 50), (0.0, 12), (0.9, 58), (0.0, 20), (0.9, 30)],
        );
        // The 12-frame pause came before the target: not a cut. The later one is, once 10
        // frames of it are heard: cut 5 frames into it.
        assert_eq!(cuts, vec![120 + 5]);
        assert_eq!(c.chunk_start_frame(), 125);
    }

    #[test]
    fn nobody_pausing_is_cut_at_the_maximum() {
        let mut c = Cutter::new(params(100));
        let cuts = feed(&mut c, &[(0.9, 450)]);
        assert_eq!(cuts, vec![200, 400]);
    }

    #[test]
    fn silence_alone_is_cut_at_the_target() {
        let mut c = Cutter::new(params(100));
        let cuts = feed(&mut c, &[(0.0, 250)]);
        // The pause began before the target: cut at the target.
        assert_eq!(cuts, vec![100, 200]);
    }

    #[test]
    fn spans_bridge_short_gaps_and_drop_clicks() {
        let vad = VadParams::default();
        let mut flags = vec![false; 200];
        flags[10..60].fill(true);
        flags[65..100].fill(true); // 5 frames = 80 ms gap: bridged
        flags[150..152].fill(true); // 32 ms click: dropped
        let spans = speech_spans(&flags, &vad, 200 * FRAME as u64);
        assert_eq!(spans.len(), 1);
        let (s, e) = spans[0];
        assert!(
            (s - (0.16 - 0.05)).abs() < 1e-9 && (e - (1.6 + 0.05)).abs() < 1e-9,
            "{spans:?}"
        );
    }
}
