//! Scene boundaries from per-frame signatures (small RGB thumbnails, bytes; every measure below
//! is on the [0, 1] scale). Pure.
//!
//! - Hard cut at frame t: the change from t−1 is a spike — above an absolute floor and several
//!   times the 90th percentile of the changes around it — so motion (scrolling, zooms, moving
//!   test patterns) changes a lot every frame without ever looking like a cut.
//! - Fade through black: a near-black luma minimum with a strictly monotonic luma ramp into or
//!   out of it; the boundary is the darkest frame.
//! - Dissolve: a window whose inner frames are, to within a small residual, linear blends of its
//!   two ends with a monotonic mix factor. Motion fails this test (its frames are not blends of
//!   the window's ends). Windows are tried longest first so one dissolve is reported once, at the
//!   frame where the mix crosses one half.

use serde::{Deserialize, Serialize};

use crate::frames::Signature;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    Cut,
    Dissolve,
    FadeThroughBlack,
}

/// A boundary: the first frame of the new scene (for gradual transitions, their middle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boundary {
    pub frame: usize,
    pub kind: TransitionKind,
    /// Frames the transition spans (`frame..frame+1` for a cut).
    pub span: (usize, usize),
}

#[derive(Debug, Clone, Copy)]
pub struct DetectParams {
    /// A cut changes at least this much (mean absolute difference per channel).
    pub cut_floor: f32,
    /// ... and this many times the 90th percentile of the surrounding changes.
    pub cut_ratio: f32,
    /// Frames on each side that form the surroundings.
    pub cut_window: usize,
    /// Mean luma below which a frame is black.
    pub black: f32,
    /// Dissolve half-windows tried, longest first.
    pub blend_half_windows: [usize; 4],
    /// Largest residual of a blend, relative to the ends' difference.
    pub blend_residual: f32,
    /// Smallest difference between a dissolve's ends.
    pub blend_floor: f32,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            cut_floor: 0.01,
            cut_ratio: 3.0,
            cut_window: 10,
            black: 0.02,
            blend_half_windows: [36, 20, 12, 6],
            blend_residual: 0.15,
            blend_floor: 0.05,
        }
    }
}

/// Mean absolute difference, on the [0, 1] scale.
fn mad(a: &[u8], b: &[u8]) -> f32 {
    let sum: u32 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u32::from(x.abs_diff(y)))
        .sum();
    sum as f32 / 255.0 / a.len().max(1) as f32
}

/// Mean value, on the [0, 1] scale.
pub(crate) fn mean(a: &[u8]) -> f32 {
    let sum: u32 = a.iter().map(|&x| u32::from(x)).sum();
    sum as f32 / 255.0 / a.len().max(1) as f32
}

fn unit(b: u8) -> f32 {
    f32::from(b) / 255.0
}

/// Boundaries in frame order. `frames` are equal-length signatures.
pub fn detect(frames: &[Signature], p: &DetectParams) -> Vec<Boundary> {
    let n = frames.len();
    if n < 3 {
        return Vec::new();
    }
    let mut d1 = vec![0f32; n];
    for t in 1..n {
        d1[t] = mad(&frames[t], &frames[t - 1]);
    }
    let luma: Vec<f32> = frames.iter().map(|f| mean(f)).collect();
    let mut cuts = hard_cuts(&d1, p);
    let fades = fades_through_black(&luma, p);
    cuts.retain(|&c| !fades.iter().any(|f| f.from < c && c <= f.to));

    let mut out: Vec<Boundary> = fades
        .iter()
        .map(|f| Boundary {
            frame: f.dark,
            kind: TransitionKind::FadeThroughBlack,
            span: (f.from, f.to + 1),
        })
        .collect();
    out.extend(cuts.iter().map(|&c| Boundary {
        frame: c,
        kind: TransitionKind::Cut,
        span: (c, c + 1),
    }));
    let taken: Vec<(usize, usize)> = fades.iter().map(|f| (f.from, f.to)).collect();
    out.extend(dissolves(frames, p, &cuts, taken));
    out.sort_by_key(|b| b.frame);
    out
}

/// Frames `t` whose change from `t − 1` (`d1[t]`) is a spike: above `cut_floor`, and above
/// `cut_ratio` times the 90th percentile of the changes within `cut_window` frames on either
/// side plus half the floor.
fn hard_cuts(d1: &[f32], p: &DetectParams) -> Vec<usize> {
    let n = d1.len();
    let mut cuts: Vec<usize> = Vec::new();
    let mut around = Vec::with_capacity(2 * p.cut_window);
    for t in 1..n {
        if d1[t] <= p.cut_floor {
            continue;
        }
        around.clear();
        let lo = t.saturating_sub(p.cut_window).max(1);
        let hi = (t + p.cut_window + 1).min(n);
        around.extend(d1[lo..t].iter().chain(&d1[t + 1..hi]).copied());
        let reference = percentile90(&mut around);
        if d1[t] > p.cut_ratio * reference + p.cut_floor / 2.0 {
            cuts.push(t);
        }
    }
    cuts
}

/// A fade through black: the darkest frame and the luma ramps around it, `from..=to`.
struct Fade {
    dark: usize,
    from: usize,
    to: usize,
}

/// Near-black luma minima with a strictly monotonic ramp of at least 4 frames and 0.03 luma
/// into or out of them; a minimum inside the previous fade's ramp out is not another fade.
fn fades_through_black(luma: &[f32], p: &DetectParams) -> Vec<Fade> {
    let n = luma.len();
    let mut fades: Vec<Fade> = Vec::new();
    for t in 1..n - 1 {
        let is_min = luma[t] < p.black && luma[t] <= luma[t - 1] && luma[t] < luma[t + 1] + 1e-6;
        if !is_min || fades.last().is_some_and(|f| t <= f.to) {
            continue;
        }
        let mut a = t;
        while a > 0 && luma[a - 1] > luma[a] + 1e-4 {
            a -= 1;
        }
        let mut b = t;
        while b + 1 < n && luma[b + 1] > luma[b] + 1e-4 {
            b += 1;
        }
        let ramp_in = luma[a] - luma[t] > 0.03 && t - a >= 4;
        let ramp_out = luma[b] - luma[t] > 0.03 && b - t >= 4;
        if ramp_in || ramp_out {
            fades.push(Fade {
                dark: t,
                from: a,
                to: b,
            });
        }
    }
    fades
}

/// Dissolves: for each half-window, longest first, every window that overlaps nothing
/// `taken` (frame ranges, inclusive) and contains no cut is tried as a blend; the candidates
/// are taken best residual first, each one skipped if it overlaps one taken before.
fn dissolves(
    frames: &[Signature],
    p: &DetectParams,
    cuts: &[usize],
    mut taken: Vec<(usize, usize)>,
) -> Vec<Boundary> {
    let n = frames.len();
    let overlaps = |taken: &[(usize, usize)], a: usize, b: usize| {
        taken.iter().any(|&(x, y)| !(b < x || a > y))
    };
    let mut out = Vec::new();
    for &h in &p.blend_half_windows {
        let mut candidates: Vec<(f32, usize, usize, usize)> = Vec::new();
        for c in h..n.saturating_sub(h) {
            let (a, b) = (c - h, c + h);
            if overlaps(&taken, a, b) || cuts.iter().any(|&x| a < x && x <= b) {
                continue;
            }
            if let Some((res, mid)) = blend(&frames[a..=b], p) {
                candidates.push((res, mid + a, a, b));
            }
        }
        candidates.sort_by(|x, y| x.0.total_cmp(&y.0));
        for (_, mid, a, b) in candidates {
            if overlaps(&taken, a, b) {
                continue;
            }
            taken.push((a, b));
            out.push(Boundary {
                frame: mid,
                kind: TransitionKind::Dissolve,
                span: (a, b + 1),
            });
        }
    }
    out
}

/// If `seg`'s frames are linear blends of its ends: (residual, index where the mix passes ½).
fn blend(seg: &[Signature], p: &DetectParams) -> Option<(f32, usize)> {
    let (a, b) = (&seg[0], &seg[seg.len() - 1]);
    let l = mad(a, b);
    if l < p.blend_floor {
        return None;
    }
    let a: Vec<f32> = a.iter().map(|&x| unit(x)).collect();
    let dv: Vec<f32> = b.iter().zip(&a).map(|(&y, x)| unit(y) - x).collect();
    let nn: f32 = dv.iter().map(|x| x * x).sum();
    let h = seg.len() / 2;
    let mut alphas = Vec::with_capacity(seg.len());
    let mut worst = 0f32;
    for f in seg {
        let al = (f
            .iter()
            .zip(&a)
            .zip(&dv)
            .map(|((&x, a), d)| (unit(x) - a) * d)
            .sum::<f32>()
            / nn)
            .clamp(0.0, 1.0);
        let res = f
            .iter()
            .zip(&a)
            .zip(&dv)
            .map(|((&x, a), d)| (unit(x) - (a + al * d)).abs())
            .sum::<f32>()
            / f.len() as f32
            / l;
        worst = worst.max(res);
        if worst >= p.blend_residual {
            return None;
        }
        alphas.push(al);
    }
    let monotonic = alphas.windows(2).all(|w| w[1] >= w[0] - 0.02);
    if !monotonic || !(0.3..0.7).contains(&alphas[h]) {
        return None;
    }
    let mid = alphas
        .iter()
        .enumerate()
        .min_by(|x, y| (x.1 - 0.5).abs().total_cmp(&(y.1 - 0.5).abs()))
        .map_or(h, |(i, _)| i);
    Some((worst, mid))
}

fn percentile90(v: &mut [f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    // Linear interpolation, as numpy's default.
    let pos = 0.9 * (v.len() - 1) as f32;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    let next = v[(i + 1).min(v.len() - 1)];
    v[i] + frac * (next - v[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(v: f32) -> Vec<f32> {
        vec![v; 12]
    }

    fn textured(seed: usize, shift: usize) -> Vec<f32> {
        (0..12)
            .map(|i| (((i + shift) * 7 + seed * 13) % 10) as f32 / 10.0)
            .collect()
    }

    /// Frames built on the [0, 1] scale, as signatures.
    fn bytes(frames: Vec<Vec<f32>>) -> Vec<Signature> {
        frames
            .into_iter()
            .map(|f| f.iter().map(|x| (x * 255.0).round() as u8).collect())
            .collect()
    }

    #[test]
    fn a_cut_a_dissolve_and_a_fade_are_found_and_named() {
        let mut f: Vec<Vec<f32>> = Vec::new();
        f.extend((0..40).map(|_| solid(0.2)));
        f.extend((0..40).map(|_| solid(0.8))); // cut at 40
        for i in 0..20 {
            let a = i as f32 / 19.0; // dissolve 80..100 into a texture
            f.push(
                solid(0.8)
                    .iter()
                    .zip(textured(1, 0))
                    .map(|(x, y)| x * (1.0 - a) + y * a)
                    .collect(),
            );
        }
        f.extend((0..40).map(|_| textured(1, 0)));
        for i in 0..10 {
            let k = 1.0 - i as f32 / 9.0; // fade out 140..150
            f.push(textured(1, 0).iter().map(|x| x * k).collect());
        }
        for i in 1..=10 {
            f.push(solid(0.6).iter().map(|x| x * i as f32 / 10.0).collect());
        }
        f.extend((0..40).map(|_| solid(0.6)));
        let found = detect(&bytes(f), &DetectParams::default());
        let kinds: Vec<_> = found.iter().map(|b| (b.kind, b.frame)).collect();
        assert_eq!(found.len(), 3, "{kinds:?}");
        assert_eq!(kinds[0], (TransitionKind::Cut, 40));
        assert_eq!(kinds[1].0, TransitionKind::Dissolve);
        assert!((85..=95).contains(&kinds[1].1), "{kinds:?}");
        assert_eq!(kinds[2], (TransitionKind::FadeThroughBlack, 149));
    }

    #[test]
    fn steady_motion_is_not_a_cut() {
        let f: Vec<Vec<f32>> = (0..200).map(|i| textured(3, i)).collect();
        assert!(detect(&bytes(f), &DetectParams::default()).is_empty());
    }
}
