//! Scene detection speed and accuracy on videos with a corpus manifest entry:
//! `cargo run --release -p nightshift-video --example bench_scenes` (all corpus videos).
//! Prints per video: frames, decode+detect seconds, frames/s, F1 by the acceptance rule; then the
//! mean F1 with each detection threshold at 0.8× and 1.2× its default (how sensitive the figure
//! is to it). `NIGHTSHIFT_CORPUS=DIR` runs it on another corpus (e.g. a generated one); `SHOW=1`
//! also prints each video's true and found transitions, with the frame-to-frame and end-to-end
//! differences of each found one.

use nightshift_eval::{load_corpus, scene_f1};
use nightshift_video::detect::mad;
use nightshift_video::{DetectParams, detect, frames};

fn main() {
    let corpus = load_corpus().expect("corpus manifest");
    println!("video                 frames   seconds  (detect)  frames/s   F1");
    let variants = threshold_variants();
    let mut f1_sums = vec![0.0f64; variants.len()];
    let mut videos = 0usize;
    for case in corpus.of_kind("video") {
        let path = corpus.file(case);
        let fps = case.expected["fps"].as_f64().expect("fps in the manifest");
        let mut best = f64::MAX;
        let mut detect_s = f64::MAX;
        let mut found = Vec::new();
        let mut n = 0;
        let mut sigs = Vec::new();
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            sigs = frames::signatures(&path, fps).expect("decode");
            let t1 = std::time::Instant::now();
            found = detect(&sigs, &DetectParams::default())
                .iter()
                .map(|b| b.frame)
                .collect();
            best = best.min(t0.elapsed().as_secs_f64());
            detect_s = detect_s.min(t1.elapsed().as_secs_f64());
            n = sigs.len();
        }
        let truth = case.expected["transitions"].as_array().unwrap();
        let (score, _) = scene_f1(&found, truth);
        if std::env::var_os("SHOW").is_some() {
            show(&case.id, truth, &sigs);
        }
        for (sum, (_, params)) in f1_sums.iter_mut().zip(&variants) {
            let found: Vec<usize> = detect(&sigs, params).iter().map(|b| b.frame).collect();
            *sum += scene_f1(&found, truth).0;
        }
        videos += 1;
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

    println!("\nmean F1 over {videos} videos, one threshold moved at a time");
    for ((name, _), sum) in variants.iter().zip(&f1_sums) {
        println!("{name:<24} {:.3}", sum / videos.max(1) as f64);
    }
}

/// The truth and what the detector found, for a look at the misses and false alarms.
fn show(id: &str, truth: &[serde_json::Value], sigs: &[Vec<u8>]) {
    let spans: Vec<String> = truth
        .iter()
        .map(|t| match t["frame"].as_u64() {
            Some(f) => {
                let f = (f as usize).clamp(1, sigs.len() - 1);
                format!("cut {f} (step {:.3})", mad(&sigs[f], &sigs[f - 1]))
            }
            None => {
                let at = |k: &str| t[k].as_u64().unwrap_or(0) as usize;
                let (a, b) = (
                    at("start_frame").saturating_sub(1),
                    (at("end_frame") + 1).min(sigs.len() - 1),
                );
                format!(
                    "{} {a}-{b} (ends {:.3})",
                    t["type"].as_str().unwrap_or("?"),
                    mad(&sigs[a], &sigs[b])
                )
            }
        })
        .collect();
    println!("  {id}: truth [{}]", spans.join(", "));
    let found: Vec<String> = detect(sigs, &DetectParams::default())
        .iter()
        .map(|b| {
            let t = b.frame.max(1);
            let before = b.span.0.saturating_sub(1);
            let after = b.span.1.min(sigs.len() - 1);
            format!(
                "{:?} {} (step {:.3}, ends {:.3})",
                b.kind,
                b.frame,
                mad(&sigs[t], &sigs[t - 1]),
                mad(&sigs[before], &sigs[after])
            )
        })
        .collect();
    println!("  {id}: found [{}]", found.join(", "));
}

/// The defaults, then each scalar threshold at 0.8× and 1.2×.
fn threshold_variants() -> Vec<(String, DetectParams)> {
    let base = DetectParams::default();
    let mut out = vec![("defaults".to_string(), base)];
    type Field = fn(&mut DetectParams) -> &mut f32;
    let fields: [(&str, Field); 8] = [
        ("cut_floor", |p| &mut p.cut_floor),
        ("cut_ratio", |p| &mut p.cut_ratio),
        ("black", |p| &mut p.black),
        ("blend_residual", |p| &mut p.blend_residual),
        ("blend_floor", |p| &mut p.blend_floor),
        ("blend_floor_short", |p| &mut p.blend_floor_short),
        ("blend_max_shift_fit", |p| &mut p.blend_max_shift_fit),
        ("cut_min_peak", |p| &mut p.cut_min_peak),
    ];
    for (name, field) in fields {
        for scale in [0.8f32, 1.2] {
            let mut p = base;
            *field(&mut p) *= scale;
            out.push((format!("{name} x{scale}"), p));
        }
    }
    out
}
