//! Decoding with libavcodec: the whole video on the decoder's own threads, or — a longer
//! constant-rate video — two halves on two threads, split at the keyframe nearest the middle
//! and used only when each half gives exactly the frames the packet listing predicts.

use std::path::Path;

use ff::codec::threading;
use ff::format::Pixel;
use ff::util::color;
use ffmpeg_next as ff;

use nightshift_worker_protocol::frames::{SPLIT_ENV, plan_halves};

use crate::average::{Planes, signature};

/// A stream error this many times in a row ends the read (a damaged file must not loop).
const MAX_READ_ERRORS: usize = 64;

pub type Signature = Vec<u8>;

/// The video's first stream, as the demuxer describes it.
struct Stream {
    index: usize,
    time_base: f64,
    /// Frames per second frame k is placed at.
    fps: f64,
    /// Stream start, in stream time-base units.
    start: i64,
}

/// Every frame's signature, frame k at k / fps (`fps`, else the stream's guessed rate).
pub fn signatures(path: &Path, fps: Option<f64>) -> Result<Vec<Signature>, String> {
    ff::init().map_err(|e| format!("cannot start libavformat: {e}"))?;
    // Our own one-line errors only: libav's log would be the first stderr line otherwise.
    ff::util::log::set_level(ff::util::log::Level::Quiet);
    let mut input = open(path)?;
    let stream = describe(&input, fps)?;
    // NIGHTSHIFT_FRAMES_SPLIT: `0` decodes in one go, `require` fails unless the two halves
    // are used (tests compare both ways).
    let mode = std::env::var(SPLIT_ENV).unwrap_or_default();
    let split_allowed = mode != "0";
    let split = split_allowed
        .then(|| plan_split(&packet_list(&mut input, stream.index), &stream))
        .flatten();
    if let Some(split) = split {
        let (first, second) = std::thread::scope(|scope| {
            let first = scope.spawn(|| decode_part(path, fps, Part::Before(split.key_pts)));
            let second = decode_part(path, fps, Part::From(split.key_pts));
            (
                first
                    .join()
                    .unwrap_or_else(|_| Err("decoder thread panicked".into())),
                second,
            )
        });
        if let (Ok(mut a), Ok(b)) = (first, second)
            && a.len() == split.before
            && b.len() == split.after
        {
            a.extend(b);
            return Ok(a);
        }
    }
    if mode == "require" {
        return Err(format!("not decoded as two halves ({SPLIT_ENV}=require)"));
    }
    decode_part(path, fps, Part::All)
}

fn open(path: &Path) -> Result<ff::format::context::Input, String> {
    ff::format::input(&path).map_err(|e| format!("cannot open the video: {e}"))
}

fn describe(input: &ff::format::context::Input, fps: Option<f64>) -> Result<Stream, String> {
    let s = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or("no video stream")?;
    let q = |r: ff::Rational| (r.denominator() != 0 && r.numerator() > 0).then(|| f64::from(r));
    let fps = fps
        .or_else(|| nightshift_core::guess_frame_rate(q(s.rate()), q(s.avg_frame_rate())))
        .unwrap_or(25.0);
    let start = s.start_time();
    Ok(Stream {
        index: s.index(),
        time_base: f64::from(s.time_base()),
        fps,
        start: if start == ff::ffi::AV_NOPTS_VALUE {
            0
        } else {
            start
        },
    })
}

/// (pts, keyframe) of every packet of the stream, demuxed without decoding (each part then
/// opens the file again for itself).
fn packet_list(input: &mut ff::format::context::Input, index: usize) -> Vec<(Option<i64>, bool)> {
    let mut out = Vec::new();
    let mut errors = 0;
    let mut packet = ff::Packet::empty();
    loop {
        match packet.read(input) {
            Ok(()) => {
                errors = 0;
                if packet.stream() == index {
                    out.push((packet.pts(), packet.is_key()));
                }
            }
            Err(ff::Error::Eof) => break,
            Err(_) => {
                errors += 1;
                if errors >= MAX_READ_ERRORS {
                    break;
                }
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Split {
    /// The keyframe the second half starts at, stream time-base units.
    key_pts: i64,
    before: usize,
    after: usize,
}

/// Where to cut the video in two: [`plan_halves`] (the rule both decoders share) on the
/// packets' times.
fn plan_split(packets: &[(Option<i64>, bool)], stream: &Stream) -> Option<Split> {
    let seconds: Vec<(f64, bool)> = packets
        .iter()
        .map(|&(pts, key)| {
            let t = pts.map_or(f64::NAN, |p| (p - stream.start) as f64 * stream.time_base);
            (t, key)
        })
        .collect();
    let halves = plan_halves(&seconds, stream.fps)?;
    Some(Split {
        key_pts: packets[halves.key].0?,
        before: halves.before,
        after: halves.after,
    })
}

#[derive(Debug, Clone, Copy)]
enum Part {
    /// Everything, frames placed at a constant rate.
    All,
    /// Frames before this keyframe, as decoded, on one thread.
    Before(i64),
    /// From this keyframe on, as decoded, on one thread.
    From(i64),
}

/// One decode of `part` of the video at `path`, on a demuxer and decoder of its own (the two
/// halves run at once on two threads).
fn decode_part(path: &Path, fps: Option<f64>, part: Part) -> Result<Vec<Signature>, String> {
    let mut input = open(path)?;
    let stream = describe(&input, fps)?;
    let mut decoder = open_decoder(&input, &stream, part)?;
    if let Part::From(key) = part {
        seek_to_keyframe(&mut input, &stream, key)?;
    }
    let mut collector = Collector {
        sink: Sink::new(part, &stream),
        frame: ff::frame::Video::empty(),
        scaler: None,
    };
    let decode_errors = feed_packets(&mut input, &mut decoder, &stream, part, &mut collector)?;
    let _ = decoder.send_eof();
    collector.drain(&mut decoder)?;
    let frames = collector.sink.finish();
    if frames.is_empty() {
        return Err(if decode_errors > 0 {
            format!("no frame could be decoded ({decode_errors} damaged packets)")
        } else {
            "the video stream has no frames".into()
        });
    }
    Ok(frames)
}

/// A video decoder for the stream: frame threads for the one-go decode, a single thread for a
/// half (the two halves already run side by side).
fn open_decoder(
    input: &ff::format::context::Input,
    stream: &Stream,
    part: Part,
) -> Result<ff::decoder::Video, String> {
    let params = input
        .stream(stream.index)
        .ok_or("video stream vanished")?
        .parameters();
    let mut ctx = ff::codec::context::Context::from_parameters(params)
        .map_err(|e| format!("unsupported video stream: {e}"))?;
    ctx.set_threading(match part {
        // The decoder's frame threads, for the one-go decode only.
        Part::All => threading::Config {
            kind: threading::Type::Frame,
            count: 0,
            ..Default::default()
        },
        _ => threading::Config {
            kind: threading::Type::None,
            count: 1,
            ..Default::default()
        },
    });
    let mut decoder = ctx
        .decoder()
        .video()
        .map_err(|e| format!("no decoder for this video codec: {e}"))?;
    // In-loop deblocking is invisible at 32×18 and costs a fifth of H.264 decoding.
    decoder.skip_loop_filter(ff::codec::discard::Discard::All);
    Ok(decoder)
}

/// Seek the demuxer to the keyframe at `key` (the second half's start).
fn seek_to_keyframe(
    input: &mut ff::format::context::Input,
    stream: &Stream,
    key: i64,
) -> Result<(), String> {
    // Exactly to the keyframe, in the stream's own time base.
    let rc = unsafe {
        ff::ffi::av_seek_frame(
            input.as_mut_ptr(),
            stream.index as i32,
            key,
            ff::ffi::AVSEEK_FLAG_BACKWARD,
        )
    };
    if rc < 0 {
        return Err(format!(
            "cannot seek to the middle keyframe: {}",
            ff::Error::from(rc)
        ));
    }
    Ok(())
}

/// Send the stream's packets to the decoder, collecting frames as they come out, until the end
/// of the file (or, for the first half, the middle keyframe). Returns how many packets the
/// decoder refused: a damaged packet is skipped, the frames around it still count.
fn feed_packets(
    input: &mut ff::format::context::Input,
    decoder: &mut ff::decoder::Video,
    stream: &Stream,
    part: Part,
    collector: &mut Collector,
) -> Result<usize, String> {
    let mut packet = ff::Packet::empty();
    let mut errors = 0;
    let mut decode_errors = 0usize;
    loop {
        match packet.read(input) {
            Ok(()) => errors = 0,
            Err(ff::Error::Eof) => break,
            Err(_) => {
                errors += 1;
                if errors >= MAX_READ_ERRORS {
                    break;
                }
                continue;
            }
        }
        if packet.stream() != stream.index {
            continue;
        }
        if let Part::Before(key) = part
            && packet.pts() == Some(key)
        {
            break; // the second half starts here
        }
        if decoder.send_packet(&packet).is_err() {
            decode_errors += 1;
        }
        collector.drain(decoder)?;
    }
    Ok(decode_errors)
}

/// Takes decoded pictures from the decoder, signs them and hands the signatures to the sink.
struct Collector {
    sink: Sink,
    /// Reused for every picture.
    frame: ff::frame::Video,
    /// Made on the first picture that is not planar YUV.
    scaler: Option<Converter>,
}

impl Collector {
    /// Every picture the decoder has ready.
    fn drain(&mut self, decoder: &mut ff::decoder::Video) -> Result<(), String> {
        while decoder.receive_frame(&mut self.frame).is_ok() {
            let ts = self.frame.timestamp().or(self.frame.pts());
            if self.sink.wants(ts) {
                self.sink
                    .push(ts, frame_signature(&self.frame, &mut self.scaler)?);
            }
        }
        Ok(())
    }
}

/// Where decoded frames go: as decoded (the halves), or placed at k / fps with repeats and
/// drops (`ffmpeg -fps_mode cfr`).
struct Sink {
    part: Part,
    start: i64,
    time_base: f64,
    fps: f64,
    frames: Vec<Signature>,
}

impl Sink {
    fn new(part: Part, s: &Stream) -> Sink {
        Sink {
            part,
            start: s.start,
            time_base: s.time_base,
            fps: s.fps,
            frames: Vec::new(),
        }
    }

    fn wants(&self, ts: Option<i64>) -> bool {
        match (self.part, ts) {
            (Part::All, _) => true,
            (Part::Before(key), Some(t)) => t < key,
            (Part::From(key), Some(t)) => t >= key,
            (_, None) => true,
        }
    }

    fn push(&mut self, ts: Option<i64>, sig: Signature) {
        let (Part::All, Some(t)) = (self.part, ts) else {
            self.frames.push(sig);
            return;
        };
        let slot = ((t - self.start) as f64 * self.time_base * self.fps).round();
        if slot < self.frames.len() as f64 && !self.frames.is_empty() {
            return; // late for its slot: dropped
        }
        // A gap (or a late start) repeats the previous frame, the first one at the start.
        while (self.frames.len() as f64) < slot {
            let fill = self.frames.last().cloned().unwrap_or_else(|| sig.clone());
            self.frames.push(fill);
        }
        self.frames.push(sig);
    }

    fn finish(self) -> Vec<Signature> {
        self.frames
    }
}

/// Converts pictures that are not 8-bit planar YUV (RGB screen captures, 10-bit, NV12) to
/// 4:2:0 at their own size first.
struct Converter {
    ctx: ff::software::scaling::Context,
    out: ff::frame::Video,
}

fn frame_signature(
    frame: &ff::frame::Video,
    conv: &mut Option<Converter>,
) -> Result<Signature, String> {
    let range_full = frame.color_range() == color::Range::JPEG;
    let bt709 = frame.color_space() == color::Space::BT709;
    let planar = |f: &ff::frame::Video| -> Option<(u32, u32, bool)> {
        match f.format() {
            Pixel::YUV420P => Some((1, 1, false)),
            Pixel::YUVJ420P => Some((1, 1, true)),
            Pixel::YUV422P => Some((1, 0, false)),
            Pixel::YUVJ422P => Some((1, 0, true)),
            Pixel::YUV444P => Some((0, 0, false)),
            Pixel::YUVJ444P => Some((0, 0, true)),
            _ => None,
        }
    };
    let (picture, (sx, sy, jpeg)) = match planar(frame) {
        Some(layout) => (frame, layout),
        None => {
            let (w, h, fmt) = (frame.width(), frame.height(), frame.format());
            let stale = conv.as_ref().is_none_or(|c| {
                c.out.width() != w || c.out.height() != h || c.ctx.input().format != fmt
            });
            if stale {
                let ctx = ff::software::scaling::Context::get(
                    fmt,
                    w,
                    h,
                    Pixel::YUV420P,
                    w,
                    h,
                    ff::software::scaling::Flags::POINT,
                )
                .map_err(|e| format!("cannot convert {fmt:?} pictures: {e}"))?;
                *conv = Some(Converter {
                    ctx,
                    out: ff::frame::Video::empty(),
                });
            }
            let c = conv.as_mut().ok_or("converter missing")?;
            c.ctx
                .run(frame, &mut c.out)
                .map_err(|e| format!("cannot convert a {fmt:?} picture: {e}"))?;
            (&c.out, (1, 1, false))
        }
    };
    Ok(signature(&Planes {
        width: picture.width() as usize,
        height: picture.height() as usize,
        data: [picture.data(0), picture.data(1), picture.data(2)],
        stride: [picture.stride(0), picture.stride(1), picture.stride(2)],
        log2_chroma: (sx, sy),
        full_range: jpeg || range_full,
        bt709,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(fps: f64) -> Stream {
        Stream {
            index: 0,
            time_base: 1.0 / 12800.0,
            fps,
            start: 0,
        }
    }

    fn packets(n: usize, key_every: usize, step: i64) -> Vec<(Option<i64>, bool)> {
        (0..n)
            .map(|i| (Some(i as i64 * step), i % key_every == 0))
            .collect()
    }

    #[test]
    fn splits_at_the_keyframe_nearest_the_middle() {
        // 25 fps in a 1/12800 time base: 512 units a frame; keyframes every 250 frames.
        let split = plan_split(&packets(1000, 250, 512), &stream(25.0)).unwrap();
        assert_eq!(split.key_pts, 500 * 512);
        assert_eq!((split.before, split.after), (500, 500));
    }

    #[test]
    fn short_variable_rate_or_untimed_videos_are_not_split() {
        assert_eq!(plan_split(&packets(300, 50, 512), &stream(25.0)), None);
        // only the first frame is a keyframe
        assert_eq!(plan_split(&packets(1000, 5000, 512), &stream(25.0)), None);
        // a gap: variable rate
        let mut p = packets(1000, 250, 512);
        p.push((Some(2000 * 512), false));
        assert_eq!(plan_split(&p, &stream(25.0)), None);
        // a packet without a time
        let mut p = packets(1000, 250, 512);
        p.push((None, false));
        assert_eq!(plan_split(&p, &stream(25.0)), None);
        // packets at another rate than frames are placed at
        assert_eq!(plan_split(&packets(1000, 250, 512), &stream(50.0)), None);
    }
}
