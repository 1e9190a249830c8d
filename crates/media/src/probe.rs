//! Validation and stream info, without decoding the audio.
//!
//! Order matters: cheap checks of our own first (empty, text, RIFF and MP4 structure, which
//! ffmpeg tolerates silently), then ffprobe for everything it knows.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};

use nightshift_core::MediaKind;
use serde_json::Value;

use crate::decode::{ffprobe_bin, spawn_error};
use crate::{MediaError, isobmff, riff};

/// What a file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeInfo {
    pub bytes: u64,
    /// ffprobe's format name ("wav", "mov,mp4,m4a,3gp,3g2,mj2", ...).
    pub container: String,
    pub duration_s: Option<f64>,
    /// Video if there is a real picture stream (cover art in an MP3 does not count).
    pub kind: MediaKind,
    pub audio: Option<AudioStream>,
    pub video: Option<VideoStream>,
    /// The container's `creation_time` tag (ISO 8601, as the recorder wrote it), if any: when
    /// the meeting took place, for resolving "by Friday".
    pub creation_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioStream {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// The rate frames are placed at for scene detection
    /// ([`nightshift_core::guess_frame_rate`]).
    pub fps: Option<f64>,
}

/// What a non-regular file is, in words.
pub fn file_kind(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Validate `input` and describe its streams. Opens the file read-only.
pub fn probe(input: &Path) -> Result<ProbeInfo, MediaError> {
    // Checked before opening: opening a named pipe blocks until a writer appears, and reading a
    // device or pipe never ends where a file would.
    let kind = std::fs::metadata(input)
        .map_err(|e| MediaError::io("reading input metadata", e))?
        .file_type();
    if !kind.is_file() {
        return Err(MediaError::NotMedia(format!(
            "{}, not a regular file",
            file_kind(kind)
        )));
    }
    let mut f = File::open(input).map_err(|e| MediaError::io("opening input", e))?;
    let bytes = f
        .metadata()
        .map_err(|e| MediaError::io("reading input metadata", e))?
        .len();
    if bytes == 0 {
        return Err(MediaError::Empty);
    }
    check_structure(&mut f, bytes)?;
    drop(f);
    let json = run_ffprobe(input)?;
    let mut info = parse_ffprobe(&json)?;
    info.bytes = bytes;
    Ok(info)
}

/// The checks of our own that run before ffprobe, on the first bytes of `r` (`len` bytes
/// long): plain text is refused, and a RIFF/WAVE or ISO base media file must have a structure
/// that fits its length. Pure apart from reading `r`; the fuzz targets call it on memory.
pub fn check_structure<R: Read + Seek>(r: &mut R, len: u64) -> Result<(), MediaError> {
    let mut head = vec![0u8; 4096.min(usize::try_from(len).unwrap_or(usize::MAX))];
    r.seek(SeekFrom::Start(0))
        .and_then(|_| r.read_exact(&mut head))
        .map_err(|e| MediaError::io("reading input", e))?;
    if looks_like_text(&head) {
        return Err(MediaError::NotMedia("the file contains plain text".into()));
    }
    if riff::is_riff_wave(&head) {
        riff::validate_wav(r, len)?;
    } else if isobmff::is_isobmff(&head) {
        isobmff::validate_isobmff(r, len)?;
    }
    Ok(())
}

/// ffmpeg reads a single picture through its image demuxers: `image2`, or one named after the
/// picture's codec with `_pipe` (`png_pipe`, `jpeg_pipe`, `webp_pipe`, …), and gives it no
/// duration. Such a file is no recording, whatever its name says.
fn is_still_image(container: &str, duration: &Value) -> bool {
    let image_demuxer = container == "image2" || container.ends_with("_pipe");
    let timeless = num(duration).is_none_or(|d| d <= 0.0);
    image_demuxer && timeless
}

/// Printable UTF-8 with no NUL or control bytes: no audio or video container looks like this.
fn looks_like_text(head: &[u8]) -> bool {
    // A multi-byte character may be cut at the end of the sample.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(t) => t,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

fn run_ffprobe(input: &Path) -> Result<Value, MediaError> {
    let out = Command::new(ffprobe_bin())
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-i",
        ])
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error("ffprobe", e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // ffprobe prefixes the path; keep only the cause after the last ": ".
        let cause = err
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .map(|l| l.rsplit(": ").next().unwrap_or(l).trim().to_string())
            .unwrap_or_else(|| "unrecognised data".into());
        return Err(MediaError::NotMedia(format!("ffprobe: {cause}")));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| MediaError::Tool(format!("ffprobe printed invalid JSON: {e}")))
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn rate(v: &Value) -> Option<f64> {
    let s = v.as_str()?;
    let (n, d) = s.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0).then(|| n / d)
}

/// Turn ffprobe's JSON into [`ProbeInfo`], rejecting what cannot be decoded.
pub(crate) fn parse_ffprobe(json: &Value) -> Result<ProbeInfo, MediaError> {
    let format = &json["format"];
    let container = format["format_name"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    if container == "tty" || streams.is_empty() {
        return Err(MediaError::NotMedia(
            "no audio or video stream found".into(),
        ));
    }
    let mut audio = None;
    let mut video = None;
    for s in &streams {
        let codec = s["codec_name"].as_str().unwrap_or("").to_string();
        let kind = s["codec_type"].as_str().unwrap_or("");
        if (kind == "audio" || kind == "video") && (codec.is_empty() || codec == "none") {
            // This is what a damaged index looks like to ffprobe.
            return Err(MediaError::Corrupt(format!(
                "{kind} stream {} has no recognisable codec (damaged or incomplete container)",
                s["index"]
            )));
        }
        match kind {
            "audio" if audio.is_none() => {
                let sample_rate = num(&s["sample_rate"]).unwrap_or(0.0) as u32;
                let channels = num(&s["channels"]).unwrap_or(0.0) as u32;
                if sample_rate == 0 || channels == 0 {
                    return Err(MediaError::Corrupt(format!(
                        "audio stream declares {channels} channels at {sample_rate} Hz"
                    )));
                }
                audio = Some(AudioStream {
                    codec,
                    sample_rate,
                    channels,
                });
            }
            "video" if video.is_none() => {
                let attached = s["disposition"]["attached_pic"].as_i64() == Some(1);
                if !attached {
                    video = Some(VideoStream {
                        codec,
                        width: num(&s["width"]).unwrap_or(0.0) as u32,
                        height: num(&s["height"]).unwrap_or(0.0) as u32,
                        fps: nightshift_core::guess_frame_rate(
                            rate(&s["r_frame_rate"]),
                            rate(&s["avg_frame_rate"]),
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    if audio.is_none() && video.is_none() {
        return Err(MediaError::NotMedia(
            "no audio or video stream found".into(),
        ));
    }
    if audio.is_none() && is_still_image(&container, &format["duration"]) {
        let what = video.as_ref().map_or("an image", |v| v.codec.as_str());
        return Err(MediaError::NotMedia(format!(
            "a still {what} picture, not a recording"
        )));
    }
    Ok(ProbeInfo {
        bytes: 0,
        container,
        duration_s: num(&format["duration"]).filter(|d| d.is_finite() && *d >= 0.0),
        kind: if video.is_some() {
            MediaKind::Video
        } else {
            MediaKind::Audio
        },
        audio,
        video,
        creation_time: format["tags"]["creation_time"]
            .as_str()
            .map(str::to_string)
            .filter(|t| t.len() >= 10),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_still_picture_is_not_a_recording() {
        for (container, codec) in [
            ("png_pipe", "png"),
            ("jpeg_pipe", "mjpeg"),
            ("image2", "webp"),
        ] {
            let json = serde_json::json!({"format": {"format_name": container},
                "streams": [{"index": 0, "codec_type": "video", "codec_name": codec, "width": 64, "height": 64}]});
            let err = parse_ffprobe(&json).unwrap_err();
            assert!(
                err.to_string().contains("picture, not a recording"),
                "{err}"
            );
        }
        // A GIF animation has a duration: a (silent) video, not refused here.
        let gif = serde_json::json!({"format": {"format_name": "gif", "duration": "2.0"},
            "streams": [{"index": 0, "codec_type": "video", "codec_name": "gif", "width": 64, "height": 64}]});
        assert!(parse_ffprobe(&gif).is_ok());
    }

    #[test]
    fn text_sniffing() {
        assert!(looks_like_text(b"hello world\nthis is not audio\n"));
        assert!(looks_like_text("caf\u{e9} \u{4f1a}".as_bytes()));
        assert!(looks_like_text(&"ab\u{4f1a}".as_bytes()[..4])); // cut mid-character
        assert!(!looks_like_text(b"RIFF\x24\0\0\0WAVE"));
        assert!(!looks_like_text(b"ID3\x04\0\0\0\0"));
    }

    #[test]
    fn ffprobe_json_table() {
        let cover_art = json!({"format": {"format_name": "mp3", "duration": "3.5"}, "streams": [
            {"index": 0, "codec_type": "audio", "codec_name": "mp3", "sample_rate": "44100", "channels": 2},
            {"index": 1, "codec_type": "video", "codec_name": "mjpeg", "disposition": {"attached_pic": 1}}]});
        let info = parse_ffprobe(&cover_art).unwrap();
        assert_eq!(info.kind, MediaKind::Audio);
        assert_eq!(info.duration_s, Some(3.5));

        let video_only = json!({"format": {"format_name": "mov"}, "streams": [
            {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 320, "height": 180,
             "avg_frame_rate": "30/1"}]});
        let info = parse_ffprobe(&video_only).unwrap();
        assert_eq!((info.kind, info.audio.is_none()), (MediaKind::Video, true));
        assert_eq!(info.video.unwrap().fps, Some(30.0));
        // A variable-rate recording keeps its base rate; a millisecond time base does not.
        assert_eq!(
            nightshift_core::guess_frame_rate(Some(25.0), Some(1.08)),
            Some(25.0)
        );
        assert_eq!(
            nightshift_core::guess_frame_rate(Some(1000.0), Some(29.97)),
            Some(29.97)
        );
        assert_eq!(
            nightshift_core::guess_frame_rate(None, Some(24.0)),
            Some(24.0)
        );

        let unknown = json!({"format": {"format_name": "mov"}, "streams": [
            {"index": 0, "codec_type": "video", "codec_name": null}]});
        assert!(
            parse_ffprobe(&unknown)
                .unwrap_err()
                .to_string()
                .contains("no recognisable codec")
        );

        let zero = json!({"format": {"format_name": "wav"}, "streams": [
            {"index": 0, "codec_type": "audio", "codec_name": "pcm_s16le", "sample_rate": "0", "channels": 0}]});
        assert!(
            parse_ffprobe(&zero)
                .unwrap_err()
                .to_string()
                .contains("0 channels at 0 Hz")
        );

        let nothing = json!({"format": {"format_name": "tty"}, "streams": []});
        assert!(matches!(
            parse_ffprobe(&nothing),
            Err(MediaError::NotMedia(_))
        ));
    }
}
