//! The supervisor driving the real llama worker with the real SmolLM2-135M model from
//! `../shared` (beside the repository). Missing assets fail the test; nothing is skipped.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nightshift_supervisor::{BatchOptions, WorkerExit, run_llama_batch};
use nightshift_worker_protocol::{
    ChatMessage, CompleteItem, FinishReason, LlamaLoad, LlamaResponse,
};
use serde_json::{Value, json};

fn shared() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    assert!(
        dir.join("models").is_dir(),
        "test assets missing: {} should hold models/ and corpus/ (see DESIGN.md §5)",
        dir.display()
    );
    dir
}

fn smollm2() -> String {
    let p = shared().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(p.is_file(), "model missing: {}", p.display());
    p.to_string_lossy().into_owned()
}

/// Built by cargo for this package's integration tests, from the same checkout.
fn worker() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nightshift-llama-worker"))
}

fn load(model_path: &str) -> LlamaLoad {
    LlamaLoad {
        n_ctx: 2048,
        ..LlamaLoad::new(model_path, 2)
    }
}

fn opts() -> BatchOptions {
    BatchOptions {
        // Tests run in parallel on small machines: one engine thread each.
        threads: 1,
        timeout: Duration::from_secs(600),
        ..BatchOptions::default()
    }
}

/// The summary shape of DESIGN.md §2, bounded so a small model cannot loop forever.
fn summary_schema() -> Value {
    let text = |n: u32| json!({"type": "string", "maxLength": n});
    let list = |n: u32| json!({"type": "array", "maxItems": 5, "items": text(n)});
    json!({
        "type": "object",
        "properties": {
            "overview": text(300),
            "decisions": list(120),
            "action_items": {
                "type": "array",
                "maxItems": 5,
                "items": {
                    "type": "object",
                    "properties": {"task": text(120), "owner": text(40), "due": text(40)},
                    "required": ["task", "owner", "due"],
                    "additionalProperties": false
                }
            },
            "open_questions": list(120)
        },
        "required": ["overview", "decisions", "action_items", "open_questions"],
        "additionalProperties": false
    })
}

fn transcript(name: &str) -> String {
    let p = shared().join("corpus/meetings").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `max_tokens` covers the schema's worst case (~4,000 bytes with the whitespace the grammar
/// allows; a token is at least one byte), so the output can only end with the grammar done.
fn summary_item(job_id: i64, transcript: &str) -> CompleteItem {
    CompleteItem {
        json_schema: Some(summary_schema()),
        max_tokens: 2048,
        ..CompleteItem::chat(
            job_id,
            vec![
                ChatMessage::new(
                    "system",
                    "You summarise meetings as JSON: overview, decisions, action_items \
                     (task, owner, due), open_questions.",
                ),
                ChatMessage::new("user", transcript),
            ],
        )
    }
}

#[test]
fn schema_constrained_summaries_parse_and_stream_with_one_load() {
    let items = [
        summary_item(1, &transcript("meeting_01.transcript.txt")),
        summary_item(2, &transcript("meeting_02.transcript.txt")),
        summary_item(
            3,
            "ANNA: We decided to ship on Friday. Ben will write the notes.",
        ),
    ];
    let mut events = Vec::new();
    let t0 = Instant::now();
    let big = LlamaLoad {
        n_ctx: 4096,
        ..load(&smollm2())
    };
    let two_threads = BatchOptions {
        threads: 2,
        ..opts()
    };
    let report = run_llama_batch(&worker(), &big, &items, &two_threads, &mut |ev| {
        events.push((t0.elapsed(), ev));
        ControlFlow::Continue(())
    })
    .unwrap();
    let batch_end = t0.elapsed();
    assert!(report.exit.success(), "{report:?}");
    assert!(report.unanswered.is_empty() && report.failure_message().is_none());
    assert_eq!(report.device.as_deref(), Some("cpu"));
    // One model load for the batch: exactly one Ready, and it comes first.
    let readies: Vec<_> = events
        .iter()
        .filter(|(_, e)| matches!(e, LlamaResponse::Ready { .. }))
        .collect();
    assert_eq!(readies.len(), 1, "{events:?}");
    let LlamaResponse::Ready { n_ctx, load_s, .. } = &events[0].1 else {
        panic!("first event is not Ready: {events:?}")
    };
    assert_eq!(*n_ctx, 4096);
    assert!(*load_s > 0.0);

    let done: Vec<_> = events
        .iter()
        .filter_map(|(at, ev)| match ev {
            LlamaResponse::Completion {
                job_id,
                text,
                tokens_in,
                tokens_out,
                finish_reason,
                metrics,
            } => Some((
                at,
                *job_id,
                text,
                *tokens_in,
                *tokens_out,
                *finish_reason,
                metrics,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(done.iter().map(|d| d.1).collect::<Vec<_>>(), [1, 2, 3]);
    for (_, job_id, text, tokens_in, tokens_out, finish, metrics) in &done {
        assert_eq!(*finish, FinishReason::Stop, "job {job_id}: {text}");
        let v: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("job {job_id}: not JSON ({e}): {text}"));
        for field in ["overview", "decisions", "action_items", "open_questions"] {
            assert!(v.get(field).is_some(), "job {job_id}: no {field}: {text}");
        }
        assert!(
            v["overview"].is_string() && v["decisions"].is_array(),
            "{text}"
        );
        for a in v["action_items"].as_array().unwrap() {
            for field in ["task", "owner", "due"] {
                assert!(a[field].is_string(), "job {job_id}: action item {a}");
            }
        }
        assert!(
            *tokens_in > 20 && *tokens_out > 5,
            "{tokens_in} {tokens_out}"
        );
        assert!(metrics.prompt_tokens_per_s > 0.0 && metrics.gen_tokens_per_s > 0.0);
        assert!(metrics.wall_s >= metrics.prompt_s + metrics.gen_s - 1e-3);
    }
    // The long transcript's prompt is much longer than the one-liner's.
    assert!(done[0].3 > 5 * done[2].3, "{} vs {}", done[0].3, done[2].3);
    // Item 3 is only sent once item 2 was answered, so item 2 reached us at least item 3's
    // completion time before the batch ended: results stream, they are not collected.
    let second_at = *done[1].0;
    let third_cost = Duration::from_secs_f64(done[2].6.wall_s);
    assert!(
        second_at + third_cost <= batch_end,
        "{second_at:?} + {third_cost:?} > {batch_end:?}"
    );
}

#[test]
fn a_prompt_longer_than_the_context_fails_alone_and_names_the_sizes() {
    let long = transcript("meeting_03.transcript.txt");
    let mut small = load(&smollm2());
    small.n_ctx = 512;
    let short = |id| CompleteItem {
        max_tokens: 8,
        ..CompleteItem::chat(id, vec![ChatMessage::new("user", "Say hello.")])
    };
    let items = [
        short(1),
        CompleteItem::chat(2, vec![ChatMessage::new("user", long)]),
        short(3),
    ];
    let mut outcomes = Vec::new();
    let report = run_llama_batch(&worker(), &small, &items, &opts(), &mut |ev| {
        match ev {
            LlamaResponse::Completion { job_id, .. } => outcomes.push((job_id, Ok(()))),
            LlamaResponse::JobError { job_id, message } => outcomes.push((job_id, Err(message))),
            LlamaResponse::Ready { .. } | LlamaResponse::Fatal { .. } => {}
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(report.exit.success(), "{report:?}");
    assert!(report.unanswered.is_empty());
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(outcomes[0], (1, Ok(())));
    assert_eq!(outcomes[2], (3, Ok(())));
    let (id, Err(msg)) = &outcomes[1] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(*id, 2);
    // "prompt is N tokens but the context holds 512 (n_ctx) ..."
    let n: u32 = msg
        .strip_prefix("prompt is ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{msg}"));
    assert!(n > 512, "{msg}");
    assert!(msg.contains("context holds 512"), "{msg}");
}

#[test]
fn a_missing_model_is_a_fatal_answer_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let items = [CompleteItem::chat(1, vec![ChatMessage::new("user", "hi")])];
    let mut events = 0;
    let report = run_llama_batch(
        &worker(),
        &load(&missing.to_string_lossy()),
        &items,
        &opts(),
        &mut |_| {
            events += 1;
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(events, 0);
    assert_eq!(report.unanswered, [1]);
    assert_eq!(report.exit, WorkerExit::Exited(1));
    let fatal = report.fatal.clone().expect("fatal message");
    assert!(fatal.contains(&*missing.to_string_lossy()), "{fatal}");
    assert!(fatal.contains("not found"), "{fatal}");
    assert_eq!(report.failure_message(), Some(fatal));
}

#[test]
fn a_corrupt_model_is_a_fatal_answer_too() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.gguf");
    std::fs::write(&bad, b"GGUF but not really a model").unwrap();
    let items = [CompleteItem::chat(1, vec![ChatMessage::new("user", "hi")])];
    let report = run_llama_batch(
        &worker(),
        &load(&bad.to_string_lossy()),
        &items,
        &opts(),
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    assert_eq!(report.unanswered, [1]);
    let fatal = report.fatal.expect("fatal message");
    assert!(
        fatal.contains("cannot load GGUF model") && fatal.contains(&*bad.to_string_lossy()),
        "{fatal}"
    );
}

#[test]
fn an_aborting_worker_fails_only_the_unanswered_items() {
    let item = |id| CompleteItem {
        max_tokens: 4,
        ..CompleteItem::chat(id, vec![ChatMessage::new("user", "Say hello.")])
    };
    let mut o = opts();
    o.env = vec![("NIGHTSHIFT_WORKER_FAIL".into(), "abort_after:1".into())];
    let mut done = Vec::new();
    let report = run_llama_batch(
        &worker(),
        &load(&smollm2()),
        &[item(10), item(11), item(12)],
        &o,
        &mut |ev| {
            if let LlamaResponse::Completion { job_id, .. } = ev {
                done.push(job_id);
            }
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(done, [10]);
    assert_eq!(report.unanswered, [11, 12]);
    assert_eq!(report.exit, WorkerExit::Signaled(libc_sigabrt()));
    let msg = report.failure_message().expect("a crash is a failure");
    assert!(msg.contains("worker killed by signal 6 (SIGABRT)"), "{msg}");
    assert!(msg.contains("NIGHTSHIFT_WORKER_FAIL"), "{msg}");
}

#[test]
fn a_raw_gbnf_grammar_constrains_the_output() {
    let item = CompleteItem {
        grammar: Some(r#"root ::= ("yes" | "no") "." "#.into()),
        max_tokens: 16,
        ..CompleteItem::chat(1, vec![ChatMessage::new("user", "Is the sky blue?")])
    };
    let bad = CompleteItem {
        grammar: Some("root ::= (".into()),
        ..CompleteItem::chat(2, vec![ChatMessage::new("user", "Is the sky blue?")])
    };
    let mut texts = Vec::new();
    let report = run_llama_batch(
        &worker(),
        &load(&smollm2()),
        &[item, bad],
        &opts(),
        &mut |ev| {
            match ev {
                LlamaResponse::Completion {
                    text,
                    finish_reason,
                    ..
                } => texts.push(Ok((text, finish_reason))),
                LlamaResponse::JobError { message, .. } => texts.push(Err(message)),
                LlamaResponse::Ready { .. } | LlamaResponse::Fatal { .. } => {}
            }
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert!(report.exit.success(), "{report:?}");
    let Ok((text, finish)) = &texts[0] else {
        panic!("{texts:?}")
    };
    assert!(text == "yes." || text == "no.", "{text:?}");
    assert_eq!(*finish, FinishReason::Stop);
    let Err(msg) = &texts[1] else {
        panic!("{texts:?}")
    };
    assert!(msg.contains("grammar"), "{msg}");
}

fn libc_sigabrt() -> i32 {
    6
}
