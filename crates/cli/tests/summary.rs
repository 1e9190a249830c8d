//! The SUMMARY stage end to end with the real llama worker and SmolLM2-135M: every corpus
//! meeting gets a summary with every field present. Content quality is not judged with a 135M
//! model; the schema, not the model's good behaviour, guarantees the structure.

mod common;

use common::{Env, stderr};
use nightshift_eval::load_corpus;

#[test]
fn every_corpus_meeting_gets_a_complete_structured_summary() {
    common::shared();
    let manifest = load_corpus().expect("corpus manifest");
    let env = Env::new();
    let ids: Vec<(String, String)> = manifest
        .of_kind("meeting")
        .map(|case| (case.id.clone(), env.add(&manifest.file(case))))
        .collect();
    assert!(!ids.is_empty());
    env.run_until_idle();
    for (case, id) in &ids {
        let doc = env.json(&["show", id, "--part", "summary", "--format", "json"]);
        let s = &doc["summary"];
        assert!(s.is_object(), "{case}: no summary: {doc}");
        assert!(
            !s["overview"].as_str().unwrap_or("").trim().is_empty(),
            "{case}: empty overview"
        );
        for key in ["decisions", "action_items", "open_questions"] {
            assert!(s[key].is_array(), "{case}: {key} missing: {s}");
        }
        for d in s["decisions"].as_array().unwrap() {
            assert!(d["text"].is_string(), "{case}: {d}");
            // Every kept item was found in the transcript: it carries its evidence's time.
            assert!(d["time"].is_number(), "{case}: {d}");
        }
        for a in s["action_items"].as_array().unwrap() {
            assert!(a["task"].is_string(), "{case}: {a}");
            assert!(
                a.get("owner").is_some() && a.get("due").is_some(),
                "{case}: {a}"
            );
        }
        let status = env.json(&["status", id, "--json"]);
        let jobs = status["meetings"][0]["jobs"].as_array().unwrap();
        let summary_jobs: Vec<_> = jobs
            .iter()
            .filter(|j| j["task_type"] == "SUMMARY")
            .collect();
        assert!(
            summary_jobs.len() >= 2,
            "{case}: the plan and the LLM step(s) are separate jobs"
        );
        assert!(
            summary_jobs.iter().all(|j| j["status"] == "COMPLETED"),
            "{case}: {status}"
        );
        let md = env.run(&["show", id, "--format", "md"]);
        assert!(
            String::from_utf8_lossy(&md.stdout).contains("## Summary"),
            "{}",
            stderr(&md)
        );
    }
}

#[test]
fn audio_only_runs_leave_the_summary_for_later() {
    let env = Env::new();
    let id = env.add(&common::corpus("tts/tts_05_en-gb-scotland_m2_s190.wav"));
    let out = env.run(&["run", "--until-idle", "--only", "audio"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = env.json(&["status", &id, "--json"]);
    let jobs = s["meetings"][0]["jobs"].as_array().unwrap();
    assert!(jobs.iter().all(|j| j["task_type"] == "AUDIO"), "{s}");
    env.run_until_idle();
    let doc = env.json(&["show", &id, "--part", "summary", "--format", "json"]);
    assert!(doc["summary"].is_object(), "{doc}");
}
