//! Transcript quality over the corpus manifest (DESIGN.md §4): pooled WER per set with tiny.en,
//! on both engines (the default CTranslate2 and whisper.cpp), against the faster-whisper
//! yardstick + 1 point, and timestamps that line up with the truth.
//!
//! Iterates `manifest.json`, not a hand-copied list, so a different corpus of the same kinds is
//! scored the same way.

mod common;

use std::collections::BTreeMap;

use common::{Env, stderr};
use nightshift_eval::{WerCounts, load_corpus, normalize, pooled_wer, wer_counts};

/// Pooled WER ceilings per set: the faster-whisper tiny.en yardstick + 1 point (meetings: 16 %).
fn ceiling(kind: &str) -> f64 {
    match kind {
        "real_speech" => 0.010,
        "tts" => 0.162,
        "format" => 0.064,
        "meeting" => 0.160,
        _ => unreachable!(),
    }
}

#[test]
fn pooled_wer_per_set_is_within_the_yardstick() {
    // The default profile: tiny.en on CTranslate2.
    pooled_wer_within_the_yardstick(Env::new());
}

#[test]
fn pooled_wer_per_set_is_within_the_yardstick_on_whisper_cpp() {
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(
        env.home().join("config.toml"),
        "[profiles.dev]\nasr_engine = \"whispercpp\"\n",
    )
    .unwrap();
    pooled_wer_within_the_yardstick(env);
}

fn pooled_wer_within_the_yardstick(env: Env) {
    common::shared();
    let manifest = load_corpus().expect("corpus manifest");
    let mut cases = Vec::new();
    for case in &manifest.cases {
        if !["real_speech", "tts", "format", "meeting"].contains(&case.kind.as_str()) {
            continue;
        }
        // Multi-speaker real excerpts are scored per speaker (cpWER) by the diarization work.
        let Some(reference) = case.reference_transcript() else {
            continue;
        };
        let out = env
            .cmd()
            .arg("add")
            .arg(manifest.file(case))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", case.id, stderr(&out));
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        cases.push((case, id, reference.to_string()));
    }
    env.run_audio_until_idle();

    let mut per_set: BTreeMap<String, Vec<WerCounts>> = BTreeMap::new();
    for (case, id, reference) in &cases {
        let doc = env.json(&["show", id, "--format", "json"]);
        let segments = doc["segments"].as_array().unwrap();
        let hyp: Vec<String> = segments
            .iter()
            .map(|s| s["text"].as_str().unwrap().to_string())
            .collect();
        let counts = wer_counts(&normalize(reference), &normalize(&hyp.join(" ")));
        eprintln!(
            "{:<34} {:>6.1}%  ({} ref words)",
            case.id,
            100.0 * pooled_wer(std::slice::from_ref(&counts)),
            counts.ref_words
        );
        // Times are meeting seconds inside the file.
        let duration = case.duration_s().unwrap_or(f64::MAX);
        for s in segments {
            let (a, b) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
            assert!(
                0.0 <= a && a < b && b <= duration + 0.1,
                "{}: bad segment times {s}",
                case.id
            );
        }
        per_set.entry(case.kind.clone()).or_default().push(counts);
    }
    let mut failures = Vec::new();
    for (kind, counts) in &per_set {
        let wer = pooled_wer(counts);
        eprintln!(
            "set {kind:<12} pooled WER {:>5.1}%  (ceiling {:.1}%)",
            100.0 * wer,
            100.0 * ceiling(kind)
        );
        if wer > ceiling(kind) {
            failures.push(format!(
                "{kind}: {:.1}% > {:.1}%",
                100.0 * wer,
                100.0 * ceiling(kind)
            ));
        }
    }
    assert_eq!(per_set.len(), 4, "every set is scored");
    assert!(failures.is_empty(), "WER above the yardstick: {failures:?}");
}

#[test]
fn meeting_sentences_start_where_the_truth_says() {
    common::shared();
    let manifest = load_corpus().expect("corpus manifest");
    let case = manifest
        .of_kind("meeting")
        .next()
        .expect("a meeting in the corpus");
    let env = Env::new();
    let id = env.add(&manifest.file(case));
    env.run_audio_until_idle();
    let doc = env.json(&["show", &id, "--format", "json"]);
    let starts: Vec<f64> = doc["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_f64().unwrap())
        .collect();
    // Every true turn start has a transcript segment starting within 0.5 s of it (chunk offset
    // + local time is right, across chunk boundaries too).
    let turns = case.turns();
    let matched = turns
        .iter()
        .filter(|t| starts.iter().any(|s| (s - t.start_s).abs() <= 0.5))
        .count();
    let ratio = matched as f64 / turns.len() as f64;
    eprintln!(
        "{}: {matched}/{} turn starts matched within 0.5 s",
        case.id,
        turns.len()
    );
    assert!(
        ratio >= 0.8,
        "only {matched} of {} turn starts matched",
        turns.len()
    );
}
