//! Diarization speed and memory on long audio: the corpus meetings and the AMI excerpt
//! concatenated to N minutes, cut into 120 s spans as stored chunks are, on 2 threads.
//! `NIGHTSHIFT_DIARIZATION_MODELS=DIR cargo run --release -p nightshift-diarize-worker --example bench_diarize -- 60`

#[path = "../tests/common.rs"]
mod common;

use std::path::PathBuf;

use nightshift_diarize_worker::Engine;
use nightshift_worker_protocol::{DiarizeLoad, SpeakerHints};

/// Peak resident memory of this process (VmHWM), MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let minutes: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60.0);
    let dir = PathBuf::from(
        std::env::var("NIGHTSHIFT_DIARIZATION_MODELS").expect("NIGHTSHIFT_DIARIZATION_MODELS"),
    );
    let shared = common::shared_dir().join("corpus");
    let sources: Vec<Vec<f32>> = [
        "meetings/meeting_01.wav",
        "meetings/meeting_02.wav",
        "meetings/meeting_03.mp3",
        "real_speech/ami_meeting_excerpt_4spk.flac",
    ]
    .iter()
    .map(|f| common::decode(&shared.join(f)))
    .collect();
    let want = (minutes * 60.0 * 16_000.0) as usize;
    let mut audio = Vec::with_capacity(want);
    'fill: loop {
        for s in &sources {
            let take = s.len().min(want - audio.len());
            audio.extend_from_slice(&s[..take]);
            if audio.len() >= want {
                break 'fill;
            }
        }
    }
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let mut engine = Engine::load(&DiarizeLoad {
        segmentation_path: p("segmentation-3.0.safetensors"),
        embedder_path: p("campplus.safetensors"),
        threads: 2,
    })
    .expect("models");
    let rss_before = peak_rss_mib();
    const SPAN: usize = 120 * 16_000;
    let spans = audio
        .chunks(SPAN)
        .enumerate()
        .map(|(i, c)| Ok((c.to_vec(), (i * SPAN) as f64 / 16_000.0)));
    let (d, m) = engine
        .diarize_spans(spans, &SpeakerHints::default())
        .expect("diarize");
    println!(
        "{:.0} min of audio: {:.1} s wall = {:.1}x real time (segmentation {:.1} s, embeddings {:.1} s, clustering {:.2} s; {} windows, {} pieces), {} speakers, peak RSS {:.0} MiB (audio buffer {:.0} MiB, before diarizing {:.0} MiB)",
        m.audio_s / 60.0,
        m.wall_s,
        m.audio_s / m.wall_s,
        m.segmentation_s,
        m.embedding_s,
        m.clustering_s,
        m.windows,
        m.embeddings,
        d.speakers.len(),
        peak_rss_mib(),
        audio.len() as f64 * 4.0 / (1 << 20) as f64,
        rss_before
    );
}
