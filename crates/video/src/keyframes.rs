//! Keyframes: 2–8 per scene by length, spread over the scene's clean interior (away from its
//! transitions), near-duplicates skipped (a static slide keeps one). Extracted in one ffmpeg
//! pass (`fps` to the rate signatures are placed at, so frame k is the same picture for a
//! variable-rate video, then `select`) and stored by content hash.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::VideoError;
use crate::frames::Signature;

/// Frames to keep for a scene `[start, end)` at `fps`, given the signatures.
pub fn pick(sigs: &[Signature], start: usize, end: usize, fps: f64) -> Vec<usize> {
    let len = end.saturating_sub(start);
    if len == 0 {
        return Vec::new();
    }
    let secs = len as f64 / fps.max(1.0);
    let want = (2.0 + secs / 10.0).floor().clamp(2.0, 8.0) as usize;
    // The interior: 10 % in from each end, where no transition reaches.
    let margin = len / 10;
    let (lo, hi) = (start + margin, (end - margin).max(start + margin + 1));
    let mut out: Vec<usize> = Vec::new();
    for i in 0..want {
        let f = lo + (hi - lo - 1) * (2 * i + 1) / (2 * want);
        // Mean absolute difference under 1 % of full scale: the same picture.
        let dup = out.iter().any(|&k| {
            let d: u32 = sigs[k]
                .iter()
                .zip(&sigs[f])
                .map(|(&a, &b)| u32::from(a.abs_diff(b)))
                .sum();
            (d as f32 / 255.0 / sigs[f].len().max(1) as f32) < 0.01
        });
        if !dup {
            out.push(f);
        }
    }
    out
}

/// Write the given frames (decode-order indices) as PNGs named by content hash into `dir`;
/// returns one path per frame, in the same order.
pub fn extract(
    input: &Path,
    frames: &[usize],
    dir: &Path,
    fps: f64,
) -> Result<Vec<PathBuf>, VideoError> {
    if frames.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).map_err(|e| VideoError::Io(format!("{}", dir.display()), e))?;
    let tmp = tempdir_in(dir)?;
    let select = frames
        .iter()
        .map(|f| format!("eq(n\\,{f})"))
        .collect::<Vec<_>>()
        .join("+");
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(input)
        .args([
            "-an",
            "-vf",
            &format!("fps={fps},select='{select}'"),
            "-fps_mode",
            "passthrough",
        ])
        .arg(tmp.join("k%04d.png"))
        .output()
        .map_err(|e| VideoError::Io("starting ffmpeg".into(), e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(VideoError::Decode(
            err.lines().next().unwrap_or("ffmpeg failed").into(),
        ));
    }
    let mut paths = Vec::new();
    let mut sorted: Vec<usize> = frames.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut by_frame = std::collections::HashMap::new();
    for (i, f) in sorted.iter().enumerate() {
        let p = tmp.join(format!("k{:04}.png", i + 1));
        let bytes = std::fs::read(&p).map_err(|e| VideoError::Io(p.display().to_string(), e))?;
        let name = format!("{}.png", hex::encode(Sha256::digest(&bytes)));
        let dest = dir.join(name);
        if !dest.exists() {
            std::fs::rename(&p, &dest)
                .map_err(|e| VideoError::Io(dest.display().to_string(), e))?;
        }
        by_frame.insert(*f, dest);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    for f in frames {
        paths.push(by_frame[f].clone());
    }
    Ok(paths)
}

fn tempdir_in(dir: &Path) -> Result<PathBuf, VideoError> {
    let p = dir.join(format!(".tmp-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&p).map_err(|e| VideoError::Io(p.display().to_string(), e))?;
    Ok(p)
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
