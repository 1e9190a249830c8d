//! The ffmpeg child every source goes through (input → f32le, mono, 16 kHz on stdout) and the
//! thread that reads its output into blocks for the recorder. Shared by files, stdin and live
//! devices; depends on no other source module.

use std::io::Read;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

use crate::{CaptureError, RATE};

/// Samples per block handed to the recorder (100 ms).
pub const BLOCK: usize = RATE as usize / 10;

/// What the recorder receives.
#[derive(Debug)]
pub enum Block {
    Samples(Vec<f32>),
    /// The source ended normally (end of file or stdin).
    End,
    /// The source failed (device gone, ffmpeg error): the message says why.
    Failed(String),
}

/// `ffmpeg <input args> → f32le, mono, 16 kHz` on stdout.
pub(crate) fn resampler(input_args: &[String], stdin: Stdio) -> Result<Child, CaptureError> {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error"])
        .args(input_args)
        .args([
            "-vn",
            "-f",
            "f32le",
            "-ac",
            "1",
            "-ar",
            &RATE.to_string(),
            "pipe:1",
        ])
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CaptureError::io("starting ffmpeg", e))
}

/// Read ffmpeg's output into blocks until EOF, then report how it ended.
pub(crate) fn spawn_reader(
    mut out: ChildStdout,
    stderr: Option<std::process::ChildStderr>,
    tx: SyncSender<Block>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        // Drain stderr concurrently so ffmpeg never blocks on a full pipe.
        let err_thread = stderr.map(|mut e| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = e.read_to_string(&mut s);
                s
            })
        });
        let mut bytes = vec![0u8; BLOCK * 4];
        let mut filled = 0;
        loop {
            match out.read(&mut bytes[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    if filled == bytes.len() {
                        if tx.send(Block::Samples(to_f32(&bytes))).is_err() {
                            return;
                        }
                        filled = 0;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Block::Failed(format!("reading the source: {e}")));
                    return;
                }
            }
        }
        let whole = filled - filled % 4;
        if whole > 0 {
            let _ = tx.send(Block::Samples(to_f32(&bytes[..whole])));
        }
        let errors = err_thread.and_then(|t| t.join().ok()).unwrap_or_default();
        let errors = errors.trim();
        if errors.is_empty() || stop.load(Ordering::SeqCst) {
            let _ = tx.send(Block::End);
        } else {
            let first = errors.lines().next().unwrap_or(errors).to_string();
            let _ = tx.send(Block::Failed(first));
        }
    })
}

fn to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
