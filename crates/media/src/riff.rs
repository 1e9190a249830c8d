//! RIFF/WAVE header validation.
//!
//! ffmpeg decodes a WAV whose header contradicts the file (a data chunk declaring 37 h in a
//! 1.5 s file, a 2 GiB fmt chunk) silently, as if it were complete. We walk the chunk list
//! ourselves, reading only the 8-byte chunk headers and the fmt body, and compare every declared
//! size with what the file holds. Nothing is allocated from a declared size.

use std::io::{Read, Seek, SeekFrom};

use crate::MediaError;

/// What the WAV header says, once it has been checked against the file.
#[derive(Debug, Clone, PartialEq)]
pub struct WavInfo {
    pub format_tag: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub block_align: u16,
    pub bits_per_sample: u16,
    pub data_offset: u64,
    pub data_len: u64,
}

/// Largest fmt chunk we accept: WAVE_FORMAT_EXTENSIBLE is 40 bytes; codec-specific extras
/// (ADPCM coefficient tables) stay well below this.
const MAX_FMT_LEN: u32 = 1024;

/// True when the first bytes look like a RIFF/WAVE file.
pub fn is_riff_wave(head: &[u8]) -> bool {
    head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE"
}

/// Validate the RIFF/WAVE structure of `r` (whose total length is `file_len`).
pub fn validate_wav<R: Read + Seek>(r: &mut R, file_len: u64) -> Result<WavInfo, MediaError> {
    let io = |e| MediaError::io("reading WAV header", e);
    let mut head = [0u8; 12];
    r.seek(SeekFrom::Start(0)).map_err(io)?;
    read_exact_or(r, &mut head, "WAV header is shorter than 12 bytes")?;
    if !is_riff_wave(&head) {
        return Err(MediaError::BadWav("not a RIFF/WAVE file".into()));
    }
    // The RIFF size itself is often wrong in files from real recorders; the chunk sizes below
    // are what decide how much audio there is, so only they are checked.
    let mut pos = 12u64;
    let mut fmt: Option<WavInfo> = None;
    while pos + 8 <= file_len {
        let mut hdr = [0u8; 8];
        r.seek(SeekFrom::Start(pos)).map_err(io)?;
        read_exact_or(r, &mut hdr, "WAV chunk header is cut off")?;
        let id = [hdr[0], hdr[1], hdr[2], hdr[3]];
        let size = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        let body = pos + 8;
        let remaining = file_len - body;
        match &id {
            b"fmt " => {
                if !(16..=MAX_FMT_LEN).contains(&size) || u64::from(size) > remaining {
                    return Err(MediaError::BadWav(format!(
                        "WAV fmt chunk declares {} but a valid one is 16–40 bytes (file holds {})",
                        human_bytes(u64::from(size)),
                        human_bytes(file_len)
                    )));
                }
                let mut b = [0u8; 16];
                read_exact_or(r, &mut b, "WAV fmt chunk is cut off")?;
                fmt = Some(parse_fmt(&b)?);
            }
            b"data" => {
                let Some(mut info) = fmt else {
                    return Err(MediaError::BadWav(
                        "WAV data chunk comes before any fmt chunk".into(),
                    ));
                };
                let declared = u64::from(size);
                // A partial last sample frame is tolerated; anything more is a lie.
                if declared > remaining + u64::from(info.block_align) {
                    return Err(MediaError::BadWav(format!(
                        "WAV data chunk claims {} but file holds {} (truncated or corrupt header)",
                        audio_len(declared, &info),
                        audio_len(remaining, &info)
                    )));
                }
                info.data_offset = body;
                info.data_len = declared.min(remaining);
                return Ok(info);
            }
            _ => {
                if u64::from(size) > remaining {
                    return Err(MediaError::BadWav(format!(
                        "WAV chunk '{}' claims {} but only {} remain in the file",
                        String::from_utf8_lossy(&id).escape_default(),
                        human_bytes(u64::from(size)),
                        human_bytes(remaining)
                    )));
                }
            }
        }
        // Chunks are word-aligned: an odd size is followed by one pad byte.
        pos = body + u64::from(size) + u64::from(size & 1);
    }
    Err(MediaError::BadWav(if fmt.is_some() {
        "WAV file has no data chunk".into()
    } else {
        "WAV file has no fmt chunk".into()
    }))
}

fn parse_fmt(b: &[u8; 16]) -> Result<WavInfo, MediaError> {
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let info = WavInfo {
        format_tag: u16_at(0),
        channels: u16_at(2),
        sample_rate: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        block_align: u16_at(12),
        bits_per_sample: u16_at(14),
        data_offset: 0,
        data_len: 0,
    };
    match (info.channels, info.sample_rate) {
        (0, 0) => Err(MediaError::BadWav(
            "WAV fmt chunk declares 0 channels and a sample rate of 0 Hz".into(),
        )),
        (0, _) => Err(MediaError::BadWav(
            "WAV fmt chunk declares 0 channels".into(),
        )),
        (_, 0) => Err(MediaError::BadWav(
            "WAV fmt chunk declares a sample rate of 0 Hz".into(),
        )),
        _ if info.block_align == 0 => Err(MediaError::BadWav(
            "WAV fmt chunk declares a block size of 0 bytes".into(),
        )),
        _ => Ok(info),
    }
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8], what: &str) -> Result<(), MediaError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => MediaError::BadWav(what.into()),
        _ => MediaError::io("reading WAV header", e),
    })
}

/// `bytes` of this format's audio as a duration a person reads ("37 h", "1.5 s").
fn audio_len(bytes: u64, info: &WavInfo) -> String {
    let frames = bytes / u64::from(info.block_align.max(1));
    human_duration(frames as f64 / f64::from(info.sample_rate.max(1)))
}

pub(crate) fn human_duration(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.0} h", s / 3600.0)
    } else if s >= 120.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

pub(crate) fn human_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if f >= K * K * K {
        format!("{:.1} GiB", f / (K * K * K))
    } else if f >= K * K {
        format!("{:.1} MiB", f / (K * K))
    } else if f >= K {
        format!("{:.1} KiB", f / K)
    } else {
        format!("{b} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A WAV built from (chunk id, declared size, body bytes) triples.
    fn wav(chunks: &[(&[u8; 4], u32, Vec<u8>)]) -> Vec<u8> {
        let mut v = b"RIFF\0\0\0\0WAVE".to_vec();
        for (id, size, body) in chunks {
            v.extend_from_slice(*id);
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(body);
        }
        v
    }

    fn fmt_body(channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let align = channels * bits / 8;
        let mut b = Vec::new();
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        b.extend_from_slice(&align.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b
    }

    fn check(bytes: &[u8]) -> Result<WavInfo, String> {
        validate_wav(&mut Cursor::new(bytes), bytes.len() as u64).map_err(|e| e.to_string())
    }

    #[test]
    fn table() {
        let fmt16 = || (b"fmt ", 16, fmt_body(1, 16_000, 16));
        let cases: Vec<(&str, Vec<u8>, Result<u64, &str>)> = vec![
            (
                "plain",
                wav(&[fmt16(), (b"data", 3200, vec![0; 3200])]),
                Ok(3200),
            ),
            (
                "odd junk chunk with pad byte before data",
                wav(&[
                    fmt16(),
                    (b"junk", 3, vec![1, 2, 3, 0]),
                    (b"data", 4, vec![0; 4]),
                ]),
                Ok(4),
            ),
            (
                "data claims more than present",
                wav(&[fmt16(), (b"data", 64_000, vec![0; 32_000])]),
                Err("WAV data chunk claims 2.0 s but file holds 1.0 s"),
            ),
            (
                "data claims ~37 h",
                wav(&[fmt16(), (b"data", 0xFFFF_FFF0, vec![0; 48_000])]),
                Err("claims 37 h but file holds 1.5 s"),
            ),
            (
                "absurd fmt size",
                wav(&[
                    (b"fmt ", 0x7FFF_FFF0, fmt_body(1, 16_000, 16)),
                    (b"data", 2, vec![0; 2]),
                ]),
                Err("WAV fmt chunk declares 2.0 GiB"),
            ),
            (
                "zero rate and channels",
                wav(&[(b"fmt ", 16, fmt_body(0, 0, 16)), (b"data", 2, vec![0; 2])]),
                Err("0 channels and a sample rate of 0 Hz"),
            ),
            ("no data", wav(&[fmt16()]), Err("no data chunk")),
            (
                "data before fmt",
                wav(&[(b"data", 2, vec![0; 2])]),
                Err("before any fmt"),
            ),
            (
                "unknown chunk overruns file",
                wav(&[fmt16(), (b"LIST", 1000, vec![0; 10])]),
                Err("chunk 'LIST' claims"),
            ),
            (
                "header only",
                b"RIFF\0\0\0\0WAVE".to_vec(),
                Err("no fmt chunk"),
            ),
            ("short", b"RIFF".to_vec(), Err("shorter than 12 bytes")),
        ];
        for (name, bytes, want) in cases {
            match (check(&bytes), want) {
                (Ok(info), Ok(len)) => assert_eq!(info.data_len, len, "{name}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{name}: {e:?} lacks {w:?}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }
}
