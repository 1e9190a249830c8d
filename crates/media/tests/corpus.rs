//! Ingest every case of the shared corpus (../shared/corpus/manifest.json) and check what a
//! user would notice: accepted files decode to the right length, broken files are refused with
//! a specific message (or, where allowed, accepted with the damage named), inputs are never
//! modified, and on the meetings the VAD matches the ground truth and no cut splits a turn.

use std::path::{Path, PathBuf};

use nightshift_media::{IngestOptions, IngestOutput, MediaError, ingest, read_chunk, sha256_file};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = repo.join("../shared/corpus");
    assert!(
        dir.join("manifest.json").is_file(),
        "test corpus missing: expected {}/manifest.json (the shared corpus sits beside the repository)",
        dir.display()
    );
    dir
}

fn manifest() -> (PathBuf, Vec<Value>) {
    let dir = corpus_dir();
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let cases = m["cases"].as_array().expect("manifest has cases").clone();
    assert!(!cases.is_empty());
    (dir, cases)
}

fn expected_duration(c: &Value) -> Option<f64> {
    c["expected"]["duration_s"]
        .as_f64()
        .or_else(|| c["expected"]["video"]["duration_s"].as_f64())
        .or_else(|| c["media"]["duration_s"].as_f64())
}

/// Chunk invariants that hold for every successful ingest.
fn check_chunks(id: &str, out: &IngestOutput) {
    let total = (out.duration_s * 16_000.0).round() as u64;
    let mut prev_end = 0;
    for c in &out.chunks {
        assert!(c.offset_samples >= prev_end, "{id}: chunks overlap");
        assert!(
            c.offset_samples + c.len_samples <= total,
            "{id}: chunk past the end"
        );
        prev_end = c.offset_samples + c.len_samples;
        let samples = read_chunk(&c.path).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            samples.len() as u64,
            c.len_samples,
            "{id}: stored chunk length"
        );
        let name = c.path.file_stem().unwrap().to_str().unwrap();
        assert!(
            name.len() == 64 && name.chars().all(|ch| ch.is_ascii_hexdigit()),
            "{id}: name {name}"
        );
    }
}

#[test]
fn every_manifest_case_is_accepted_or_refused_as_specified() {
    let (dir, cases) = manifest();
    let mut failures = Vec::new();
    for c in &cases {
        let id = c["id"].as_str().unwrap();
        let kind = c["kind"].as_str().unwrap();
        let path = dir.join(c["path"].as_str().unwrap());
        let outcome = c["expected"]["outcome"].as_str().unwrap_or("ok");
        let tmp = tempfile::tempdir().unwrap();
        let result = ingest(&path, tmp.path(), &IngestOptions::default());
        let line = match (&result, kind, outcome) {
            (Ok(out), _, "ok") => {
                check_chunks(id, out);
                let want = expected_duration(c).unwrap_or_else(|| panic!("{id}: no duration"));
                let audio_expected = c["media"]["streams"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s["type"] == "audio"));
                if !audio_expected {
                    if out.has_audio
                        || !out.chunks.is_empty()
                        || !out.warnings.iter().any(|w| w.contains("no audio"))
                    {
                        failures.push(format!(
                            "{id}: video without audio must warn and have no chunks"
                        ));
                    }
                } else if (out.duration_s - want).abs() > 0.1 {
                    failures.push(format!(
                        "{id}: duration {:.3} s, expected {want:.3} s",
                        out.duration_s
                    ));
                }
                format!(
                    "ok   {:.3} s (want {want:.3}), {} chunk(s) {:?}",
                    out.duration_s,
                    out.chunks.len(),
                    out.warnings
                )
            }
            (Ok(out), _, "error_or_warning") => {
                let named = out
                    .warnings
                    .iter()
                    .any(|w| w.contains("damaged") && w.contains(" s"));
                if !named {
                    failures.push(format!(
                        "{id}: accepted without naming the damage: {:?}",
                        out.warnings
                    ));
                }
                format!("warn {:?}", out.warnings)
            }
            (Err(e), _, "error" | "error_or_warning") => {
                let msg = e.to_string();
                // A specific cause, not a generic wrapper.
                if msg.len() < 12 && !matches!(e, MediaError::Empty) {
                    failures.push(format!("{id}: error too vague: {msg}"));
                }
                format!("err  {msg}")
            }
            (Ok(_), _, other) => {
                failures.push(format!("{id}: accepted, but outcome is {other}"));
                "ACCEPTED".into()
            }
            (Err(e), _, _) => {
                failures.push(format!("{id}: refused a valid file: {e}"));
                format!("ERR  {e}")
            }
        };
        println!("{id:34} {line}");
        let after = sha256_file(&path).unwrap();
        if after != c["sha256"].as_str().unwrap() {
            failures.push(format!("{id}: input modified"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Frame-level F1 at 10 ms frames; a frame is speech if its centre lies in a span.
fn frame_f1(truth: &[(f64, f64)], hyp: &[(f64, f64)], total_s: f64) -> f64 {
    let n = (total_s * 100.0).ceil() as usize;
    let mark = |spans: &[(f64, f64)]| {
        let mut v = vec![false; n];
        for &(s, e) in spans {
            let a = (s * 100.0 - 0.5).ceil().max(0.0) as usize;
            let b = ((e * 100.0 - 0.5).ceil().max(0.0) as usize).min(n);
            for x in v.iter_mut().take(b).skip(a) {
                *x = true;
            }
        }
        v
    };
    let (t, h) = (mark(truth), mark(hyp));
    let count = |f: &dyn Fn(bool, bool) -> bool| {
        t.iter().zip(&h).filter(|(a, b)| f(**a, **b)).count() as f64
    };
    let tp = count(&|a, b| a && b);
    let fp = count(&|a, b| !a && b);
    let fneg = count(&|a, b| a && !b);
    2.0 * tp / (2.0 * tp + fp + fneg)
}

fn pairs(v: &Value, a: &str, b: &str) -> Vec<(f64, f64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            if x.is_array() {
                (x[0].as_f64().unwrap(), x[1].as_f64().unwrap())
            } else {
                (x[a].as_f64().unwrap(), x[b].as_f64().unwrap())
            }
        })
        .collect()
}

#[test]
fn meetings_vad_f1_and_cuts_between_turns() {
    let (dir, cases) = manifest();
    let meetings: Vec<&Value> = cases.iter().filter(|c| c["kind"] == "meeting").collect();
    assert!(!meetings.is_empty(), "no meeting cases in the manifest");
    let mut failures = Vec::new();
    for c in meetings {
        let id = c["id"].as_str().unwrap();
        let e = &c["expected"];
        let path = dir.join(c["path"].as_str().unwrap());
        let truth = pairs(&e["speech_regions"], "start_s", "end_s");
        let turns = pairs(&e["turns"], "start_s", "end_s");
        // Default bounds, and tight ones that force many more cuts into the conversation.
        for (min, max) in [(60.0, 120.0), (15.0, 30.0)] {
            let tmp = tempfile::tempdir().unwrap();
            let opts = IngestOptions {
                min_chunk_s: min,
                max_chunk_s: max,
                ..Default::default()
            };
            let out = ingest(&path, tmp.path(), &opts).unwrap_or_else(|e| panic!("{id}: {e}"));
            check_chunks(id, &out);
            if min == 60.0 {
                let f1 = frame_f1(&truth, &out.speech_spans, out.duration_s);
                println!(
                    "{id}: VAD frame F1 {f1:.3} ({} speech spans)",
                    out.speech_spans.len()
                );
                if f1 < 0.90 {
                    failures.push(format!("{id}: VAD F1 {f1:.3} < 0.90"));
                }
            }
            let lens: Vec<String> = out
                .chunks
                .iter()
                .map(|c| format!("{:.1}", c.duration_s))
                .collect();
            println!("{id} [{min}-{max} s]: chunks {lens:?}");
            for (i, ch) in out.chunks.iter().enumerate() {
                let (start, end) = (ch.offset_s, ch.offset_s + ch.duration_s);
                for b in [start, end] {
                    if let Some(t) = turns.iter().find(|t| t.0 < b && b < t.1) {
                        failures.push(format!("{id}: chunk boundary {b:.2} s inside turn {t:?}"));
                    }
                }
                if ch.duration_s > max + 1e-6 {
                    failures.push(format!("{id}: chunk {i} is {:.1} s > {max}", ch.duration_s));
                }
                // Shorter than min only at the end of a run: before a long silence or the end.
                let next_start = out.chunks.get(i + 1).map_or(out.duration_s, |n| n.offset_s);
                let run_ends = next_start - end >= 10.0 || i + 1 == out.chunks.len();
                if ch.duration_s < min - 1e-6 && !run_ends {
                    failures.push(format!(
                        "{id}: chunk {i} is {:.1} s < {min} mid-run",
                        ch.duration_s
                    ));
                }
            }
            // No speech dropped: every true speech region lies inside some chunk.
            for r in &truth {
                if !out
                    .chunks
                    .iter()
                    .any(|ch| ch.offset_s <= r.0 && r.1 <= ch.offset_s + ch.duration_s)
                {
                    failures.push(format!("{id}: speech {r:?} not inside one chunk"));
                }
            }
            // Constructed non-speech stretches (break, fan noise) must not become speech.
            for ns in e["non_speech_regions"].as_array().into_iter().flatten() {
                let (a, b) = (
                    ns["start_s"].as_f64().unwrap(),
                    ns["end_s"].as_f64().unwrap(),
                );
                let flagged: f64 = out
                    .speech_spans
                    .iter()
                    .map(|s| (s.1.min(b) - s.0.max(a)).max(0.0))
                    .sum();
                if flagged > 0.1 * (b - a) {
                    failures.push(format!(
                        "{id}: {:.1} s of {} marked as speech",
                        flagged, ns["label"]
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
