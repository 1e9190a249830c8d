//! `nightshift-frames-worker [--fps F] FILE`: every frame of FILE's first video stream as a
//! 32×18 RGB signature (the area average of each cell), written raw on stdout,
//! `SIG_W × SIG_H × 3` bytes a frame, frame k at k / F (constant rate: a variable-rate video
//! has frames repeated or dropped as `ffmpeg -fps_mode cfr -r F` would). F defaults to
//! ffmpeg's guess of the stream's rate (its base rate, unless that is a time-base artefact).
//!
//! Why a worker of its own: scene detection's cost is decoding. In process, libavcodec's frames
//! are averaged straight from their YUV planes (swscale's area filter cost more than the
//! decode), and a longer video is decoded as two halves on two threads, split at the keyframe
//! nearest its middle, with no ffprobe or ffmpeg start-up. FFmpeg's libraries are linked only
//! here, so the `nightshift` binary starts fast and a decoder crash on a bad file kills only
//! this process (the caller reports it and falls back to the ffmpeg command line).
//!
//! Exit status: 0 after the last frame; 1 with one line on stderr when the file cannot be
//! decoded; 2 for a usage error. `NIGHTSHIFT_FRAMES_SPLIT=0` turns the two-half decode off;
//! `require` makes it an error when the halves cannot be used (tests).

mod average;
mod decode;

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let (fps, path) = match args.as_slice() {
        [path] => (None, path),
        [flag, f, path] if flag == "--fps" => {
            match f.to_str().and_then(|f| f.parse::<f64>().ok()) {
                Some(f) if f.is_finite() && f > 0.0 => (Some(f), path),
                _ => {
                    eprintln!("--fps: not a positive number: {}", f.to_string_lossy());
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("usage: nightshift-frames-worker [--fps F] VIDEO");
            return ExitCode::from(2);
        }
    };
    let path = std::path::PathBuf::from(path);
    match decode::signatures(&path, fps) {
        Ok(frames) => {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            for f in &frames {
                if out.write_all(f).is_err() {
                    return ExitCode::from(1); // the reader went away
                }
            }
            if out.flush().is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::from(1)
        }
    }
}
