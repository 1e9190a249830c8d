//! Input devices through cpal: listing for `nightshift devices`, and live capture whose callback
//! only converts samples and `try_send`s them (an overrun is counted, the callback never blocks).

use std::io::Write;
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::CaptureError;
use crate::pipe::{Block, resampler, spawn_reader};

/// An input device and what it offers.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub name: String,
    pub is_default: bool,
    /// PulseAudio / PipeWire monitor of an output: records what the machine plays.
    pub is_monitor: bool,
    /// `FORMAT RATE Hz CH ch` of the default config, then the supported ranges.
    pub default_format: Option<String>,
    pub formats: Vec<String>,
}

pub fn list() -> Result<Vec<DeviceInfo>, CaptureError> {
    let host = cpal::default_host();
    let default_name = host.default_input_device().map(|d| d.to_string());
    let devices = host
        .input_devices()
        .map_err(|e| CaptureError::Source(format!("listing input devices: {e}")))?;
    let mut out = Vec::new();
    for d in devices {
        let name = d.to_string();
        let default_format = d.default_input_config().ok().map(|c| {
            format!(
                "{:?} {} Hz {} ch",
                c.sample_format(),
                c.sample_rate(),
                c.channels()
            )
        });
        let formats = d
            .supported_input_configs()
            .map(|cs| {
                summarise(cs.map(|c| {
                    (
                        format!("{:?}", c.sample_format()),
                        c.min_sample_rate(),
                        c.max_sample_rate(),
                        c.channels(),
                    )
                }))
            })
            .unwrap_or_default();
        out.push(DeviceInfo {
            is_default: default_name.as_deref() == Some(name.as_str()),
            is_monitor: name.to_ascii_lowercase().contains("monitor"),
            name,
            default_format,
            formats,
        });
    }
    Ok(out)
}

/// One line per sample format: its rate range and channel counts (devices often list every
/// channel count separately).
fn summarise(configs: impl Iterator<Item = (String, u32, u32, u16)>) -> Vec<String> {
    let mut by_format: Vec<(String, u32, u32, u16, u16)> = Vec::new();
    for (fmt, lo, hi, ch) in configs {
        match by_format.iter_mut().find(|f| f.0 == fmt) {
            Some(f) => {
                f.1 = f.1.min(lo);
                f.2 = f.2.max(hi);
                f.3 = f.3.min(ch);
                f.4 = f.4.max(ch);
            }
            None => by_format.push((fmt, lo, hi, ch, ch)),
        }
    }
    by_format
        .into_iter()
        .map(|(fmt, lo, hi, cmin, cmax)| {
            let ch = if cmin == cmax {
                format!("{cmin}")
            } else {
                format!("{cmin}–{cmax}")
            };
            format!("{fmt} {lo}–{hi} Hz, {ch} ch")
        })
        .collect()
}

/// Keeps the cpal stream alive (it stops when dropped).
pub struct LiveStream(#[allow(dead_code)] cpal::Stream);

/// A live device's capture: the resampling ffmpeg child, the reader and feeder threads, and
/// the device stream (capture stops when it is dropped).
pub(crate) struct LiveCapture {
    pub child: std::process::Child,
    pub threads: Vec<std::thread::JoinHandle<()>>,
    pub stream: LiveStream,
}

/// Start capturing from the input device `name` (the default one for `None`): the device's
/// native samples go through ffmpeg, which resamples them to mono 16 kHz blocks on `tx`.
pub(crate) fn start_device(
    name: Option<&str>,
    tx: SyncSender<Block>,
    stop: Arc<AtomicBool>,
    overruns: Arc<AtomicU64>,
) -> Result<LiveCapture, CaptureError> {
    let device = find_device(name)?;
    let config = device
        .default_input_config()
        .map_err(|e| CaptureError::Source(format!("{device}: {e}")))?;
    let (mut child, ff_in, out) = spawn_resampler(config.sample_rate(), config.channels())?;
    let reader = spawn_reader(out, child.stderr.take(), tx.clone(), Arc::clone(&stop));
    // Callback → feeder: raw interleaved f32 at the device's rate.
    let (raw_tx, raw_rx) = sync_channel::<Vec<f32>>(64);
    let feeder = spawn_feeder(ff_in, raw_rx);
    let stream = open_stream(&device, &config, raw_tx, Arc::clone(&overruns), tx.clone())?;
    stream
        .play()
        .map_err(|e| CaptureError::Source(format!("{device}: cannot start: {e}")))?;
    Ok(LiveCapture {
        child,
        threads: vec![reader, feeder],
        stream: LiveStream(stream),
    })
}

/// The input device called `name` (as `nightshift devices` lists it), or the default one.
fn find_device(name: Option<&str>) -> Result<cpal::Device, CaptureError> {
    let host = cpal::default_host();
    match name {
        None => host.default_input_device().ok_or_else(|| {
            CaptureError::Source("no default input device (see `nightshift devices`)".into())
        }),
        Some(n) => host
            .input_devices()
            .map_err(|e| CaptureError::Source(format!("listing input devices: {e}")))?
            .find(|d| d.to_string() == n)
            .ok_or_else(|| {
                CaptureError::Source(format!(
                    "{n}: no such input device (see `nightshift devices`)"
                ))
            }),
    }
}

/// ffmpeg reading interleaved f32 at the device's `rate` and `channels` on its stdin, with
/// both pipes taken; a child whose pipes are missing is killed and reaped here.
fn spawn_resampler(
    rate: cpal::SampleRate,
    channels: cpal::ChannelCount,
) -> Result<(Child, ChildStdin, ChildStdout), CaptureError> {
    let args: Vec<String> = vec![
        "-f".into(),
        "f32le".into(),
        "-ar".into(),
        rate.to_string(),
        "-ac".into(),
        channels.to_string(),
        "-i".into(),
        "pipe:0".into(),
    ];
    let mut child = resampler(&args, std::process::Stdio::piped())?;
    let (Some(ff_in), Some(out)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(CaptureError::Source("ffmpeg pipes unavailable".into()));
    };
    Ok((child, ff_in, out))
}

/// Writes the callback's buffers to ffmpeg, off the audio thread (a pipe write may block). Ends
/// when the stream is dropped (the channel closes) or ffmpeg is gone.
fn spawn_feeder(mut ff_in: ChildStdin, raw_rx: Receiver<Vec<f32>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for buf in raw_rx {
            let bytes: Vec<u8> = buf.iter().flat_map(|x| x.to_le_bytes()).collect();
            if ff_in.write_all(&bytes).is_err() {
                return;
            }
        }
    })
}

/// The device's input stream, not yet playing. Its callback only converts and `try_send`s:
/// a full channel counts the samples in `overruns` instead of blocking the audio thread; a
/// stream error is passed on as [`Block::Failed`].
fn open_stream(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    raw_tx: SyncSender<Vec<f32>>,
    overruns: Arc<AtomicU64>,
    failed: SyncSender<Block>,
) -> Result<cpal::Stream, CaptureError> {
    device
        .build_input_stream_raw(
            config.config(),
            config.sample_format(),
            move |data: &cpal::Data, _| {
                let Some(samples) = to_f32(data) else {
                    return;
                };
                let n = samples.len() as u64;
                if let Err(TrySendError::Full(_)) = raw_tx.try_send(samples) {
                    overruns.fetch_add(n, Ordering::Relaxed);
                }
            },
            move |e| {
                let _ = failed.try_send(Block::Failed(format!("input device: {e}")));
            },
            None,
        )
        .map_err(|e| CaptureError::Source(format!("{device}: cannot open: {e}")))
}

/// The callback's samples as f32 in [-1, 1]; `None` for a sample format we do not read.
fn to_f32(data: &cpal::Data) -> Option<Vec<f32>> {
    if let Some(s) = data.as_slice::<f32>() {
        Some(s.to_vec())
    } else if let Some(s) = data.as_slice::<i16>() {
        Some(s.iter().map(|&x| f32::from(x) / 32768.0).collect())
    } else if let Some(s) = data.as_slice::<i32>() {
        Some(s.iter().map(|&x| x as f32 / 2_147_483_648.0).collect())
    } else {
        data.as_slice::<u16>().map(|s| {
            s.iter()
                .map(|&x| (f32::from(x) - 32768.0) / 32768.0)
                .collect()
        })
    }
}
