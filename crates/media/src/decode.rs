//! Streaming decode through an ffmpeg subprocess: any input → 16 kHz mono f32 on a pipe.
//!
//! ffmpeg runs in its own process, so decoding overlaps with our VAD for free, a crashing
//! demuxer cannot take the caller down, and memory stays at the pipe's size. Paths are passed
//! as `OsStr` arguments (never through a shell), so any file name works.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use crate::MediaError;

/// Output rate of the decoded timeline.
pub const RATE: u32 = 16_000;

/// How many stderr lines we keep verbatim; the rest are only counted.
const KEPT_STDERR_LINES: usize = 40;

/// ffmpeg executable (override with `NIGHTSHIFT_FFMPEG`).
pub(crate) fn ffmpeg_bin() -> OsString {
    std::env::var_os("NIGHTSHIFT_FFMPEG").unwrap_or_else(|| "ffmpeg".into())
}

/// ffprobe executable (override with `NIGHTSHIFT_FFPROBE`).
pub(crate) fn ffprobe_bin() -> OsString {
    std::env::var_os("NIGHTSHIFT_FFPROBE").unwrap_or_else(|| "ffprobe".into())
}

pub(crate) fn spawn_error(tool: &str, e: std::io::Error) -> MediaError {
    if e.kind() == std::io::ErrorKind::NotFound {
        MediaError::Tool(format!(
            "{tool} not found: install ffmpeg (it provides {tool})"
        ))
    } else {
        MediaError::io(format!("starting {tool}"), e)
    }
}

/// What ffmpeg's stderr said during a decode.
#[derive(Debug, Default)]
pub struct StderrLog {
    pub lines: Vec<String>,
    pub total_lines: usize,
    /// Lines that report damaged data ("Error while decoding", "Invalid data", codec complaints).
    pub decode_errors: usize,
}

/// A running ffmpeg decode. Dropping it kills the process.
pub struct Decoder {
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<StderrLog>>,
    carry: Vec<u8>,
    bytes: Vec<u8>,
}

impl Decoder {
    /// Start decoding audio stream `a:0` of `input`, averaging its `channels` to mono.
    pub fn spawn(input: &Path, channels: u32) -> Result<Self, MediaError> {
        let mut cmd = Command::new(ffmpeg_bin());
        cmd.args(["-nostdin", "-hide_banner", "-nostats", "-v", "error", "-i"])
            .arg(input)
            .args(["-map", "0:a:0", "-vn", "-sn", "-dn", "-af"])
            .arg(filter_graph(channels))
            .args(["-f", "f32le", "-acodec", "pcm_f32le", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| spawn_error("ffmpeg", e))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            return Err(MediaError::Tool("ffmpeg pipes unavailable".into()));
        };
        // Drained on its own thread: a full 64 KiB stderr pipe would block ffmpeg forever.
        let stderr = std::thread::spawn(move || drain_stderr(stderr));
        Ok(Decoder {
            child,
            stdout,
            stderr: Some(stderr),
            carry: Vec::new(),
            bytes: vec![0u8; 64 * 1024],
        })
    }

    /// Append the next block of samples to `out`. Returns false at end of stream.
    pub fn read_block(&mut self, out: &mut Vec<f32>) -> Result<bool, MediaError> {
        let n = loop {
            match self.stdout.read(&mut self.bytes) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(MediaError::io("reading decoded audio from ffmpeg", e)),
            }
        };
        if n == 0 {
            return Ok(false);
        }
        // A read may end inside a 4-byte sample; keep the tail for the next call.
        self.carry.extend_from_slice(&self.bytes[..n]);
        let whole = self.carry.len() / 4 * 4;
        out.extend(
            self.carry[..whole]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        self.carry.drain(..whole);
        Ok(true)
    }

    /// Wait for ffmpeg to exit; an error if it failed.
    pub fn finish(mut self) -> Result<StderrLog, MediaError> {
        let status = self
            .child
            .wait()
            .map_err(|e| MediaError::io("waiting for ffmpeg", e))?;
        let log = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if !status.success() {
            let detail = log
                .lines
                .iter()
                .rev()
                .take(3)
                .rev()
                .cloned()
                .collect::<Vec<_>>();
            return Err(MediaError::Corrupt(format!(
                "decoding failed ({}): {}",
                status,
                detail.join("; ")
            )));
        }
        Ok(log)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // Only reached with the child still running when ingest bails out early.
        if self.stderr.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The filter chain: keep the input's timeline (pad decoder gaps with silence so later samples
/// stay at their true time), average all channels, then band-limited resampling to 16 kHz.
fn filter_graph(channels: u32) -> String {
    // aresample async=1 only inserts silence / trims at timestamp jumps, it never stretches.
    let mut f = String::from("aresample=async=1:first_pts=0,");
    if channels > 1 {
        // An explicit equal-weight average: ffmpeg's default downmix (-ac 1) weights channels by
        // layout (drops LFE, attenuates surrounds), which is not what a meeting mic array wants.
        let w = 1.0 / f64::from(channels);
        let terms: Vec<String> = (0..channels).map(|c| format!("{w}*c{c}")).collect();
        f.push_str(&format!("pan=mono|c0={},", terms.join("+")));
    }
    // soxr would need libsoxr; swr's default filter is a windowed-sinc (band-limited) resampler.
    // A longer filter (default 32 taps) keeps the passband flat to near 8 kHz.
    f.push_str(&format!("aresample={RATE}:filter_size=64:cutoff=0.95"));
    f.push_str(",aformat=sample_fmts=flt:channel_layouts=mono");
    f
}

fn drain_stderr(stderr: impl Read) -> StderrLog {
    let mut log = StderrLog::default();
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        log.total_lines += 1;
        if is_decode_error(&line) {
            log.decode_errors += 1;
        }
        if log.lines.len() < KEPT_STDERR_LINES {
            log.lines.push(line);
        }
    }
    log
}

fn is_decode_error(line: &str) -> bool {
    line.contains("Error while decoding")
        || line.contains("Invalid data")
        || line.contains("corrupt")
        || line.contains("decode_") // codec-level complaints such as "decode_pce: ..."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_graph_averages_channels() {
        assert!(!filter_graph(1).contains("pan"));
        assert!(filter_graph(2).contains("pan=mono|c0=0.5*c0+0.5*c1,"));
        assert!(filter_graph(4).contains("0.25*c3"));
    }
}
