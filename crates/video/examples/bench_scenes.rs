//! Scene detection speed and accuracy on videos with a corpus manifest entry:
//! `cargo run --release -p nightshift-video --example bench_scenes` (all corpus videos).
//! Prints per video: frames, decode+detect seconds, frames/s, F1 by the acceptance rule.

use nightshift_eval::load_corpus;
use nightshift_video::{DetectParams, detect, frames};
use serde_json::Value;

fn f1(detections: &[usize], transitions: &[Value]) -> f64 {
    let mut used = vec![false; detections.len()];
    let mut tp = 0;
    for t in transitions {
        let (lo, hi) = if t["type"] == "cut" {
            let f = t["frame"].as_i64().unwrap_or(0);
            (f - 2, f + 2)
        } else {
            (
                t["start_frame"].as_i64().unwrap_or(0) - 2,
                t["end_frame"].as_i64().unwrap_or(0) - 1 + 2,
            )
        };
        if let Some(i) =
            (0..detections.len()).find(|&i| !used[i] && (lo..=hi).contains(&(detections[i] as i64)))
        {
            used[i] = true;
            tp += 1;
        }
    }
    let p = tp as f64 / detections.len().max(1) as f64;
    let r = tp as f64 / transitions.len().max(1) as f64;
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

fn main() {
    let corpus = load_corpus().expect("corpus manifest");
    println!("video                 frames   seconds  (detect)  frames/s   F1");
    for case in corpus.of_kind("video") {
        let path = corpus.file(case);
        let mut best = f64::MAX;
        let mut detect_s = f64::MAX;
        let mut found = Vec::new();
        let mut n = 0;
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            let sigs = frames::signatures(&path).expect("decode");
            let t1 = std::time::Instant::now();
            found = detect(&sigs, &DetectParams::default())
                .iter()
                .map(|b| b.frame)
                .collect();
            best = best.min(t0.elapsed().as_secs_f64());
            detect_s = detect_s.min(t1.elapsed().as_secs_f64());
            n = sigs.len();
        }
        let score = f1(&found, case.expected["transitions"].as_array().unwrap());
        println!(
            "{:<20} {:>7} {:>9.3} {:>9.3} {:>10.0} {:>5.2}",
            case.id,
            n,
            best,
            detect_s,
            n as f64 / best,
            score
        );
    }
}
