//! Everything `add` checks before ffprobe sees a file, on raw bytes: text sniffing, then the
//! RIFF/WAVE or ISO base media walk by magic.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let _ = nightshift_media::check_structure(&mut Cursor::new(data), len);
});
