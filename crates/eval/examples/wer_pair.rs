//! WER of one hypothesis file against one reference file, normalised as DESIGN.md §4 says (the
//! code the tests use). Prints one JSON object. `scripts/bench-asr.sh` scores with it:
//! `cargo run --release -p nightshift-eval --example wer_pair -- REF.txt HYP.txt`.

use nightshift_eval::{normalize, wer_counts};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: wer_pair REFERENCE.txt HYPOTHESIS.txt");
        std::process::exit(2);
    }
    let read = |p: &str| {
        std::fs::read_to_string(p).unwrap_or_else(|e| {
            eprintln!("{p}: {e}");
            std::process::exit(1)
        })
    };
    let (r, h) = (read(&args[1]), read(&args[2]));
    let c = wer_counts(&normalize(&r), &normalize(&h));
    println!(
        "{{\"wer\": {}, \"sub\": {}, \"del\": {}, \"ins\": {}, \"ref_words\": {}}}",
        c.wer(),
        c.substitutions,
        c.deletions,
        c.insertions,
        c.ref_words
    );
}
