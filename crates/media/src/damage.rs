//! Locating damaged stretches after ffmpeg reported decode errors.
//!
//! ffmpeg's error lines carry no media time. Frames that fail to decode are simply missing from
//! the decoder's output, so a second pass that lists the timestamps of the frames that *did*
//! decode shows the holes exactly. It only runs for files that produced decode errors.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::MediaError;
use crate::decode::{ffprobe_bin, spawn_error};

/// Time ranges (seconds) of audio stream 0 that did not decode.
pub fn damaged_ranges(input: &Path, duration_s: f64) -> Result<Vec<(f64, f64)>, MediaError> {
    let out = Command::new(ffprobe_bin())
        .args(["-v", "quiet", "-select_streams", "a:0", "-show_entries"])
        .args(["frame=best_effort_timestamp_time", "-of", "csv=p=0", "-i"])
        .arg(input)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| spawn_error("ffprobe", e))?;
    let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    Ok(holes(&times, duration_s))
}

/// Gaps in a sequence of frame start times that are much longer than a normal frame.
pub(crate) fn holes(times: &[f64], duration_s: f64) -> Vec<(f64, f64)> {
    if times.is_empty() {
        return vec![(0.0, duration_s)];
    }
    let mut steps: Vec<f64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .collect();
    steps.sort_by(f64::total_cmp);
    let frame = steps.get(steps.len() / 2).copied().unwrap_or(0.02);
    let big = (2.5 * frame).max(0.1);
    let mut out = Vec::new();
    if times[0] > big {
        out.push((0.0, times[0]));
    }
    for w in times.windows(2) {
        if w[1] - w[0] > big {
            out.push((w[0] + frame, w[1]));
        }
    }
    let last_end = times[times.len() - 1] + frame;
    if duration_s - last_end > big {
        out.push((last_end, duration_s));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_holes() {
        let mut t: Vec<f64> = (0..50).map(|i| i as f64 * 0.02).collect();
        t.extend((150..200).map(|i| i as f64 * 0.02));
        let h = holes(&t, 4.0);
        assert_eq!(h.len(), 1);
        assert!((h[0].0 - 1.0).abs() < 1e-9 && (h[0].1 - 3.0).abs() < 1e-9);
        let tail = holes(&t, 6.0);
        assert_eq!(tail.len(), 2);
        assert!(holes(&(0..10).map(|i| i as f64 * 0.02).collect::<Vec<_>>(), 0.2).is_empty());
    }
}
