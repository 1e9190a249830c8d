//! Chunk audio on disk: FLAC, 16-bit, 16 kHz, mono.
//!
//! FLAC keeps an hour of chunks near 40–60 MB instead of 115 MB of WAV; both crates are pure
//! Rust, so the whisper worker that links this module gains no C dependency. Writes go to a temp
//! file in the same directory and are renamed into place, so a reader never sees half a chunk.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flacenc::component::BitRepr;
use flacenc::error::Verify;

use crate::MediaError;

/// Sample rate of every chunk (and of the whole decoded timeline).
pub const CHUNK_RATE: u32 = 16_000;
/// File extension of stored chunks.
pub const CHUNK_EXT: &str = "flac";

/// Write `samples` (16 kHz mono f32, clamped to [-1, 1]) as a FLAC file at `path`, atomically.
pub fn write_chunk(path: &Path, samples: &[f32]) -> Result<(), MediaError> {
    let bytes = encode_flac(samples)?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(MediaError::io(
            format!("writing chunk {}", path.display()),
            e,
        ));
    }
    Ok(())
}

/// Read a chunk written by [`write_chunk`]: 16 kHz mono f32 in [-1, 1].
pub fn read_chunk(path: &Path) -> Result<Vec<f32>, MediaError> {
    let mut reader = claxon::FlacReader::open(path)
        .map_err(|e| MediaError::Chunk(format!("{}: {e}", path.display())))?;
    let info = reader.streaminfo();
    if info.sample_rate != CHUNK_RATE || info.channels != 1 {
        return Err(MediaError::Chunk(format!(
            "{}: expected 16 kHz mono, found {} Hz, {} channels",
            path.display(),
            info.sample_rate,
            info.channels
        )));
    }
    let scale = 1.0 / (1u32 << (info.bits_per_sample - 1)) as f32;
    let mut out = Vec::with_capacity(info.samples.unwrap_or(0).min(1 << 24) as usize);
    for s in reader.samples() {
        let s = s.map_err(|e| MediaError::Chunk(format!("{}: {e}", path.display())))?;
        out.push(s as f32 * scale);
    }
    // A file cut at a frame boundary decodes without an error: only the count its header
    // declares (every non-empty chunk we write carries it; FLAC's 0 means unknown) shows that
    // audio is missing.
    match info.samples {
        Some(n) if n != out.len() as u64 => Err(MediaError::Chunk(format!(
            "{}: truncated: {} of the {n} samples its header declares",
            path.display(),
            out.len()
        ))),
        _ => Ok(out),
    }
}

/// f32 → 16-bit FLAC bytes. Rounds to nearest; out-of-range input is clipped, not wrapped.
fn encode_flac(samples: &[f32]) -> Result<Vec<u8>, MediaError> {
    let pcm: Vec<i32> = samples.iter().map(|&x| to_i16(x)).collect();
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|e| MediaError::Chunk(format!("encoder config: {e:?}")))?;
    let source = flacenc::source::MemSource::from_samples(&pcm, 1, 16, CHUNK_RATE as usize);
    let mut stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| MediaError::Chunk(format!("FLAC encoding failed: {e:?}")))?;
    // flacenc counts the short last block in STREAMINFO's minimum block size; the FLAC spec
    // excludes it, and claxon rejects a minimum below 16. Every block but the last has the
    // fixed size, so min = max = that size is the correct header.
    stream
        .stream_info_mut()
        .set_block_sizes(config.block_size, config.block_size)
        .map_err(|e| MediaError::Chunk(format!("FLAC header: {e:?}")))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream
        .write(&mut sink)
        .map_err(|e| MediaError::Chunk(format!("FLAC encoding failed: {e:?}")))?;
    Ok(sink.into_inner())
}

pub fn to_i16(x: f32) -> i32 {
    // NaN maps to 0 (`as` saturates and sends NaN to 0).
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i32
}

/// A temp name beside `path` (same filesystem, so the rename is atomic) that no other writer
/// in this or another process uses at the same time.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact_at_16_bit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.flac");
        let samples: Vec<f32> = (0..40_000)
            .map(|i| ((i as f32) * 0.01).sin() * 0.8)
            .collect();
        write_chunk(&p, &samples).unwrap();
        let back = read_chunk(&p).unwrap();
        assert_eq!(back.len(), samples.len());
        for (a, b) in samples.iter().zip(&back) {
            assert!((a - b).abs() <= 1.0 / 32768.0, "{a} vs {b}");
        }
        // No temp files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn clipping_and_tiny_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.flac");
        write_chunk(&p, &[2.0, -2.0, f32::NAN]).unwrap();
        assert_eq!(read_chunk(&p).unwrap(), vec![32767.0 / 32768.0, -1.0, 0.0]);
        write_chunk(&p, &[]).unwrap();
        assert!(read_chunk(&p).unwrap().is_empty());
        for n in [1usize, 15, 16, 17, 4096 + 3, 4096 * 3 + 15] {
            let s: Vec<f32> = (0..n).map(|i| (i % 7) as f32 / 10.0).collect();
            write_chunk(&p, &s).unwrap();
            assert_eq!(read_chunk(&p).unwrap().len(), n, "n = {n}");
        }
    }

    /// A chunk cut short behind the queue's back (at any byte, frame boundaries included) is
    /// an error, never a shorter transcript passed off as the whole chunk.
    #[test]
    fn a_truncated_chunk_is_an_error_wherever_it_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.flac");
        let samples: Vec<f32> = (0..40_000)
            .map(|i| ((i as f32) * 0.013).sin() * 0.5)
            .collect();
        write_chunk(&p, &samples).unwrap();
        let whole = fs::read(&p).unwrap();
        let cut = dir.path().join("cut.flac");
        for at in (0..whole.len()).step_by(7) {
            fs::write(&cut, &whole[..at]).unwrap();
            if let Ok(got) = read_chunk(&cut) {
                panic!(
                    "cut at {at} of {} bytes: read {} of {} samples without an error",
                    whole.len(),
                    got.len(),
                    samples.len()
                );
            }
        }
    }

    #[test]
    fn reading_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.flac");
        fs::write(&p, b"not flac").unwrap();
        assert!(read_chunk(&p).is_err());
        assert!(read_chunk(&dir.path().join("missing.flac")).is_err());
    }
}
