//! Scene detection and OCR on the corpus videos, scored by the acceptance rule: a hard cut
//! matches a detection within ±2 frames; a gradual transition matches a detection anywhere in
//! its span ±2 frames; each detection matches at most one transition.

use nightshift_eval::load_corpus;
use nightshift_video::{DetectParams, detect, frames};
use serde_json::Value;

fn f1(detections: &[usize], transitions: &[Value]) -> (f64, usize) {
    let mut used = vec![false; detections.len()];
    let mut tp = 0;
    for t in transitions {
        let (lo, hi) = if t["type"] == "cut" {
            let f = t["frame"].as_i64().unwrap();
            (f - 2, f + 2)
        } else {
            (
                t["start_frame"].as_i64().unwrap() - 2,
                t["end_frame"].as_i64().unwrap() - 1 + 2,
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
    (
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        },
        tp,
    )
}

#[test]
fn scene_cuts_score_at_least_0_9_f1_on_every_corpus_video() {
    let corpus = load_corpus().expect("corpus manifest");
    let mut total = (0, 0, 0);
    for case in corpus.of_kind("video") {
        let path = corpus.file(case);
        let sigs = frames::signatures(&path).unwrap();
        let found: Vec<usize> = detect(&sigs, &DetectParams::default())
            .iter()
            .map(|b| b.frame)
            .collect();
        let transitions = case.expected["transitions"].as_array().unwrap();
        let (score, tp) = f1(&found, transitions);
        println!(
            "{}: F1 {score:.3} ({tp} of {} transitions, {} detections) {found:?}",
            case.id,
            transitions.len(),
            found.len()
        );
        assert!(score >= 0.9, "{}: F1 {score:.3}", case.id);
        total = (
            total.0 + tp,
            total.1 + found.len(),
            total.2 + transitions.len(),
        );
    }
    let (p, r) = (
        total.0 as f64 / total.1 as f64,
        total.0 as f64 / total.2 as f64,
    );
    println!("overall F1 {:.3}", 2.0 * p * r / (p + r));
}
