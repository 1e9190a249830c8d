//! What the Foreman reads from a worker's stdout: line-delimited JSON answers of the whisper,
//! llama and diarize workers (`worker_protocol::read_message`), every line of the input.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use nightshift_worker_protocol::{Response, diarize::DiarizeResponse, llama::LlamaResponse};

fuzz_target!(|data: &[u8]| {
    drain::<Response>(data);
    drain::<LlamaResponse>(data);
    drain::<DiarizeResponse>(data);
});

fn drain<M: for<'de> serde::Deserialize<'de>>(data: &[u8]) {
    let mut input = Cursor::new(data);
    // Each call consumes at least one line; stop at the end or the first I/O error (non-UTF-8).
    for _ in 0..=data.len() {
        match nightshift_worker_protocol::read_message::<_, M>(&mut input) {
            Ok(None) | Err(nightshift_worker_protocol::ProtocolError::Io(_)) => return,
            Ok(Some(_)) | Err(_) => {}
        }
    }
}
