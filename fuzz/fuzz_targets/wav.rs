//! The RIFF/WAVE walk (`media::riff`) through `check_structure`, as `add` runs it on a file.
//! The first 12 bytes are forced to `RIFF....WAVE` so every input reaches the chunk walk.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() < 12 {
        bytes.resize(12, 0);
    }
    bytes[0..4].copy_from_slice(b"RIFF");
    bytes[8..12].copy_from_slice(b"WAVE");
    let len = bytes.len() as u64;
    let _ = nightshift_media::check_structure(&mut Cursor::new(bytes), len);
});
