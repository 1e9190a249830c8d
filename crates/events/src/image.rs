//! Pictures for the detector: any file ffmpeg reads (PNG keyframes, JPEG photos), stretched to
//! the model's input size and returned as packed RGB bytes. ffmpeg runs as a child with the
//! path as an argument, never through a shell.

use std::path::Path;
use std::process::Command;

use crate::EventsError;

/// `path` as `width` × `height` RGB24 (stretched, bilinear).
pub fn load_rgb(path: &Path, width: usize, height: usize) -> Result<Vec<u8>, EventsError> {
    let bad = |why: String| EventsError::Input(format!("{}: {why}", path.display()));
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-frames:v",
            "1",
            "-vf",
            &format!("scale={width}:{height}:flags=bilinear"),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .map_err(|e| bad(format!("cannot run ffmpeg: {e}")))?;
    let want = width * height * 3;
    if !out.status.success() || out.stdout.len() != want {
        let err = String::from_utf8_lossy(&out.stderr);
        let why = err
            .lines()
            .last()
            .unwrap_or("not a picture")
            .trim()
            .to_string();
        return Err(bad(if why.is_empty() {
            format!("decoded {} bytes, want {want}", out.stdout.len())
        } else {
            why
        }));
    }
    Ok(out.stdout)
}
