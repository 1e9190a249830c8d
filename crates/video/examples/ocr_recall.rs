//! On-screen text recall over every video of the corpus (NIGHTSHIFT_CORPUS or ../shared/corpus):
//! `cargo run --release -p nightshift-video --example ocr_recall`. For each true scene, the words
//! of its `on_screen_text` found in the OCR of the detected scene holding the scene's middle
//! frame, as `crates/video/tests/corpus.rs` scores the slide video; prints per video and pooled.

use std::collections::HashSet;

use nightshift_eval::load_corpus;

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn main() {
    let corpus = load_corpus().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let (mut hit_all, mut want_all) = (0usize, 0usize);
    println!("video                      scenes  words  found  recall  OCR s");
    for case in corpus.of_kind("video") {
        let dir = tempfile::tempdir().expect("temp dir");
        let fps = case.expected["fps"].as_f64().expect("fps in the manifest");
        let notes = match nightshift_video::analyze(&corpus.file(case), fps, dir.path(), 2) {
            Ok(n) => n,
            Err(e) => {
                println!("{:<26} error: {e}", case.id);
                continue;
            }
        };
        let (mut hit, mut want_n) = (0usize, 0usize);
        let scenes = case.expected["scenes"].as_array().expect("scenes");
        for scene in scenes {
            let (a, b) = (
                scene["clean_start_frame"].as_u64().unwrap_or(0) as usize,
                scene["clean_end_frame"].as_u64().unwrap_or(0) as usize,
            );
            let mid = (a + b) / 2;
            let seen: HashSet<String> = notes
                .scenes
                .iter()
                .find(|s| s.start_frame <= mid && mid < s.end_frame)
                .map(|s| s.ocr_text.iter().flat_map(|l| words(l)).collect())
                .unwrap_or_default();
            let want: Vec<String> = scene["on_screen_text"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str())
                        .flat_map(words)
                        .collect()
                })
                .unwrap_or_default();
            let missed: Vec<&String> = want.iter().filter(|w| !seen.contains(*w)).collect();
            hit += want.len() - missed.len();
            want_n += want.len();
            if !missed.is_empty() {
                eprintln!("{} scene {}: missed {missed:?}", case.id, scene["index"]);
            }
        }
        println!(
            "{:<26} {:>6} {:>6} {:>6}  {:>6.3}  {:>5.1}",
            case.id,
            scenes.len(),
            want_n,
            hit,
            hit as f64 / want_n.max(1) as f64,
            notes.ocr_s
        );
        hit_all += hit;
        want_all += want_n;
    }
    println!(
        "pooled word recall {:.3} ({hit_all}/{want_all})",
        hit_all as f64 / want_all.max(1) as f64
    );
}
