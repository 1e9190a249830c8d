//! Ingest throughput and peak memory on long recordings built from the corpus meetings.
//!
//! `cargo run --release -p nightshift-media --example bench_ingest [-- MINUTES...]`
//! (default 10 and 60). Each length runs in a fresh process so its peak RSS is its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nightshift_media::{IngestOptions, ingest};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// Peak resident set of this process (kB), from /proc (Linux).
fn peak_rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Concatenate the corpus meetings (looped) into a 16 kHz mono WAV of `minutes`.
fn make_input(dir: &Path, minutes: u32) -> PathBuf {
    // The concat demuxer needs identical codecs: bring every meeting to 16 kHz PCM first.
    let mut parts = Vec::new();
    for m in ["meeting_01.wav", "meeting_02.wav", "meeting_03.mp3"] {
        let part = dir.join(format!("{m}.wav"));
        ffmpeg(&[
            "-i".as_ref(),
            corpus().join("meetings").join(m).as_os_str(),
            "-ac".as_ref(),
            "1".as_ref(),
            "-ar".as_ref(),
            "16000".as_ref(),
            "-c:a".as_ref(),
            "pcm_s16le".as_ref(),
            part.as_os_str(),
        ]);
        parts.push(part);
    }
    let loops = (f64::from(minutes) * 60.0 / (283.7 + 190.7 + 233.1)).ceil() as usize;
    let mut list = String::new();
    for _ in 0..loops {
        for p in &parts {
            list.push_str(&format!("file '{}'\n", p.display()));
        }
    }
    let list_path = dir.join(format!("list_{minutes}.txt"));
    std::fs::write(&list_path, list).unwrap();
    let out = dir.join(format!("long_{minutes}min.wav"));
    let secs = (minutes * 60).to_string();
    ffmpeg(&[
        "-f".as_ref(),
        "concat".as_ref(),
        "-safe".as_ref(),
        "0".as_ref(),
        "-i".as_ref(),
        list_path.as_os_str(),
        "-t".as_ref(),
        secs.as_ref(),
        "-c".as_ref(),
        "copy".as_ref(),
        out.as_os_str(),
    ]);
    out
}

fn ffmpeg(args: &[&std::ffi::OsStr]) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success());
}

fn measure(input: &Path) {
    let chunks = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let out = ingest(input, chunks.path(), &IngestOptions::default()).unwrap();
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "{:>6.1} min  {:>6.2} s wall  {:>6.0}x real time  {:>3} chunks  peak RSS {:>6} kB (ffmpeg separate)",
        out.duration_s / 60.0,
        wall,
        out.duration_s / wall,
        out.chunks.len(),
        peak_rss_kb("VmHWM:")
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--input") {
        measure(Path::new(&args[1]));
        return;
    }
    let minutes: Vec<u32> = if args.is_empty() {
        vec![10, 60]
    } else {
        args.iter().map(|a| a.parse().expect("minutes")).collect()
    };
    let dir = tempfile::tempdir().unwrap();
    for m in minutes {
        let input = make_input(dir.path(), m);
        let exe = std::env::current_exe().unwrap();
        let status = Command::new(exe)
            .arg("--input")
            .arg(&input)
            .status()
            .unwrap();
        assert!(status.success());
    }
}
