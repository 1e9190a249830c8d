//! Pooled WER per set of the corpus (NIGHTSHIFT_CORPUS or ../shared/corpus) for hypotheses kept
//! as one text file per case: `cargo run --release -p nightshift-eval --example pooled_wer --
//! HYP_DIR [HYP_DIR ...]`, where HYP_DIR/<case id>.txt holds a system's transcript of that case.
//! Prints, per directory and set, the pooled WER and how many cases it covers; a case with a
//! reference and no file counts as all words deleted (a system that skipped it scores for it);
//! a set with no file at all is left out.

use std::collections::BTreeMap;
use std::path::Path;

use nightshift_eval::{WerCounts, load_corpus, normalize, pooled_wer, wer_counts};

fn main() {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        eprintln!("usage: pooled_wer HYP_DIR [HYP_DIR ...]");
        std::process::exit(2);
    }
    let manifest = load_corpus().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    for dir in &dirs {
        let mut per_set: BTreeMap<&str, (Vec<WerCounts>, usize)> = BTreeMap::new();
        for case in &manifest.cases {
            // Multi-speaker real excerpts are scored per speaker elsewhere.
            let Some(reference) = case.reference_transcript() else {
                continue;
            };
            let hyp_path = Path::new(dir).join(format!("{}.txt", case.id));
            let hyp = std::fs::read_to_string(&hyp_path).ok();
            let entry = per_set.entry(case.kind.as_str()).or_default();
            entry.1 += usize::from(hyp.is_none());
            let counts = wer_counts(
                &normalize(reference),
                &normalize(hyp.as_deref().unwrap_or("")),
            );
            entry.0.push(counts);
        }
        for (kind, (counts, missing)) in &per_set {
            // A set this system was not run on (edge inputs, videos) says nothing.
            if *missing == counts.len() {
                continue;
            }
            let words: usize = counts.iter().map(|c| c.ref_words).sum();
            println!(
                "{dir}\t{kind}\t{:.2}%\t{} cases\t{words} words\t{missing} missing",
                100.0 * pooled_wer(counts),
                counts.len()
            );
        }
    }
}
