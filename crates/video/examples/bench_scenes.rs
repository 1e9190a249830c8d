//! Scene detection speed and accuracy on videos with a corpus manifest entry:
//! `cargo run --release -p nightshift-video --example bench_scenes` (all corpus videos).
//! Prints per video: frames, decode+detect seconds, frames/s, F1 by the acceptance rule.

use nightshift_eval::{load_corpus, scene_f1};
use nightshift_video::{DetectParams, detect, frames};

fn main() {
    let corpus = load_corpus().expect("corpus manifest");
    println!("video                 frames   seconds  (detect)  frames/s   F1");
    for case in corpus.of_kind("video") {
        let path = corpus.file(case);
        let fps = case.expected["fps"].as_f64().expect("fps in the manifest");
        let mut best = f64::MAX;
        let mut detect_s = f64::MAX;
        let mut found = Vec::new();
        let mut n = 0;
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            let sigs = frames::signatures(&path, fps).expect("decode");
            let t1 = std::time::Instant::now();
            found = detect(&sigs, &DetectParams::default())
                .iter()
                .map(|b| b.frame)
                .collect();
            best = best.min(t0.elapsed().as_secs_f64());
            detect_s = detect_s.min(t1.elapsed().as_secs_f64());
            n = sigs.len();
        }
        let (score, _) = scene_f1(&found, case.expected["transitions"].as_array().unwrap());
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
