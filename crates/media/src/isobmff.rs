//! Top-level box walk for MP4/MOV/M4A (ISO base media) files.
//!
//! A recording cut off mid-write has its index (`moov`) missing or truncated. ffprobe still
//! "opens" such a file and reports a stream of unknown codec, which would pass as a video
//! without audio; walking the top-level boxes tells the real story in a few reads.

use std::io::{Read, Seek, SeekFrom};

use crate::MediaError;
use crate::riff::human_bytes;

/// Box types that may open an ISO base media file.
const FIRST_BOXES: [&[u8; 4]; 7] = [
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin",
];

/// True when the first 8 bytes look like an ISO base media box header we know.
pub fn is_isobmff(head: &[u8]) -> bool {
    head.len() >= 8 && FIRST_BOXES.iter().any(|b| &head[4..8] == *b)
}

/// Check that every top-level box fits in the file and that there is a `moov` index.
pub fn validate_isobmff<R: Read + Seek>(r: &mut R, file_len: u64) -> Result<(), MediaError> {
    let io = |e| MediaError::io("reading MP4 header", e);
    let mut pos = 0u64;
    let mut has_moov = false;
    while pos + 8 <= file_len {
        let mut hdr = [0u8; 8];
        r.seek(SeekFrom::Start(pos)).map_err(io)?;
        r.read_exact(&mut hdr).map_err(io)?;
        let kind = [hdr[4], hdr[5], hdr[6], hdr[7]];
        let name = String::from_utf8_lossy(&kind).escape_default().to_string();
        let size32 = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let (size, header_len) = match size32 {
            // Size 0: the box runs to the end of the file (only legal for the last box).
            0 => (file_len - pos, 8),
            1 => {
                let mut big = [0u8; 8];
                if pos + 16 > file_len {
                    return Err(truncated(&name, 16, file_len - pos));
                }
                r.read_exact(&mut big).map_err(io)?;
                (u64::from_be_bytes(big), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header_len {
            return Err(MediaError::Corrupt(format!(
                "MP4 box '{name}' at byte {pos} has an invalid size of {size} bytes"
            )));
        }
        if size > file_len - pos {
            return Err(truncated(&name, size, file_len - pos));
        }
        has_moov |= &kind == b"moov";
        pos += size;
    }
    if !has_moov {
        return Err(MediaError::Corrupt(
            "MP4 index ('moov' box) is missing: the recording was not finished or the file is cut off"
                .into(),
        ));
    }
    Ok(())
}

fn truncated(name: &str, declared: u64, present: u64) -> MediaError {
    let what = if name == "moov" {
        "MP4 index ('moov' box)".to_string()
    } else {
        format!("MP4 box '{name}'")
    };
    MediaError::Corrupt(format!(
        "{what} is cut off: declares {} but the file ends after {} (file truncated)",
        human_bytes(declared),
        human_bytes(present)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn boxed(kind: &[u8; 4], body_len: usize) -> Vec<u8> {
        let mut v = ((body_len + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.resize(body_len + 8, 0);
        v
    }

    fn check(bytes: &[u8]) -> Result<(), String> {
        validate_isobmff(&mut Cursor::new(bytes), bytes.len() as u64).map_err(|e| e.to_string())
    }

    #[test]
    fn table() {
        let ok = [boxed(b"ftyp", 16), boxed(b"mdat", 100), boxed(b"moov", 50)].concat();
        assert!(is_isobmff(&ok));
        assert_eq!(check(&ok), Ok(()));

        let no_moov = [boxed(b"ftyp", 16), boxed(b"mdat", 100)].concat();
        assert!(
            check(&no_moov)
                .unwrap_err()
                .contains("'moov' box) is missing")
        );

        let mut cut = ok.clone();
        cut.truncate(ok.len() - 20);
        assert!(check(&cut).unwrap_err().contains("'moov' box) is cut off"));

        let mut bad = boxed(b"ftyp", 16);
        bad.extend_from_slice(&[0, 0, 0, 3, b'm', b'd', b'a', b't']);
        assert!(check(&bad).unwrap_err().contains("invalid size"));

        // A 64-bit size pointing far past the end of the file.
        let mut big = boxed(b"ftyp", 16);
        big.extend_from_slice(&[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        big.extend_from_slice(&(1u64 << 40).to_be_bytes());
        assert!(check(&big).unwrap_err().contains("'mdat' is cut off"));

        assert!(!is_isobmff(b"RIFF\0\0\0\0WAVE"));
    }
}
