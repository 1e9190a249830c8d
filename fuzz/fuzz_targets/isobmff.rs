//! The ISO base media (MP4/MOV/M4A) top-level box walk (`media::isobmff`) through
//! `check_structure`. An input whose first box type is not one that opens such a file gets
//! `ftyp` written there, so every input reaches the box walk.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;

const FIRST_BOXES: [&[u8; 4]; 7] = [
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin",
];

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() < 8 {
        bytes.resize(8, 0);
    }
    if !FIRST_BOXES.iter().any(|b| &bytes[4..8] == *b) {
        bytes[4..8].copy_from_slice(b"ftyp");
    }
    let len = bytes.len() as u64;
    let _ = nightshift_media::check_structure(&mut Cursor::new(bytes), len);
});
