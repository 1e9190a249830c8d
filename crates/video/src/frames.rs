//! Frame signatures: every decoded frame scaled (area average) to a 32×18 RGB thumbnail by an
//! ffmpeg child, read from a pipe. At that size text slides still differ, and decoding costs
//! far more than comparing.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::VideoError;

pub const SIG_W: usize = 32;
pub const SIG_H: usize = 18;

/// Signatures of every frame, in decode order (frame k = the k-th decoded frame).
pub fn signatures(input: &Path) -> Result<Vec<Vec<f32>>, VideoError> {
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        // Speed: no in-loop deblocking (invisible at 32×18).
        .args(["-skip_loop_filter", "all", "-i"])
        .arg(input)
        .args([
            "-an",
            "-sn",
            "-vf",
            &format!("scale={SIG_W}:{SIG_H}:flags=area"),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| VideoError::Io("starting ffmpeg".into(), e))?;
    let (Some(mut stderr), Some(mut out)) = (child.stderr.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(VideoError::Decode("ffmpeg pipes unavailable".into()));
    };
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let size = SIG_W * SIG_H * 3;
    let mut buf = vec![0u8; size];
    let mut frames = Vec::new();
    loop {
        match read_full(&mut out, &mut buf) {
            Ok(true) => frames.push(buf.iter().map(|&b| f32::from(b) / 255.0).collect()),
            Ok(false) => break,
            Err(e) => return Err(VideoError::Io("reading frames".into(), e)),
        }
    }
    let status = child
        .wait()
        .map_err(|e| VideoError::Io("waiting for ffmpeg".into(), e))?;
    let errors = err_thread.join().unwrap_or_default();
    if !status.success() && frames.is_empty() {
        let first = errors.lines().next().unwrap_or("ffmpeg failed").to_string();
        return Err(VideoError::Decode(first));
    }
    Ok(frames)
}

/// Fill `buf` completely; `false` at a clean end of stream.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
