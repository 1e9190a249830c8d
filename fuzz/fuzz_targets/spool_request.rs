//! A spooled request file (`<run>/spool/requests/*.json`) as the daemon reads it:
//! `session::spool::parse_request` on any text (the reader refuses bytes that are not UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = nightshift_pipeline::session::spool::parse_request(text, "request");
    }
});
