//! Word starts and word speakers of a `show --format json` document against a corpus meeting's
//! reference turns: `cargo run --release -p nightshift-eval --example word_score -- CASE_ID
//! SHOW.json`. Segments without word times count each of their words at the segment's start
//! (the speaker figure still holds; the start error then says how far segment starts are).

use nightshift_eval::{HypWord, load_corpus, score_words};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [case_id, path] = args.as_slice() else {
        eprintln!("usage: word_score CASE_ID SHOW.json");
        std::process::exit(2);
    };
    let manifest = load_corpus().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let Some(case) = manifest.case(case_id) else {
        eprintln!("{case_id}: not in the corpus manifest");
        std::process::exit(1)
    };
    let doc: serde_json::Value = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            eprintln!("{path}: not a show --format json document");
            std::process::exit(1)
        });
    let mut words = Vec::new();
    let mut timed = 0usize;
    for s in doc["segments"].as_array().into_iter().flatten() {
        let speaker = s["speaker"].as_str().map(str::to_string);
        match s["words"].as_array() {
            Some(ws) if !ws.is_empty() => {
                timed += 1;
                for w in ws {
                    words.push(HypWord {
                        start: w["start"].as_f64().unwrap_or(0.0),
                        speaker: speaker.clone(),
                        text: w["text"].as_str().unwrap_or_default().to_string(),
                    });
                }
            }
            _ => {
                for w in s["text"].as_str().unwrap_or_default().split_whitespace() {
                    words.push(HypWord {
                        start: s["start"].as_f64().unwrap_or(0.0),
                        speaker: speaker.clone(),
                        text: w.to_string(),
                    });
                }
            }
        }
    }
    let score = score_words(&case.turns(), &words);
    println!(
        "{case_id}: {} segments ({timed} with word times); median sentence-start error {:.3} s over {} starts; {}/{} aligned words carry their reference speaker ({:.1} %)",
        doc["segments"].as_array().map_or(0, Vec::len),
        score.median_start_error().unwrap_or(f64::NAN),
        score.start_errors.len(),
        score.attributed,
        score.aligned,
        score.attribution() * 100.0
    );
}
