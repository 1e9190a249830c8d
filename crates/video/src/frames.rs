//! Frame signatures: every decoded frame reduced (area average) to a 32×18 RGB thumbnail. At
//! that size text slides still differ, and decoding costs far more than comparing.
//!
//! The signatures come from `nightshift-frames-worker`, which decodes with libavcodec in its
//! own process and averages the YUV planes directly (see its crate). Without that binary, or
//! when it fails, they come from the ffmpeg command line: each frame scaled by swscale's area
//! filter, read from a pipe — about half as fast, since the scaler costs as much as decoding.
//! There a longer video is decoded as two halves by two ffmpeg children at once, split at the
//! keyframe nearest its middle (from a demux-only packet listing), and the halves are used only
//! when each has exactly the frame count the listing predicts; otherwise in one go.
//!
//! Every decoder process — the worker and the ffmpeg children alike — is started and reaped by
//! the supervisor ([`StreamingChild`]): its own process group, nice 10, killed if we die or
//! when it runs past [`DECODE_TIMEOUT`], stderr forwarded into `tracing`, and its peak memory
//! from `wait4`.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nightshift_supervisor::{StreamOptions, StreamingChild};
use nightshift_worker_protocol::frames::{SIG_BYTES, plan_halves};

pub use nightshift_worker_protocol::frames::{FRAMES_WORKER, SIG_H, SIG_W};

use crate::VideoError;

/// One frame's signature: SIG_W × SIG_H RGB bytes, row by row (bytes, not floats: an hour of
/// 30 fps video is 190 MB of them).
pub type Signature = Vec<u8>;

/// The most one decoder process may take; then its process group is killed and the decode is
/// an error. A whole-run limit, not an idle one: the frames worker writes nothing until it has
/// decoded every frame. Meant for a hung decoder only (the corpus videos decode at thousands of
/// frames a second; an hour of 30 fps video is 108,000 frames).
pub const DECODE_TIMEOUT: Duration = Duration::from_secs(3600);

/// A video's signatures and what decoding them took.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub frames: Vec<Signature>,
    /// Peak resident memory of the decoding process(es), bytes.
    pub peak_rss_bytes: u64,
}

/// Signatures of every frame, frame k at k / `fps` (a variable-rate video has frames repeated
/// or dropped to that rate).
pub fn signatures(input: &Path, fps: f64) -> Result<Vec<Signature>, VideoError> {
    decode_signatures(input, fps).map(|d| d.frames)
}

/// [`signatures`] with the decoder's memory: by the frames worker, else by ffmpeg.
pub fn decode_signatures(input: &Path, fps: f64) -> Result<Decoded, VideoError> {
    match signatures_by_worker(input, fps) {
        Ok(d) => return Ok(d),
        Err(e) => tracing::warn!("{e}; decoding with the ffmpeg command line (slower)"),
    }
    signatures_by_ffmpeg(input, fps)
}

/// Signatures decoded in process by `nightshift-frames-worker`.
pub fn signatures_by_worker(input: &Path, fps: f64) -> Result<Decoded, VideoError> {
    nightshift_supervisor::spawn_frames_worker(input, fps, &stream_options())
        .map_err(|e| VideoError::Decode(e.to_string()))
        .and_then(|child| read_signatures(child, FRAMES_WORKER))
        .map_err(|e| VideoError::Decode(format!("{}: {FRAMES_WORKER}: {e}", input.display())))
}

fn stream_options() -> StreamOptions {
    StreamOptions {
        timeout: DECODE_TIMEOUT,
        ..StreamOptions::default()
    }
}

/// Signatures through ffmpeg children and swscale (the fallback).
pub fn signatures_by_ffmpeg(input: &Path, fps: f64) -> Result<Decoded, VideoError> {
    if let Some(split) = split_point(input, fps) {
        let (first, second) = std::thread::scope(|scope| {
            let first = scope.spawn(|| decode(input, fps, Part::Before(split.first_end_s)));
            let second = decode(input, fps, Part::From(split.second_seek_s));
            (first.join().expect("decode thread panicked"), second)
        });
        match (first, second) {
            (Ok(mut a), Ok(b))
                if a.frames.len() == split.before && b.frames.len() == split.after =>
            {
                a.frames.extend(b.frames);
                a.peak_rss_bytes = a.peak_rss_bytes.max(b.peak_rss_bytes);
                return Ok(a);
            }
            (a, b) => tracing::debug!(
                "{}: split decode gave {:?} + {:?} frames, expected {} + {}; decoding in one go",
                input.display(),
                a.map(|v| v.frames.len()).map_err(|e| e.to_string()),
                b.map(|v| v.frames.len()).map_err(|e| e.to_string()),
                split.before,
                split.after
            ),
        }
    }
    decode(input, fps, Part::All)
}

/// Which frames one ffmpeg child decodes.
#[derive(Debug, Clone, Copy)]
enum Part {
    All,
    /// Frames before this many seconds from the start.
    Before(f64),
    /// From the keyframe at or before this time (no accurate seek: decoding starts there).
    From(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Split {
    first_end_s: f64,
    second_seek_s: f64,
    before: usize,
    after: usize,
}

/// Where to cut the video in two, from `ffprobe`'s packet listing; `None` for a short video,
/// one without a keyframe near its middle, or a listing we cannot trust (missing times).
fn split_point(input: &Path, fps: f64) -> Option<Split> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args([
            "format=start_time:packet=pts_time,flags",
            "-of",
            "compact=p=0:nk=0",
        ])
        .arg(input)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    plan_split(&String::from_utf8_lossy(&out.stdout), fps)
}

/// The pure part of [`split_point`]: lines `pts_time=…|flags=K__` per packet and one
/// `start_time=…` for the container.
fn plan_split(listing: &str, fps: f64) -> Option<Split> {
    let mut start = None;
    let mut packets: Vec<(f64, bool)> = Vec::new();
    for line in listing.lines() {
        let field = |key: &str| {
            line.split('|')
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        };
        if let Some(flags) = field("flags") {
            let pts: f64 = field("pts_time")?.parse().ok()?;
            packets.push((pts, flags.starts_with('K')));
        } else if let Some(s) = field("start_time") {
            start = Some(s.parse::<f64>().ok()?);
        }
    }
    let halves = plan_halves(&packets, fps)?;
    let (key, interval) = (packets[halves.key].0, halves.interval_s);
    let times_first = packets.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let rel = key - start.unwrap_or(times_first);
    Some(Split {
        first_end_s: rel - interval / 2.0,
        second_seek_s: rel + interval / 2.0,
        before: halves.before,
        after: halves.after,
    })
}

fn decode(input: &Path, fps: f64, part: Part) -> Result<Decoded, VideoError> {
    let mut args = os_args(&["-hide_banner", "-loglevel", "error", "-nostdin"]);
    // Speed: no in-loop deblocking (invisible at 32×18); one thread per child when the video
    // is split in two (ffmpeg's frame threads gain little at these sizes).
    args.extend(os_args(&["-skip_loop_filter", "all"]));
    match part {
        Part::All => {}
        Part::Before(_) => args.extend(os_args(&["-threads", "1"])),
        Part::From(t) => args.extend(os_args(&[
            "-threads",
            "1",
            "-noaccurate_seek",
            "-ss",
            &format!("{t:.6}"),
        ])),
    }
    args.push("-i".into());
    args.push(input.as_os_str().to_owned());
    match part {
        Part::All => args.extend(os_args(&["-r", &format!("{fps}")])),
        Part::Before(t) => args.extend(os_args(&["-t", &format!("{t:.6}")])),
        Part::From(_) => {}
    }
    args.extend(os_args(&[
        "-an",
        "-sn",
        // One-go: a constant rate, so frame k lies at k / fps even for variable-rate input.
        // Halves (constant-rate input only): every decoded frame once, as decoded.
        "-fps_mode",
        if matches!(part, Part::All) {
            "cfr"
        } else {
            "passthrough"
        },
        "-vf",
        &format!("scale={SIG_W}:{SIG_H}:flags=area"),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "pipe:1",
    ]));
    // Started like a worker (own process group, nice 10, killed with us or after the limit).
    let child = StreamingChild::spawn(Path::new("ffmpeg"), args, &stream_options())
        .map_err(|e| VideoError::Decode(e.to_string()))?;
    read_signatures(child, "ffmpeg")
}

fn os_args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// Read raw RGB signatures from `child` until it closes its stdout, then reap it. A failure
/// with no frames is the first line it wrote on stderr.
fn read_signatures(mut child: StreamingChild, what: &str) -> Result<Decoded, VideoError> {
    let mut buf = vec![0u8; SIG_BYTES];
    let mut frames = Vec::new();
    let read = loop {
        match read_full(&mut child, &mut buf) {
            Ok(true) => frames.push(buf.clone()),
            Ok(false) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    if read.is_err() {
        child.kill();
    }
    // Reaped with wait4 by the supervisor: the decoder's peak memory comes with its status.
    let end = child
        .finish()
        .map_err(|e| VideoError::Decode(format!("waiting for {what}: {e}")));
    read.map_err(|e| VideoError::Io("reading frames".into(), e))?;
    let end = end?;
    if end.timed_out {
        return Err(VideoError::Decode(format!(
            "{what} did not finish within {DECODE_TIMEOUT:?}: killed"
        )));
    }
    if !end.exit.success() && frames.is_empty() {
        let first = end
            .stderr_tail
            .first()
            .cloned()
            .unwrap_or_else(|| format!("{what} failed ({})", end.exit));
        return Err(VideoError::Decode(first));
    }
    Ok(Decoded {
        frames,
        peak_rss_bytes: end.peak_rss_bytes,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(frames: usize, key_every: usize, fps: f64, start: f64) -> String {
        let mut s = format!("start_time={start:.6}\n");
        for i in 0..frames {
            let flags = if i % key_every == 0 { "K__" } else { "___" };
            s += &format!("pts_time={:.6}|flags={flags}\n", start + i as f64 / fps);
        }
        s
    }

    #[test]
    fn splits_at_the_keyframe_nearest_the_middle() {
        let split = plan_split(&listing(1000, 250, 25.0, 0.0), 25.0).unwrap();
        // keyframes at 0, 250, 500, 750: the middle one is frame 500 (20 s)
        assert_eq!((split.before, split.after), (500, 500));
        assert!((split.first_end_s - 19.98).abs() < 1e-9);
        assert!((split.second_seek_s - 20.02).abs() < 1e-9);
        // times are relative to the container's start
        let split = plan_split(&listing(1000, 250, 25.0, 1.5), 25.0).unwrap();
        assert!((split.second_seek_s - 20.02).abs() < 1e-9);
    }

    #[test]
    fn short_videos_and_lone_keyframes_are_not_split() {
        assert_eq!(plan_split(&listing(300, 50, 25.0, 0.0), 25.0), None);
        // only the first frame is a keyframe: no split near the middle
        assert_eq!(plan_split(&listing(1000, 5000, 25.0, 0.0), 25.0), None);
        // variable frame rate: the halves could not keep frame k at k / fps
        let mut l = listing(1000, 250, 25.0, 0.0);
        l += "pts_time=45.000000|flags=___\n";
        assert_eq!(plan_split(&l, 25.0), None);
        // a packet without a time makes the listing untrustworthy
        let mut l = listing(1000, 250, 25.0, 0.0);
        l += "pts_time=N/A|flags=___\n";
        assert_eq!(plan_split(&l, 25.0), None);
        // packets at another rate than frames are placed at
        assert_eq!(plan_split(&listing(1000, 250, 25.0, 0.0), 50.0), None);
    }
}
