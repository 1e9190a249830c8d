//! The open chunk on disk: a 16-bit 16 kHz mono WAV whose RIFF and data sizes are rewritten and
//! synced at every flush. A reader (recovery after a crash) trusts the header, so it sees exactly
//! the audio up to the last flush, never a torn sample.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nightshift_media::chunk_io::to_i16;

use crate::{CaptureError, RATE};

const HEADER_LEN: u64 = 44;

/// `<dir>/<index, 6 digits>.wav.part`
pub fn part_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:06}.wav.part"))
}

pub struct PartWriter {
    file: File,
    path: PathBuf,
    /// Samples written (flushed or not).
    samples: u64,
    flushed: u64,
}

impl PartWriter {
    pub fn create(path: &Path) -> Result<PartWriter, CaptureError> {
        let io = |e| CaptureError::io(format!("{}: cannot create", path.display()), e);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io)?;
        file.write_all(&header(0)).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(PartWriter {
            file,
            path: path.to_path_buf(),
            samples: 0,
            flushed: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&mut self, samples: &[f32]) -> Result<(), CaptureError> {
        let bytes: Vec<u8> = samples
            .iter()
            .flat_map(|&x| (to_i16(x) as i16).to_le_bytes())
            .collect();
        self.file
            .write_all(&bytes)
            .map_err(|e| CaptureError::io(format!("{}: cannot write", self.path.display()), e))?;
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Samples appended since the last flush.
    pub fn unflushed(&self) -> u64 {
        self.samples - self.flushed
    }

    /// Make everything appended so far durable and visible to a reader.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        if self.flushed == self.samples {
            return Ok(());
        }
        let io = |e| CaptureError::io(format!("{}: cannot flush", self.path.display()), e);
        // Data first, then the header that makes it visible.
        self.file.sync_data().map_err(io)?;
        self.file
            .write_all_at(&header(self.samples), 0)
            .map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.flushed = self.samples;
        Ok(())
    }
}

fn header(samples: u64) -> [u8; HEADER_LEN as usize] {
    let data = (samples * 2).min(u32::MAX as u64 - 36) as u32;
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(RATE * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// The samples of a part file up to its last flush.
pub fn read_part(path: &Path) -> Result<Vec<f32>, CaptureError> {
    let io = |e| CaptureError::io(format!("{}: cannot read", path.display()), e);
    let mut file = File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() < HEADER_LEN as usize || &bytes[0..4] != b"RIFF" || &bytes[36..40] != b"data" {
        return Err(CaptureError::Source(format!(
            "{}: not a chunk part file (no WAV header)",
            path.display()
        )));
    }
    let declared = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]) as usize;
    let data = &bytes[HEADER_LEN as usize..];
    let usable = declared.min(data.len()) & !1;
    Ok(data[..usable]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_exactly_what_was_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let p = part_path(dir.path(), 3);
        assert!(p.ends_with("000003.wav.part"));
        let mut w = PartWriter::create(&p).unwrap();
        assert!(read_part(&p).unwrap().is_empty());
        w.append(&[0.5, -0.5, 0.25]).unwrap();
        w.flush().unwrap();
        w.append(&[0.125; 100]).unwrap(); // written, not flushed: a crash now loses it
        assert_eq!(read_part(&p).unwrap(), vec![0.5, -0.5, 0.25]);
        w.flush().unwrap();
        assert_eq!(read_part(&p).unwrap().len(), 103);
        // A torn last sample (odd byte count) is ignored.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&[1]).unwrap();
        assert_eq!(read_part(&p).unwrap().len(), 103);
    }
}
