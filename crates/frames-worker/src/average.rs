//! A decoded picture → its signature: the mean of each of SIG_W × SIG_H cells of the Y, U and
//! V planes, then converted to RGB. Averaging first and converting after is the same as the
//! other way round (the conversion is affine) except for clipping, and costs a fraction of a
//! scaler: one pass of contiguous row sums over the planes.

use nightshift_worker_protocol::frames::{SIG_H, SIG_W};

/// One 8-bit planar YUV picture.
pub struct Planes<'a> {
    pub width: usize,
    pub height: usize,
    /// Y, U, V data and line sizes.
    pub data: [&'a [u8]; 3],
    pub stride: [usize; 3],
    /// Chroma subsampling, log2 (4:2:0 = (1, 1)).
    pub log2_chroma: (u32, u32),
    /// Full-range ("JPEG") levels instead of 16–235.
    pub full_range: bool,
    /// BT.709 coefficients instead of BT.601.
    pub bt709: bool,
}

/// Cell `i` of `n` over `len` samples: `[start, end)`, never empty.
fn cell(i: usize, n: usize, len: usize) -> (usize, usize) {
    let start = (i * len / n).min(len.saturating_sub(1));
    let end = ((i + 1) * len / n).clamp(start + 1, len.max(1));
    (start, end)
}

/// Mean of each cell of one plane of `w × h` samples.
fn plane_means(data: &[u8], stride: usize, w: usize, h: usize, out: &mut [f32]) {
    let cols: Vec<(usize, usize)> = (0..SIG_W).map(|i| cell(i, SIG_W, w)).collect();
    let mut sums = [0u32; SIG_W];
    for (j, mean_row) in out.chunks_exact_mut(SIG_W).enumerate() {
        let (y0, y1) = cell(j, SIG_H, h);
        sums.fill(0);
        for y in y0..y1 {
            let Some(row) = data.get(y * stride..y * stride + w) else {
                break; // a short plane: what is there counts
            };
            for (s, &(x0, x1)) in sums.iter_mut().zip(&cols) {
                *s += row[x0..x1].iter().map(|&b| u32::from(b)).sum::<u32>();
            }
        }
        for (m, (s, &(x0, x1))) in mean_row.iter_mut().zip(sums.iter().zip(&cols)) {
            *m = *s as f32 / ((x1 - x0) * (y1 - y0)) as f32;
        }
    }
}

/// The picture's signature, RGB bytes row by row.
pub fn signature(p: &Planes<'_>) -> Vec<u8> {
    let n = SIG_W * SIG_H;
    let mut yuv = [vec![0f32; n], vec![0f32; n], vec![0f32; n]];
    let (sx, sy) = p.log2_chroma;
    let cw = (p.width + (1 << sx) - 1) >> sx;
    let ch = (p.height + (1 << sy) - 1) >> sy;
    for (k, means) in yuv.iter_mut().enumerate() {
        let (w, h) = if k == 0 {
            (p.width, p.height)
        } else {
            (cw, ch)
        };
        plane_means(p.data[k], p.stride[k], w, h, means);
    }
    let (kr, kb) = if p.bt709 {
        (0.2126, 0.0722)
    } else {
        (0.299, 0.114)
    };
    let kg = 1.0 - kr - kb;
    let (y_scale, c_scale) = if p.full_range {
        (1.0, 1.0)
    } else {
        (255.0 / 219.0, 255.0 / 224.0)
    };
    let y_off = if p.full_range { 0.0 } else { 16.0 };
    let mut out = Vec::with_capacity(n * 3);
    let [ys, us, vs] = &yuv;
    for ((&y, &u), &v) in ys.iter().zip(us).zip(vs) {
        let y = (y - y_off) * y_scale;
        let cb = (u - 128.0) * c_scale;
        let cr = (v - 128.0) * c_scale;
        let r = y + 2.0 * (1.0 - kr) * cr;
        let b = y + 2.0 * (1.0 - kb) * cb;
        let g = (y - kr * r - kb * b) / kg;
        for v in [r, g, b] {
            out.push(v.round().clamp(0.0, 255.0) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(w: usize, h: usize, yuv: [u8; 3], full_range: bool) -> Vec<u8> {
        let y = vec![yuv[0]; w * h];
        let c = vec![yuv[1]; w.div_ceil(2) * h.div_ceil(2)];
        let v = vec![yuv[2]; w.div_ceil(2) * h.div_ceil(2)];
        signature(&Planes {
            width: w,
            height: h,
            data: [&y, &c, &v],
            stride: [w, w.div_ceil(2), w.div_ceil(2)],
            log2_chroma: (1, 1),
            full_range,
            bt709: false,
        })
    }

    #[test]
    fn levels_convert_like_bt601() {
        // Limited-range black and white, full-range grey, limited-range pure red.
        assert!(flat(64, 36, [16, 128, 128], false).iter().all(|&b| b == 0));
        assert!(
            flat(64, 36, [235, 128, 128], false)
                .iter()
                .all(|&b| b == 255)
        );
        assert!(
            flat(64, 36, [128, 128, 128], true)
                .iter()
                .all(|&b| b == 128)
        );
        let red = flat(64, 36, [81, 90, 240], false);
        assert!(
            red[0] >= 250 && red[1] <= 5 && red[2] <= 5,
            "{:?}",
            &red[..3]
        );
        assert_eq!(red.len(), SIG_W * SIG_H * 3);
    }

    #[test]
    fn each_cell_is_the_mean_of_its_pixels() {
        // Left half black, right half white (limited range): the cells split the same way,
        // also for odd sizes and frames smaller than the signature.
        for (w, h) in [(640usize, 360usize), (321, 181), (16, 9)] {
            let y: Vec<u8> = (0..w * h)
                .map(|i| if i % w < w / 2 { 16 } else { 235 })
                .collect();
            let c = vec![128u8; w.div_ceil(2) * h.div_ceil(2)];
            let sig = signature(&Planes {
                width: w,
                height: h,
                data: [&y, &c, &c],
                stride: [w, w.div_ceil(2), w.div_ceil(2)],
                log2_chroma: (1, 1),
                full_range: false,
                bt709: false,
            });
            assert_eq!(sig[0], 0, "{w}x{h}");
            assert_eq!(sig[(SIG_W - 1) * 3], 255, "{w}x{h}");
        }
    }
}
