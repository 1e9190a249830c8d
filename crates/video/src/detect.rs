//! Scene boundaries from per-frame signatures (small RGB thumbnails, bytes; every measure below
//! is on the [0, 1] scale). Pure.
//!
//! - Hard cut at frame t: the change from t−1 is a spike — above an absolute floor and several
//!   times the 90th percentile of the changes around it — so motion (scrolling, zooms, moving
//!   test patterns) changes a lot every frame without ever looking like a cut. The brightness of
//!   at least one cell must also jump: a keyframe that refreshes a still picture (every 10 s in
//!   many encodings) is a spike too, but a faint one spread over the whole frame.
//! - Fade through black: a near-black luma minimum with a strictly monotonic luma ramp into or
//!   out of it; the boundary is the darkest frame.
//! - Dissolve: a window whose inner frames are, to within a small residual, linear blends of its
//!   two ends with a monotonic mix factor. Fast motion fails this test (its frames are not
//!   blends of the window's ends); a slow scroll over a few frames can pass it, so a window whose
//!   end is its start moved up, down or sideways is not a dissolve. Faint dissolves (two slides
//!   of one layout, only the text changing) are trusted on long windows only, where the picture
//!   is still on both sides. Windows are tried longest first so one dissolve is reported once, at
//!   the frame where the mix crosses one half.
//!
//! Thresholds were re-chosen on generated videos (`scripts/gen_corpus.py`, seed 1) and checked on
//! another seed and the shared corpus, each moved ±20 % (`examples/bench_scenes.rs`).

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
    /// Smallest difference between a dissolve's ends, for a window of at least
    /// `blend_long_half` frames on each side: two slides of one layout dissolve into each other
    /// with only their text changing, and a still picture around them makes that clean.
    pub blend_floor: f32,
    /// Smallest difference between the ends of a shorter window: a faint blend over a few frames
    /// is as likely a slow scroll or moving content.
    pub blend_floor_short: f32,
    /// Half-windows from this length on count as long.
    pub blend_long_half: usize,
    /// A dissolve's end frames must not be this well explained by moving one onto the other
    /// (see `shift_ratio`): below it, the window is a scroll or pan.
    pub blend_max_shift_fit: f32,
    /// A cut moves the brightness of at least one signature cell by this much: a keyframe that
    /// refreshes a static picture re-quantises everything a little, mostly colour, but no cell's
    /// luma jumps like text or a picture appearing.
    pub cut_min_peak: f32,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            cut_floor: 0.005,
            cut_ratio: 3.0,
            cut_window: 10,
            black: 0.02,
            blend_half_windows: [36, 20, 12, 6],
            blend_residual: 0.15,
            blend_floor: 0.012,
            blend_floor_short: 0.05,
            blend_long_half: 20,
            blend_max_shift_fit: 0.5,
            cut_min_peak: 0.18,
        }
    }
}

/// Mean absolute difference, on the [0, 1] scale.
pub fn mad(a: &[u8], b: &[u8]) -> f32 {
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
    cuts.retain(|&c| luma_peak(&frames[c - 1], &frames[c]) >= p.cut_min_peak);
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
            // A slow scroll or pan also looks like a blend of its ends; a dissolve's ends are
            // not one moved copy of the other. Short windows are judged on ends twice as far
            // apart too, where a scroll has moved far enough to show.
            let (wa, wb) = (a.saturating_sub(b - a), (b + (b - a)).min(n - 1));
            let fit =
                shift_ratio(&frames[a], &frames[b]).min(shift_ratio(&frames[wa], &frames[wb]));
            if fit < p.blend_max_shift_fit {
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
    let floor = if seg.len() / 2 >= p.blend_long_half {
        p.blend_floor
    } else {
        p.blend_floor_short
    };
    if l < floor {
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

/// The largest change of one cell's luma (Rec. 601 weights) from `a` to `b`, on the [0, 1]
/// scale; signatures are RGB triples.
fn luma_peak(a: &[u8], b: &[u8]) -> f32 {
    let luma = |c: &[u8]| 0.299 * unit(c[0]) + 0.587 * unit(c[1]) + 0.114 * unit(c[2]);
    a.chunks_exact(3)
        .zip(b.chunks_exact(3))
        .map(|(x, y)| (luma(x) - luma(y)).abs())
        .fold(0.0, f32::max)
}

/// How much of the change from `a` to `b` a scroll or pan explains: the smallest mean absolute
/// difference between `b` and `a` moved by a fraction of a cell up to `MAX_SHIFT` cells, up,
/// down, left or right (linear interpolation; cells that would come from outside the frame are
/// left out of both sides), over the difference without moving, on the same cells. Near 0:
/// `b` is `a` scrolled; near 1 (or above): no move explains it. 1 for signatures of another size.
pub(crate) fn shift_ratio(a: &[u8], b: &[u8]) -> f32 {
    use nightshift_worker_protocol::frames::{SIG_H, SIG_W};
    const MAX_SHIFT: f32 = 2.0;
    const STEPS: i32 = 16; // eighths of a cell
    if a.len() != SIG_W * SIG_H * 3 || b.len() != a.len() {
        return 1.0;
    }
    let at = |x: usize, y: usize, c: usize| f32::from(a[(y * SIG_W + x) * 3 + c]);
    let bt = |x: usize, y: usize, c: usize| f32::from(b[(y * SIG_W + x) * 3 + c]);
    let mut best = f32::INFINITY;
    for vertical in [true, false] {
        for k in -STEPS..=STEPS {
            if k == 0 {
                continue;
            }
            let s = k as f32 * MAX_SHIFT / STEPS as f32;
            let (mut moved, mut still, mut cells) = (0.0f32, 0.0f32, 0usize);
            for y in 0..SIG_H {
                for x in 0..SIG_W {
                    // Where this cell of `b` comes from in `a`.
                    let src = if vertical { y as f32 + s } else { x as f32 + s };
                    let limit = if vertical { SIG_H } else { SIG_W };
                    if src < 0.0 || src > (limit - 1) as f32 {
                        continue;
                    }
                    let i0 = src.floor() as usize;
                    let i1 = (i0 + 1).min(limit - 1);
                    let f = src - i0 as f32;
                    for c in 0..3 {
                        let (v0, v1) = if vertical {
                            (at(x, i0, c), at(x, i1, c))
                        } else {
                            (at(i0, y, c), at(i1, y, c))
                        };
                        moved += (bt(x, y, c) - (v0 * (1.0 - f) + v1 * f)).abs();
                        still += (bt(x, y, c) - at(x, y, c)).abs();
                    }
                    cells += 1;
                }
            }
            if cells > 0 && still > 0.0 {
                best = best.min(moved / still);
            }
        }
    }
    if best.is_finite() { best } else { 1.0 }
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

    /// A full-size signature (`SIG_W` × `SIG_H` RGB) from a luma function of the cell.
    fn picture(f: impl Fn(usize, usize) -> f32) -> Signature {
        use nightshift_worker_protocol::frames::{SIG_H, SIG_W};
        let mut out = Vec::with_capacity(SIG_W * SIG_H * 3);
        for y in 0..SIG_H {
            for x in 0..SIG_W {
                let v = (f(x, y).clamp(0.0, 1.0) * 255.0).round() as u8;
                out.extend([v, v, v]);
            }
        }
        out
    }

    /// A page of text lines (dark bands one cell high every 3 cells, on white) scrolled up by
    /// `offset` cells, each cell the mean of its area as the decoder's thumbnails are.
    fn page(offset: f32) -> Signature {
        picture(|x, y| {
            const SUB: usize = 20;
            let ink = (0..SUB)
                .filter(|i| {
                    let row = y as f32 + (*i as f32 + 0.5) / SUB as f32 + offset;
                    row.rem_euclid(3.0) < 1.0
                })
                .count() as f32
                / SUB as f32;
            if (2..28).contains(&x) {
                0.95 - 0.7 * ink
            } else {
                0.95
            }
        })
    }

    #[test]
    fn a_slow_scroll_is_not_a_dissolve() {
        // A held page, then scrolling by 1/20 of a cell per frame (1 px at 360p), then held.
        let mut f: Vec<Signature> = (0..40).map(|_| page(0.0)).collect();
        f.extend((0..120).map(|i| page(i as f32 / 20.0)));
        f.extend((0..40).map(|_| page(6.0)));
        let found = detect(&f, &DetectParams::default());
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_keyframe_refresh_is_not_a_cut_but_a_changed_line_is() {
        let slide = |text: f32| picture(move |x, y| if y == 5 && x < 20 { text } else { 0.9 });
        // Re-quantised colour everywhere, brightness nearly unchanged.
        let refreshed: Signature = slide(0.2)
            .chunks(3)
            .flat_map(|c| {
                [
                    c[0].saturating_add(6),
                    c[1].saturating_sub(2),
                    c[2].saturating_add(6),
                ]
            })
            .collect();
        let mut f: Vec<Signature> = (0..40).map(|_| slide(0.2)).collect();
        f.extend((0..40).map(|_| refreshed.clone()));
        f.extend((0..40).map(|_| slide(0.6))); // one line of text changes: a cut at 80
        let found = detect(&f, &DetectParams::default());
        let kinds: Vec<_> = found.iter().map(|b| (b.kind, b.frame)).collect();
        assert_eq!(kinds, [(TransitionKind::Cut, 80)]);
    }

    #[test]
    fn a_faint_dissolve_between_still_slides_is_found() {
        let a = picture(|x, y| if y == 5 && x < 20 { 0.2 } else { 0.9 });
        let b = picture(|x, y| if y == 8 && x < 20 { 0.2 } else { 0.9 });
        let mix = |t: f32| -> Signature {
            a.iter()
                .zip(&b)
                .map(|(&x, &y)| (f32::from(x) * (1.0 - t) + f32::from(y) * t).round() as u8)
                .collect()
        };
        let mut f: Vec<Signature> = (0..60).map(|_| a.clone()).collect();
        f.extend((1..25).map(|i| mix(i as f32 / 25.0)));
        f.extend((0..60).map(|_| b.clone()));
        assert!(
            mad(&a, &b) < DetectParams::default().blend_floor_short,
            "a faint change"
        );
        let found = detect(&f, &DetectParams::default());
        let kinds: Vec<_> = found.iter().map(|b| (b.kind, b.frame)).collect();
        assert_eq!(kinds.len(), 1, "{kinds:?}");
        assert_eq!(kinds[0].0, TransitionKind::Dissolve);
        assert!((66..=78).contains(&kinds[0].1), "{kinds:?}");
    }

    #[test]
    fn steady_motion_is_not_a_cut() {
        let f: Vec<Vec<f32>> = (0..200).map(|i| textured(3, i)).collect();
        assert!(detect(&bytes(f), &DetectParams::default()).is_empty());
    }
}
