//! The frames worker's contract with its reader (`nightshift-video`): the binary's name, the
//! layout of the raw signatures it writes on stdout, its environment switch, and the rule by
//! which a video is decoded as two halves — shared by the worker and the ffmpeg command-line
//! fallback, so both give the same frames.
//!
//! `nightshift-frames-worker [--fps F] VIDEO` writes every frame's signature, [`SIG_BYTES`]
//! bytes each, back to back, and exits 0; for an undecodable file one line on stderr and exit 1.
//! Unlike the line-JSON workers it has no stdin protocol.

/// Binary name of the frames worker.
pub const FRAMES_WORKER: &str = "nightshift-frames-worker";

/// Signature grid: cells across and down.
pub const SIG_W: usize = 32;
pub const SIG_H: usize = 18;
/// Bytes of one frame's signature on the wire: RGB, row by row.
pub const SIG_BYTES: usize = SIG_W * SIG_H * 3;

/// Environment switch of the two-half decode: `0` decodes in one go, `require` makes it an
/// error when the halves cannot be used (tests compare both ways); unset, the worker decides.
pub const SPLIT_ENV: &str = "NIGHTSHIFT_FRAMES_SPLIT";

/// Videos with fewer frames than this are decoded in one go (a second decoder costs more to
/// start than it saves).
pub const SPLIT_MIN_FRAMES: usize = 600;

/// Where a video splits into two halves that decode on their own, from its packets
/// `(time in seconds, keyframe)` in any order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Halves {
    /// Index (in the given packets) of the keyframe the second half starts at.
    pub key: usize,
    /// Frames before it and from it on.
    pub before: usize,
    pub after: usize,
    /// The constant frame interval, seconds.
    pub interval_s: f64,
}

/// The split both decoders use: at the keyframe nearest the middle, for a constant-rate video
/// of at least [`SPLIT_MIN_FRAMES`] frames whose rate is `fps` (then every decoded frame of a
/// half is one placed frame, exactly as in a one-go decode), both halves at least a quarter.
/// `None` otherwise, and for packets without times (`NaN`).
pub fn plan_halves(packets: &[(f64, bool)], fps: f64) -> Option<Halves> {
    if packets.len() < SPLIT_MIN_FRAMES || packets.iter().any(|p| !p.0.is_finite()) {
        return None;
    }
    let mut times: Vec<f64> = packets.iter().map(|p| p.0).collect();
    times.sort_by(f64::total_cmp);
    let interval = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 1e-6)
        .fold(f64::INFINITY, f64::min);
    if !interval.is_finite() {
        return None;
    }
    // Allowed jitter: 1 % plus the millisecond rounding of WebM/Matroska timestamps.
    if times
        .windows(2)
        .any(|w| ((w[1] - w[0]) - interval).abs() > interval * 0.01 + 0.0011)
    {
        return None;
    }
    if (1.0 / interval - fps).abs() > fps * 0.02 {
        return None; // the packets' rate is not the rate frames are placed at
    }
    let middle = times[times.len() / 2];
    let key = packets
        .iter()
        .enumerate()
        .filter(|(_, p)| p.1)
        .min_by(|a, b| (a.1.0 - middle).abs().total_cmp(&(b.1.0 - middle).abs()))?
        .0;
    let before = times.iter().filter(|&&t| t < packets[key].0).count();
    if before < times.len() / 4 || times.len() - before < times.len() / 4 {
        return None;
    }
    Some(Halves {
        key,
        before,
        after: times.len() - before,
        interval_s: interval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` packets at `fps`, a keyframe every `key_every`, times rounded to `round_s`.
    fn packets(n: usize, key_every: usize, fps: f64, round_s: f64) -> Vec<(f64, bool)> {
        (0..n)
            .map(|i| {
                let t = (i as f64 / fps / round_s).round() * round_s;
                (t, i % key_every == 0)
            })
            .collect()
    }

    #[test]
    fn halves_meet_at_the_middle_keyframe_in_any_packet_order() {
        let mut p = packets(1000, 250, 25.0, 1e-9);
        let h = plan_halves(&p, 25.0).unwrap();
        assert_eq!((h.key, h.before, h.after), (500, 500, 500));
        assert!((h.interval_s - 0.04).abs() < 1e-9);
        // Decode order (B-frames) is not presentation order: the same split, by index.
        p.swap(1, 2);
        p.reverse();
        let h = plan_halves(&p, 25.0).unwrap();
        assert_eq!(p[h.key].0, 20.0);
        assert_eq!((h.before, h.after), (500, 500));
    }

    #[test]
    fn millisecond_timestamps_still_split_but_rates_and_sizes_must_fit() {
        // WebM: 30 fps times rounded to the millisecond (33 or 34 ms apart).
        let h = plan_halves(&packets(900, 30, 30.0, 0.001), 30.0).unwrap();
        assert_eq!(h.before + h.after, 900);
        assert_eq!(
            plan_halves(&packets(SPLIT_MIN_FRAMES - 1, 50, 25.0, 1e-9), 25.0),
            None
        );
        assert_eq!(plan_halves(&packets(1000, 250, 25.0, 1e-9), 30.0), None);
        // The only keyframe near an end: one half would be under a quarter.
        let mut p = packets(1000, 5000, 25.0, 1e-9);
        p[900].1 = true;
        assert_eq!(plan_halves(&p, 25.0), None);
        let mut p = packets(1000, 250, 25.0, 1e-9);
        p[10].0 = f64::NAN;
        assert_eq!(plan_halves(&p, 25.0), None);
    }
}
