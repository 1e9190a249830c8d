//! Content hashes: of input files (duplicate detection) and of chunk samples (chunk names).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::chunk_io::to_i16;

/// SHA-256 of a file, hex, read in 1 MiB blocks (memory does not grow with the file).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// SHA-256 of samples as they are stored (16-bit little-endian), so equal chunk files get
/// equal names.
pub fn sha256_samples(samples: &[f32]) -> String {
    let mut h = Sha256::new();
    for block in samples.chunks(4096) {
        let bytes: Vec<u8> = block
            .iter()
            .flat_map(|&x| (to_i16(x) as i16).to_le_bytes())
            .collect();
        h.update(&bytes);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Equal after 16-bit quantisation → equal hash.
        assert_eq!(
            sha256_samples(&[0.5, 0.0]),
            sha256_samples(&[0.500001, 0.0])
        );
        assert_ne!(sha256_samples(&[0.5]), sha256_samples(&[0.25]));
    }
}
