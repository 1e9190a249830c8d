//! The supervisor driving the real whisper worker with the real tiny.en model.

mod common;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use common::*;
use nightshift_supervisor::{BatchOptions, WorkerExit, run_whisper_batch};
use nightshift_worker_protocol::Response;

fn opts() -> BatchOptions {
    BatchOptions {
        // Tests run in parallel on small machines: one engine thread each avoids ggml's
        // spinning threads fighting over the same cores.
        threads: 1,
        timeout: Duration::from_secs(300),
        ..BatchOptions::default()
    }
}

#[test]
fn transcribes_jfk_and_streams_each_result_before_the_batch_ends() {
    let dir = tempfile::tempdir().unwrap();
    let jfk = chunk_from_wav("real_speech/jfk_inaugural_1961.wav", dir.path());
    let items = [item(1, &jfk), item(2, &jfk)];
    let mut events = Vec::new();
    let t0 = Instant::now();
    let report = run_whisper_batch(&worker(), &load(&tiny_en()), &items, &opts(), &mut |ev| {
        events.push((t0.elapsed(), ev));
        ControlFlow::Continue(())
    })
    .unwrap();
    let batch_end = t0.elapsed();

    assert!(report.exit.success(), "{report:?}");
    assert!(report.unanswered.is_empty());
    assert!(report.failure_message().is_none());
    assert!(report.load_s.is_some_and(|l| l > 0.0));
    assert_eq!(report.device.as_deref(), Some("cpu"));
    assert!(
        report.peak_rss_bytes > 50 << 20,
        "peak RSS {}",
        report.peak_rss_bytes
    );

    assert!(matches!(events[0].1, Response::Ready { .. }), "{events:?}");
    let done: Vec<_> = events
        .iter()
        .filter_map(|(at, ev)| match ev {
            Response::Result {
                job_id,
                segments,
                metrics,
                language,
            } => Some((
                *at,
                *job_id,
                segments.clone(),
                metrics.clone(),
                language.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(done.iter().map(|d| d.1).collect::<Vec<_>>(), [1, 2]);
    for (_, _, segments, metrics, language) in &done {
        let text: String = segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let text = normalise(&text);
        assert!(
            text.contains("ask not what your country can do for you"),
            "{text}"
        );
        assert!(
            text.contains("ask what you can do for your country"),
            "{text}"
        );
        assert_eq!(language.as_deref(), Some("en"));
        assert!((metrics.audio_s - 11.0).abs() < 0.01, "{metrics:?}");
        assert!(segments.windows(2).all(|w| w[0].start <= w[1].start));
        assert!(
            segments
                .iter()
                .all(|s| s.start >= 0.0 && s.end <= 11.01 && s.end >= s.start)
        );
    }
    // Item 2 only starts once item 1's answer was delivered, so item 1 reached us at least
    // item 2's transcription time before the batch ended: results stream, they are not
    // collected at the end.
    let first_at = done[0].0;
    let second_cost = Duration::from_secs_f64(done[1].3.wall_s);
    assert!(
        first_at + second_cost <= batch_end,
        "{first_at:?} + {second_cost:?} > {batch_end:?}"
    );
}

#[test]
fn an_aborting_worker_fails_only_the_unanswered_items() {
    let dir = tempfile::tempdir().unwrap();
    let jfk = chunk_from_wav("real_speech/jfk_inaugural_1961.wav", dir.path());
    let items = [item(10, &jfk), item(11, &jfk), item(12, &jfk)];
    let mut o = opts();
    o.env = vec![("NIGHTSHIFT_WORKER_FAIL".into(), "abort_after:1".into())];
    let mut done = Vec::new();
    let report = run_whisper_batch(&worker(), &load(&tiny_en()), &items, &o, &mut |ev| {
        if let Response::Result { job_id, .. } = ev {
            done.push(job_id);
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(done, [10]);
    assert_eq!(report.unanswered, [11, 12]);
    assert_eq!(report.exit, WorkerExit::Signaled(libc_sigabrt()));
    let msg = report.failure_message().expect("a crash is a failure");
    assert!(msg.contains("worker killed by signal 6 (SIGABRT)"), "{msg}");
    // The worker's own last words are kept for the job's error text.
    assert!(msg.contains("NIGHTSHIFT_WORKER_FAIL"), "{msg}");
}

#[test]
fn a_missing_model_is_a_fatal_answer_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let jfk = chunk_from_wav("real_speech/jfk_inaugural_1961.wav", dir.path());
    let missing = dir.path().join("models/ggml-tiny.en.bin");
    let mut events = 0;
    let report = run_whisper_batch(
        &worker(),
        &load(&missing.to_string_lossy()),
        &[item(1, &jfk), item(2, &jfk)],
        &opts(),
        &mut |_| {
            events += 1;
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(events, 0);
    assert_eq!(report.unanswered, [1, 2]);
    assert_eq!(report.exit, WorkerExit::Exited(1));
    let fatal = report.fatal.clone().expect("fatal message");
    assert!(fatal.contains(&*missing.to_string_lossy()), "{fatal}");
    assert!(fatal.contains("not found"), "{fatal}");
    assert!(fatal.contains("nightshift models pull tiny.en"), "{fatal}");
    assert_eq!(report.failure_message(), Some(fatal));
}

#[test]
fn a_corrupt_model_is_a_fatal_answer_too() {
    let dir = tempfile::tempdir().unwrap();
    let jfk = chunk_from_wav("real_speech/jfk_inaugural_1961.wav", dir.path());
    let bad = dir.path().join("ggml-tiny.en.bin");
    std::fs::write(&bad, b"this is not a ggml model at all").unwrap();
    let report = run_whisper_batch(
        &worker(),
        &load(&bad.to_string_lossy()),
        &[item(1, &jfk)],
        &opts(),
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    assert_eq!(report.unanswered, [1]);
    let fatal = report.fatal.expect("fatal message");
    assert!(
        fatal.contains("cannot load whisper model") && fatal.contains(&*bad.to_string_lossy()),
        "{fatal}"
    );
}

#[test]
fn the_batch_timeout_kills_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let jfk = chunk_from_wav("real_speech/jfk_inaugural_1961.wav", dir.path());
    let items: Vec<_> = (0..30).map(|i| item(i, &jfk)).collect();
    let mut o = opts();
    o.timeout = Duration::from_secs(2);
    let t0 = Instant::now();
    let report = run_whisper_batch(&worker(), &load(&tiny_en()), &items, &o, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(report.timed_out);
    assert_eq!(report.exit, WorkerExit::Signaled(9));
    assert!(!report.unanswered.is_empty());
    // Killed at the limit, not after transcribing 30 items.
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    let msg = report.failure_message().unwrap();
    assert!(
        msg.contains("timed out") && msg.contains("SIGKILL"),
        "{msg}"
    );
}

#[test]
fn break_stops_after_the_item_in_flight_and_the_worker_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let jfk = chunk_from_wav("real_speech/jfk_inaugural_1961.wav", dir.path());
    let items = [item(1, &jfk), item(2, &jfk), item(3, &jfk)];
    let mut done = Vec::new();
    let report = run_whisper_batch(&worker(), &load(&tiny_en()), &items, &opts(), &mut |ev| {
        if let Response::Result { job_id, .. } = ev {
            done.push(job_id);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(done, [1]);
    assert!(report.stopped);
    assert_eq!(report.unanswered, [2, 3]);
    assert!(report.exit.success(), "{:?}", report.exit);
    assert_eq!(
        report.failure_message(),
        None,
        "a requested stop is not a failure"
    );
}

fn libc_sigabrt() -> i32 {
    6
}
