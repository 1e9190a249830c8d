//! Capture sources, all normalised by an ffmpeg child to 16 kHz mono f32 and delivered as
//! ~100 ms blocks on a bounded channel.
//!
//! - `FILE`: ffmpeg reads the file at `speed` × real time (`-readrate`), like a live source.
//! - `-`: raw PCM on stdin (`--format s16le:48000:1`), handed to ffmpeg as its stdin.
//! - a device (`default` or a name): cpal's callback converts and `try_send`s to a feeder thread
//!   that writes to ffmpeg's stdin; a full channel is an overrun (counted, never blocking).

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::CaptureError;
pub use crate::pipe::Block;
use crate::pipe::{resampler, spawn_reader};

/// Blocks the channel holds before a live source overruns (5 s).
const CHANNEL_BLOCKS: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The default input device.
    Default,
    /// An input device by name (see `nightshift devices`).
    Device(String),
    /// A media file replayed in real time (× speed).
    File(PathBuf),
    /// Raw PCM on stdin.
    Stdin(PcmFormat),
}

impl Source {
    pub fn parse(s: &str, format: Option<PcmFormat>) -> Source {
        match s {
            "default" => Source::Default,
            "-" => Source::Stdin(format.unwrap_or_default()),
            _ if std::path::Path::new(s).is_file() => Source::File(PathBuf::from(s)),
            _ => Source::Device(s.to_string()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Default => "default input device".into(),
            Source::Device(d) => format!("device {d}"),
            Source::File(p) => p.display().to_string(),
            Source::Stdin(f) => format!("stdin ({})", f.spec()),
        }
    }
}

/// Raw PCM layout on stdin: `s16le:RATE:CHANNELS` (also `f32le`, `s32le`, `u8`).
#[derive(Debug, Clone, PartialEq)]
pub struct PcmFormat {
    pub sample: String,
    pub rate: u32,
    pub channels: u32,
}

impl Default for PcmFormat {
    fn default() -> Self {
        PcmFormat {
            sample: "s16le".into(),
            rate: 48_000,
            channels: 1,
        }
    }
}

impl PcmFormat {
    pub fn parse(s: &str) -> Result<PcmFormat, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let bad = || format!("{s:?}: expected FORMAT:RATE:CHANNELS, e.g. s16le:48000:1");
        let [sample, rate, channels] = parts[..] else {
            return Err(bad());
        };
        if !["s16le", "s32le", "f32le", "u8"].contains(&sample) {
            return Err(format!(
                "{s:?}: sample format {sample} (use s16le, s32le, f32le or u8)"
            ));
        }
        let rate: u32 = rate.parse().map_err(|_| bad())?;
        let channels: u32 = channels.parse().map_err(|_| bad())?;
        if !(1000..=768_000).contains(&rate) || !(1..=32).contains(&channels) {
            return Err(format!("{s:?}: rate or channel count out of range"));
        }
        Ok(PcmFormat {
            sample: sample.into(),
            rate,
            channels,
        })
    }

    pub fn spec(&self) -> String {
        format!("{}:{}:{}", self.sample, self.rate, self.channels)
    }
}

/// A running source. Dropping it stops it.
pub struct SourceHandle {
    pub rx: Receiver<Block>,
    /// Samples dropped because the recorder fell behind (live devices only).
    pub overruns: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    children: Vec<Child>,
    threads: Vec<JoinHandle<()>>,
    /// Sources a mixer reads from (stopped with this one).
    inner: Vec<SourceHandle>,
    #[cfg(feature = "mic")]
    _stream: Option<crate::devices::LiveStream>,
}

impl SourceHandle {
    /// Stop producing; blocks already in the channel can still be received.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        #[cfg(feature = "mic")]
        {
            self._stream = None;
        }
        for c in &mut self.children {
            let _ = c.kill();
        }
        for h in &mut self.inner {
            h.stop();
        }
    }

    pub(crate) fn mixed(
        rx: Receiver<Block>,
        overruns: Arc<AtomicU64>,
        inner: Vec<SourceHandle>,
        mixer: JoinHandle<()>,
    ) -> SourceHandle {
        SourceHandle {
            rx,
            overruns,
            stop: Arc::new(AtomicBool::new(false)),
            children: Vec::new(),
            threads: vec![mixer],
            inner,
            #[cfg(feature = "mic")]
            _stream: None,
        }
    }
}

impl SourceHandle {
    #[cfg(feature = "mic")]
    pub(crate) fn live(
        rx: Receiver<Block>,
        overruns: Arc<AtomicU64>,
        stop: Arc<AtomicBool>,
        child: Child,
        threads: Vec<JoinHandle<()>>,
        stream: crate::devices::LiveStream,
    ) -> SourceHandle {
        SourceHandle {
            rx,
            overruns,
            stop,
            children: vec![child],
            threads,
            inner: Vec::new(),
            _stream: Some(stream),
        }
    }
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.stop();
        // Close our end first: a reader or mixer blocked on a full channel then exits.
        drop(std::mem::replace(&mut self.rx, sync_channel(1).1));
        for c in &mut self.children {
            let _ = c.wait();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Start capturing. `speed` applies to file replay only.
pub fn start_source(source: &Source, speed: f64) -> Result<SourceHandle, CaptureError> {
    let (tx, rx) = sync_channel(CHANNEL_BLOCKS);
    let stop = Arc::new(AtomicBool::new(false));
    let overruns = Arc::new(AtomicU64::new(0));
    match source {
        Source::File(path) => {
            let speed = if speed > 0.0 { speed } else { 1.0 };
            let mut args: Vec<String> =
                vec!["-nostdin".into(), "-readrate".into(), format!("{speed}")];
            args.push("-i".into());
            args.push(path.to_string_lossy().into_owned());
            piped(&args, Stdio::null(), tx, rx, stop, overruns)
        }
        Source::Stdin(f) => {
            let args: Vec<String> = vec![
                "-f".into(),
                f.sample.clone(),
                "-ar".into(),
                f.rate.to_string(),
                "-ac".into(),
                f.channels.to_string(),
                "-i".into(),
                "pipe:0".into(),
            ];
            piped(&args, Stdio::inherit(), tx, rx, stop, overruns)
        }
        Source::Default | Source::Device(_) => {
            #[cfg(feature = "mic")]
            {
                let name = match source {
                    Source::Device(n) => Some(n.as_str()),
                    _ => None,
                };
                let live = crate::devices::start_device(
                    name,
                    tx,
                    Arc::clone(&stop),
                    Arc::clone(&overruns),
                )?;
                Ok(SourceHandle::live(
                    rx,
                    overruns,
                    stop,
                    live.child,
                    live.threads,
                    live.stream,
                ))
            }
            #[cfg(not(feature = "mic"))]
            {
                drop((tx, rx));
                Err(CaptureError::Source(
                    "this build has no microphone support (feature `mic`); use --source FILE or -"
                        .into(),
                ))
            }
        }
    }
}

/// A source that is one ffmpeg child: its output read into blocks by one thread.
fn piped(
    args: &[String],
    stdin: Stdio,
    tx: SyncSender<Block>,
    rx: Receiver<Block>,
    stop: Arc<AtomicBool>,
    overruns: Arc<AtomicU64>,
) -> Result<SourceHandle, CaptureError> {
    let mut child = resampler(args, stdin)?;
    let Some(out) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(CaptureError::Source("ffmpeg pipes unavailable".into()));
    };
    let reader = spawn_reader(out, child.stderr.take(), tx, Arc::clone(&stop));
    Ok(SourceHandle {
        rx,
        overruns,
        stop,
        children: vec![child],
        threads: vec![reader],
        inner: Vec::new(),
        #[cfg(feature = "mic")]
        _stream: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_formats_parse_or_say_what_is_wrong() {
        assert_eq!(
            PcmFormat::parse("s16le:48000:2").unwrap(),
            PcmFormat {
                sample: "s16le".into(),
                rate: 48_000,
                channels: 2
            }
        );
        assert!(
            PcmFormat::parse("s16le:48000")
                .unwrap_err()
                .contains("FORMAT:RATE:CHANNELS")
        );
        assert!(PcmFormat::parse("mp3:48000:1").unwrap_err().contains("mp3"));
        assert!(PcmFormat::parse("s16le:5:1").is_err());
    }
}
