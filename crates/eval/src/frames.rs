//! Frame-level precision / recall / F1 of time intervals (VAD and speech-span scoring).

/// The frame size the corpus scoring uses: 10 ms.
pub const DEFAULT_FRAME_S: f64 = 0.01;

/// Mark each frame whose centre lies inside any interval. Intervals may overlap or be unsorted;
/// parts outside `[0, duration)` are ignored.
fn mark(intervals: &[(f64, f64)], n_frames: usize, frame_s: f64) -> Vec<bool> {
    let mut frames = vec![false; n_frames];
    for &(start, end) in intervals {
        if !(start.is_finite() && end.is_finite()) || end <= start {
            continue;
        }
        // frame k's centre is (k + 0.5) * frame_s; it is inside when start <= centre < end
        let first = ((start / frame_s) - 0.5).ceil().max(0.0) as usize;
        let last = ((end / frame_s) - 0.5).ceil().max(0.0) as usize; // exclusive
        for f in frames.iter_mut().take(last.min(n_frames)).skip(first) {
            *f = true;
        }
    }
    frames
}

/// `(precision, recall, f1)` of `predicted` against `truth` over `duration_s`, in frames of
/// `frame_s` seconds (use [`DEFAULT_FRAME_S`]).
///
/// Conventions for empty sides: predicting nothing has precision 1; an empty truth has
/// recall 1; so silence predicted as silence scores (1, 1, 1) and missing all speech scores
/// F1 = 0.
pub fn frame_f1(
    truth: &[(f64, f64)],
    predicted: &[(f64, f64)],
    duration_s: f64,
    frame_s: f64,
) -> (f64, f64, f64) {
    let n_frames = if duration_s.is_finite() && duration_s > 0.0 && frame_s > 0.0 {
        (duration_s / frame_s).round() as usize
    } else {
        0
    };
    let t = mark(truth, n_frames, frame_s);
    let p = mark(predicted, n_frames, frame_s);
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    for (&a, &b) in t.iter().zip(&p) {
        match (a, b) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fneg += 1,
            (false, false) => {}
        }
    }
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            1.0
        } else {
            num as f64 / den as f64
        }
    };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fneg);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    (precision, recall, f1)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Spans = &'static [(f64, f64)];

    fn close(a: (f64, f64, f64), b: (f64, f64, f64)) -> bool {
        (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9 && (a.2 - b.2).abs() < 1e-9
    }

    #[test]
    fn known_overlaps() {
        let d = DEFAULT_FRAME_S;
        let cases: [(Spans, Spans, (f64, f64, f64)); 7] = [
            (&[(1.0, 2.0)], &[(1.0, 2.0)], (1.0, 1.0, 1.0)),
            // half of the prediction is right, all of the truth is found
            (&[(1.0, 2.0)], &[(1.0, 3.0)], (0.5, 1.0, 2.0 / 3.0)),
            // half of the truth is found, all predicted frames are right
            (&[(1.0, 3.0)], &[(2.0, 3.0)], (1.0, 0.5, 2.0 / 3.0)),
            (&[(1.0, 2.0)], &[(5.0, 6.0)], (0.0, 0.0, 0.0)),
            (&[], &[], (1.0, 1.0, 1.0)),
            (&[(1.0, 2.0)], &[], (1.0, 0.0, 0.0)),
            // overlapping and unsorted predictions count each frame once
            (&[(0.0, 2.0)], &[(1.0, 2.0), (0.0, 1.5)], (1.0, 1.0, 1.0)),
        ];
        for (truth, pred, want) in cases {
            let got = frame_f1(truth, pred, 10.0, d);
            assert!(
                close(got, want),
                "{truth:?} vs {pred:?}: {got:?} != {want:?}"
            );
        }
    }

    #[test]
    fn intervals_beyond_the_duration_are_clipped() {
        let got = frame_f1(&[(9.0, 10.0)], &[(9.0, 20.0)], 10.0, DEFAULT_FRAME_S);
        assert!(close(got, (1.0, 1.0, 1.0)), "{got:?}");
    }
}
