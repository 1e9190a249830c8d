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

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::VideoError;

pub const SIG_W: usize = 32;
pub const SIG_H: usize = 18;

/// One frame's signature: SIG_W × SIG_H RGB bytes, row by row (bytes, not floats: an hour of
/// 30 fps video is 190 MB of them).
pub type Signature = Vec<u8>;

/// Videos with fewer frames than this are decoded in one go (a second decoder costs more to
/// start than it saves).
pub const SPLIT_MIN_FRAMES: usize = 600;

/// The worker that decodes signatures in process.
pub const FRAMES_WORKER: &str = "nightshift-frames-worker";

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
    let bin = nightshift_supervisor::find_worker_binary(FRAMES_WORKER)
        .map_err(|e| VideoError::Decode(e.to_string()))?;
    let mut cmd = Command::new(&bin);
    cmd.args(["--fps", &format!("{fps}")]).arg(input);
    read_signatures(cmd, FRAMES_WORKER)
        .map_err(|e| VideoError::Decode(format!("{}: {FRAMES_WORKER}: {e}", input.display())))
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

/// Where a video splits into two halves that decode on their own, from its packets
/// `(time in seconds, keyframe)` in any order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Halves {
    /// Index (in the given packets) of the keyframe the second half starts at.
    pub key: usize,
    /// Frames before it and from it on.
    pub before: usize,
    pub after: usize,
    /// The constant frame interval, seconds.
    pub interval_s: f64,
}

/// The split both decoders use: at the keyframe nearest the middle, for a constant-rate video
/// of at least [`SPLIT_MIN_FRAMES`] frames whose rate is `fps` (then every decoded frame of a
/// half is one placed frame, exactly as in a one-go decode), both halves at least a quarter.
/// `None` otherwise, and for packets without times (`NaN`).
pub fn plan_halves(packets: &[(f64, bool)], fps: f64) -> Option<Halves> {
    if packets.len() < SPLIT_MIN_FRAMES || packets.iter().any(|p| !p.0.is_finite()) {
        return None;
    }
    let mut times: Vec<f64> = packets.iter().map(|p| p.0).collect();
    times.sort_by(f64::total_cmp);
    let interval = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 1e-6)
        .fold(f64::INFINITY, f64::min);
    if !interval.is_finite() {
        return None;
    }
    // Allowed jitter: 1 % plus the millisecond rounding of WebM/Matroska timestamps.
    if times
        .windows(2)
        .any(|w| ((w[1] - w[0]) - interval).abs() > interval * 0.01 + 0.0011)
    {
        return None;
    }
    if (1.0 / interval - fps).abs() > fps * 0.02 {
        return None; // the packets' rate is not the rate frames are placed at
    }
    let middle = times[times.len() / 2];
    let key = packets
        .iter()
        .enumerate()
        .filter(|(_, p)| p.1)
        .min_by(|a, b| (a.1.0 - middle).abs().total_cmp(&(b.1.0 - middle).abs()))?
        .0;
    let before = times.iter().filter(|&&t| t < packets[key].0).count();
    if before < times.len() / 4 || times.len() - before < times.len() / 4 {
        return None;
    }
    Some(Halves {
        key,
        before,
        after: times.len() - before,
        interval_s: interval,
    })
}

fn decode(input: &Path, fps: f64, part: Part) -> Result<Decoded, VideoError> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        // Speed: no in-loop deblocking (invisible at 32×18); one thread per child when the
        // video is split in two (ffmpeg's frame threads gain little at these sizes).
        .args(["-skip_loop_filter", "all"]);
    match part {
        Part::All => {}
        Part::Before(_) => {
            cmd.args(["-threads", "1"]);
        }
        Part::From(t) => {
            cmd.args([
                "-threads",
                "1",
                "-noaccurate_seek",
                "-ss",
                &format!("{t:.6}"),
            ]);
        }
    }
    cmd.arg("-i").arg(input);
    if let Part::Before(t) = part {
        cmd.args(["-t", &format!("{t:.6}")]);
    }
    if let Part::All = part {
        cmd.args(["-r", &format!("{fps}")]);
    }
    cmd.args([
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
    ]);
    read_signatures(cmd, "ffmpeg")
}

/// Run `cmd`, which writes raw RGB signatures on stdout, and collect them. A failure is the
/// first line it wrote on stderr.
fn read_signatures(mut cmd: Command, what: &str) -> Result<Decoded, VideoError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| VideoError::Io(format!("starting {what}"), e))?;
    let (Some(mut stderr), Some(mut out)) = (child.stderr.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(VideoError::Decode(format!("{what} pipes unavailable")));
    };
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let size = SIG_W * SIG_H * 3;
    let mut buf = vec![0u8; size];
    let mut frames = Vec::new();
    let read = loop {
        match read_full(&mut out, &mut buf) {
            Ok(true) => frames.push(buf.clone()),
            Ok(false) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    if read.is_err() {
        let _ = child.kill();
    }
    // wait4 through the supervisor's reaper: Child::wait drops the child's peak memory.
    let waited = i32::try_from(child.id())
        .map_err(std::io::Error::other)
        .and_then(nightshift_supervisor::exit::reap_blocking);
    read.map_err(|e| VideoError::Io("reading frames".into(), e))?;
    let reaped = waited.map_err(|e| VideoError::Io(format!("waiting for {what}"), e))?;
    let (status, peak_rss_bytes) = (reaped.exit, reaped.peak_rss_bytes);
    let errors = err_thread.join().unwrap_or_default();
    if !status.success() && frames.is_empty() {
        let first = errors
            .lines()
            .next()
            .map_or_else(|| format!("{what} failed ({status})"), str::to_string);
        return Err(VideoError::Decode(first));
    }
    Ok(Decoded {
        frames,
        peak_rss_bytes,
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
