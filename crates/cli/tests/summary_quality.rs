//! Notes worth reading, measured: corpus meetings through the whole pipeline with the `notes`
//! profile (Qwen2.5-Coder 1.5B), their decisions and action items scored against the truth in
//! the manifest by meaning (sentence embeddings), owners and due dates checked.
//!
//! CI runs one meeting and holds it to the acceptance bounds; `scripts/bench-summary.sh` runs all
//! three (`NIGHTSHIFT_SUMMARY_MEETINGS=meeting_01,meeting_02,meeting_03`) and prints the table
//! with speeds. The summary model comes from `scripts/fetch-summary-model.sh` (test.sh runs it),
//! the embedding model from `scripts/fetch-embedding-model.sh`.

mod common;

use std::time::Instant;

use common::{Env, stderr};
use nightshift_eval::{
    Case, Embedder, Manifest, ProducedSummary, Score, ScoreOptions, SpeakerTurn,
    embedding_model_dir, label_people, load_corpus, parse_rttm, score_summary, score_table,
};
use serde_json::Value;

fn meetings() -> Vec<String> {
    std::env::var("NIGHTSHIFT_SUMMARY_MEETINGS")
        .unwrap_or_else(|_| "meeting_02".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The meeting's reference speaker turns (its RTTM).
fn reference_turns(manifest: &Manifest, case: &Case) -> Vec<SpeakerTurn> {
    let rttm = case.expected["rttm"]
        .as_str()
        .expect("a meeting with an RTTM");
    parse_rttm(&std::fs::read_to_string(manifest.dir.join(rttm)).expect("the RTTM reads"))
}

/// Transcript segments whose speaker is still a label (`SPEAKER_n`), as turns.
fn label_turns(doc: &Value) -> Vec<SpeakerTurn> {
    doc["segments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let speaker = s["speaker"].as_str()?;
            let (start, end) = (s["start"].as_f64()?, s["end"].as_f64()?);
            speaker.starts_with("SPEAKER_").then(|| SpeakerTurn {
                speaker: speaker.to_string(),
                start,
                end,
            })
        })
        .collect()
}

/// Sum of a metric over a meeting's SUMMARY jobs.
fn summary_metric(status: &Value, key: &str) -> f64 {
    status["meetings"][0]["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|j| j["task_type"] == "SUMMARY")
        .filter_map(|j| j["metrics"][key].as_f64())
        .sum()
}

/// Pooled over meetings: (decision recall, action recall, precision, owners right, dues
/// right, duplicates).
fn pooled(scores: &[Score]) -> (f64, f64, f64, f64, f64, usize) {
    let sum = |f: &dyn Fn(&Score) -> usize| scores.iter().map(f).sum::<usize>();
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let d_hit = sum(&|s| s.decisions.pairs.len());
    let a_hit = sum(&|s| s.action_items.pairs.len());
    let produced = sum(&|s| s.decisions.produced_count + s.action_items.produced_count);
    (
        ratio(d_hit, sum(&|s| s.decisions.true_count)),
        ratio(a_hit, sum(&|s| s.action_items.true_count)),
        ratio(d_hit + a_hit, produced),
        ratio(sum(&|s| s.owners_correct), a_hit),
        ratio(sum(&|s| s.dues_correct), sum(&|s| s.dues_checked)),
        sum(&|s| s.decisions.duplicates.len() + s.action_items.duplicates.len()),
    )
}

#[test]
fn notes_name_the_decisions_and_action_items_the_meeting_made() {
    common::shared();
    let manifest = load_corpus().expect("corpus manifest");
    let dir = embedding_model_dir().expect("embedding model (scripts/fetch-embedding-model.sh)");
    let embedder = Embedder::load(&dir).expect("embedding model loads");
    let mut scores = Vec::new();
    for id in meetings() {
        let case = manifest
            .cases
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no corpus meeting {id}"));
        let truth = case.meeting_truth().expect("a meeting with truth");
        let env = Env::new();
        let meeting = env.add(&manifest.file(case));
        let t0 = Instant::now();
        let mut args = vec!["run", "--until-idle", "--profile", "notes"];
        // The benchmark can try another ASR model (a name or a path) under the same notes.
        let asr = std::env::var("NIGHTSHIFT_SUMMARY_ASR").unwrap_or_default();
        if !asr.is_empty() {
            args.extend(["--model", asr.as_str()]);
        }
        // … and another beam width.
        let beam = std::env::var("NIGHTSHIFT_SUMMARY_BEAM").unwrap_or_default();
        if !beam.is_empty() {
            args.extend(["--beam-size", beam.as_str()]);
        }
        let out = env.run(&args);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
        let wall = t0.elapsed().as_secs_f64();
        let doc = env.json(&["show", &meeting, "--format", "json"]);
        let status = env.json(&["status", &meeting, "--json"]);
        println!(
            "{id}: whole run {wall:.1} s (meeting {:.0} s), summary steps {:.1} s, {:.0} tokens in, {:.0} out; date {} ({}); speakers {}",
            doc["duration_s"].as_f64().unwrap_or(0.0),
            summary_metric(&status, "wall_s"),
            summary_metric(&status, "tokens_in"),
            summary_metric(&status, "tokens_out"),
            doc["meeting_date"],
            doc["meeting_date_source"],
            doc["speakers"]
        );
        println!("{}", serde_json::to_string_pretty(&doc["summary"]).unwrap());
        let produced: ProducedSummary =
            serde_json::from_value(doc["summary"].clone()).expect("a summary");
        // Owners are names (as people address each other), scored by name; an owner still
        // known only by its speaker label is the person that label's speech belongs to.
        let options = ScoreOptions {
            speaker_names: label_people(&reference_turns(&manifest, case), &label_turns(&doc)),
            ..ScoreOptions::default()
        };
        let score = score_summary(&embedder, &id, &truth, &produced, &options);
        for n in &score.notes {
            println!("  {id}: {n}");
        }
        scores.push(score);
    }
    println!("{}", score_table(&scores));
    let (d_recall, a_recall, precision, owners, dues, duplicates) = pooled(&scores);
    println!(
        "pooled: decisions recall {d_recall:.2}, action items recall {a_recall:.2}, precision {precision:.2}, owner correct {owners:.2}, due correct {dues:.2}, duplicates {duplicates}"
    );
    assert_eq!(duplicates, 0);
    if std::env::var_os("NIGHTSHIFT_SUMMARY_MEETINGS").is_some() {
        return; // the benchmark: figures printed above, held to no bound but duplicates
    }
    // CI's meeting_02 with the notes profile (Whisper base ASR), held to what the notes reach on
    // it (decisions 2/3, action items 3/4, precision 0.71, owners 2/3, dues 3/3, measured on
    // 2 cores) less a margin where a one-item change allows it, as a regression floor. The
    // issue's targets (0.8 pooled over three meetings) are reported by scripts/bench-summary.sh.
    assert!(d_recall >= 0.66, "decision recall {d_recall:.2}");
    assert!(a_recall >= 0.5, "action-item recall {a_recall:.2}");
    assert!(precision >= 0.6, "precision {precision:.2}");
    assert!(owners >= 0.5, "owners {owners:.2}");
    assert!(dues >= 0.66, "dues {dues:.2}");
}
