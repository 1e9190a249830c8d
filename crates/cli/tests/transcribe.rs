//! `add` → `run` → `show` with the real ASR workers (the default CTranslate2 one, and whisper.cpp
//! where the CTranslate2 model is not installed) and tiny.en, on short corpus files.

mod common;

use std::time::{Duration, Instant};

use common::{Env, corpus, job_statuses, stderr};
use nightshift_eval::{normalize, pooled_wer, wer_counts};

fn transcript_text(doc: &serde_json::Value) -> String {
    doc["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().trim().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn speech_is_transcribed_and_silence_stays_empty() {
    let env = Env::new();
    let jfk = env.add(&corpus("real_speech/jfk_inaugural_1961.wav"));
    let mp3 = env.add(&corpus("tts/formats/fmt_mp3_44k_stereo.mp3"));
    let silence = env.add(&corpus("bad_inputs/digital_silence_6s.wav"));
    let tiny = env.add(&corpus("bad_inputs/tiny_0.1s.wav"));
    env.run_audio_until_idle();

    let doc = env.json(&["show", &jfk, "--format", "json"]);
    assert_eq!(doc["language"], "en");
    let hyp = normalize(&transcript_text(&doc));
    let reference = normalize(
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    );
    let wer = pooled_wer(&[wer_counts(&reference, &hyp)]);
    assert!(wer <= 0.05, "jfk WER {wer}: {hyp:?}");
    let segs = doc["segments"].as_array().unwrap();
    assert!(
        segs.windows(2)
            .all(|w| w[0]["start"].as_f64() <= w[1]["start"].as_f64())
    );
    assert!(segs.iter().all(|s| s["end"].as_f64().unwrap() <= 11.1));

    let doc = env.json(&["show", &mp3, "--format", "json"]);
    assert!(
        transcript_text(&doc).split_whitespace().count() >= 5,
        "mp3: {doc}"
    );

    for (id, what, max_words) in [(&silence, "digital silence", 0), (&tiny, "0.1 s clip", 1)] {
        let doc = env.json(&["show", id, "--format", "json"]);
        let words = transcript_text(&doc).split_whitespace().count();
        assert!(words <= max_words, "{what} produced text: {doc}");
    }
}

#[test]
fn every_export_format_is_produced_from_a_real_run() {
    let env = Env::new();
    let id = env.add(&corpus("tts/tts_09_en-us_f2_s120.wav"));
    env.run_audio_until_idle();
    for fmt in ["md", "txt", "srt", "vtt", "json"] {
        let out = env.run(&["show", &id, "--format", fmt]);
        assert!(out.status.success(), "{fmt}: {}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.trim().is_empty(), "{fmt} is empty");
        match fmt {
            "srt" => assert!(text.starts_with("1\n00:00:0"), "{text}"),
            "vtt" => assert!(text.starts_with("WEBVTT\n\n"), "{text}"),
            _ => {}
        }
    }
    let out = env.run(&["show", &id, "--format", "srt", "--part", "summary"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_crashing_worker_fails_its_jobs_with_the_error_and_retry_recovers() {
    let env = Env::new();
    let id = env.add(&corpus("tts/tts_08_en-gb-x-rp_f5_s165.wav"));
    let out = env
        .cmd()
        .env("NIGHTSHIFT_WORKER_FAIL", "abort_after:0")
        .args(["run", "--until-idle", "--only", "audio"])
        .output()
        .unwrap();
    // The runner itself worked: exit 0 even though jobs failed.
    assert!(out.status.success(), "{}", stderr(&out));
    let s = env.json(&["status", &id, "--json"]);
    let job = &s["meetings"][0]["jobs"][0];
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["attempts"], job["max_attempts"]);
    let err = job["last_error"].as_str().unwrap();
    assert!(err.contains("SIGABRT") || err.contains("signal 6"), "{err}");
    // The injected crash hits every worker: the chunk and the meeting's diarization job.
    let show = env.json(&["show", &id, "--format", "json"]);
    assert_eq!(show["jobs"]["failed"].as_array().unwrap().len(), 2);

    assert!(env.run(&["retry", "--failed"]).status.success());
    env.run_audio_until_idle();
    let s = env.json(&["status", &id, "--json"]);
    assert!(job_statuses(&s).iter().all(|st| st == "COMPLETED"));
}

#[test]
fn a_damaged_chunk_fails_alone_and_other_meetings_complete() {
    let env = Env::new();
    let bad = env.add(&corpus("tts/tts_01_en-us_s150.wav"));
    let good = env.add(&corpus("tts/tts_02_en-gb_s175.wav"));
    // Damage the derived chunk of the first meeting (never the input).
    let s = env.json(&["status", &bad, "--json"]);
    let job_id = s["meetings"][0]["jobs"][0]["job_id"].as_i64().unwrap();
    let chunk = {
        let conn = rusqlite::Connection::open(env.home().join("nightshift.db")).unwrap();
        conn.query_row(
            "SELECT chunk_path FROM jobs WHERE job_id = ?1",
            [job_id],
            |r| r.get::<_, String>(0),
        )
        .unwrap()
    };
    std::fs::write(&chunk, b"not flac any more").unwrap();
    env.run_audio_until_idle();
    let s = env.json(&["status", &bad, "--json"]);
    assert_eq!(job_statuses(&s), vec!["FAILED"]);
    assert!(
        !s["meetings"][0]["jobs"][0]["last_error"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let s = env.json(&["status", &good, "--json"]);
    assert_eq!(job_statuses(&s), vec!["COMPLETED"]);
}

#[test]
fn kill_9_mid_meeting_resumes_without_redoing_finished_chunks() {
    let env = Env::new();
    let input = corpus("meetings/meeting_03.mp3");
    let out = env
        .cmd()
        .args(["add", "--min-chunk", "20", "--max-chunk", "40"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let total = job_statuses(&env.json(&["status", &id, "--json"])).len();
    assert!(total >= 4, "want several chunks, got {total}");

    let mut runner = env
        .cmd()
        .args(["run", "--until-idle", "--only", "audio", "--batch", "2"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let done_before = loop {
        let s = env.json(&["status", &id, "--json"]);
        let done: Vec<serde_json::Value> = s["meetings"][0]["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["status"] == "COMPLETED")
            .cloned()
            .collect();
        if !done.is_empty() {
            break done;
        }
        if let Some(status) = runner.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(runner.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("run ended ({status}) before any chunk finished: {err}");
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "no chunk finished");
        std::thread::sleep(Duration::from_millis(100));
    };
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(runner.id() as i32, libc::SIGKILL) };
    runner.wait().unwrap();
    assert!(
        done_before.len() < total,
        "the run finished before it could be killed"
    );

    env.run_audio_until_idle();
    let s = env.json(&["status", &id, "--json"]);
    let jobs = s["meetings"][0]["jobs"].as_array().unwrap();
    assert!(jobs.iter().all(|j| j["status"] == "COMPLETED"), "{s}");
    for before in &done_before {
        let after = jobs
            .iter()
            .find(|j| j["job_id"] == before["job_id"])
            .unwrap();
        assert_eq!(
            after["attempts"], 1,
            "a finished chunk was transcribed again"
        );
        assert_eq!(
            after["metrics"], before["metrics"],
            "a finished chunk's result changed"
        );
    }
    let redone = jobs
        .iter()
        .filter(|j| j["attempts"].as_i64() > Some(1))
        .count();
    eprintln!(
        "{} chunks done before the kill, {redone} retried after it, {total} in all",
        done_before.len()
    );
    assert!(
        redone <= 2,
        "only the batch in flight may be redone, {redone} were"
    );
    let doc = env.json(&["show", &id, "--format", "json"]);
    assert!(transcript_text(&doc).split_whitespace().count() > 100);
}

#[test]
fn finished_chunks_are_pruned_after_the_retention_period_and_results_stay() {
    let env = Env::new();
    let id = env.add(&corpus("tts/tts_04_en_m7_s140.wav"));
    let chunks_dir = env.home().join("media/chunks");
    let count = || std::fs::read_dir(&chunks_dir).unwrap().count();
    assert!(count() > 0);
    // A broken config stops the runner with one clear line before any work.
    std::fs::write(
        env.home().join("config.toml"),
        "[storage]\nchunk_retention_days = \"soon\"\n",
    )
    .unwrap();
    let out = env.run(&["run", "--until-idle", "--only", "audio"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("config.toml"), "{}", stderr(&out));
    // Keep forever: nothing is deleted.
    std::fs::write(
        env.home().join("config.toml"),
        "[storage]\nchunk_retention_days = 0\n",
    )
    .unwrap();
    env.run_audio_until_idle();
    assert!(count() > 0);
    // A retention shorter than the time since the jobs finished deletes the chunk audio only.
    std::fs::write(
        env.home().join("config.toml"),
        "[storage]\nchunk_retention_days = 0.000001\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    env.run_audio_until_idle();
    assert_eq!(count(), 0, "expired chunks kept");
    let doc = env.json(&["show", &id, "--format", "json"]);
    assert!(
        transcript_text(&doc).split_whitespace().count() >= 5,
        "{doc}"
    );
}

#[test]
fn sigterm_stops_after_the_chunk_in_flight_and_leaves_the_queue_consistent() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["add", "--min-chunk", "20", "--max-chunk", "40"])
        .arg(corpus("meetings/meeting_02.wav"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut runner = env
        .cmd()
        .args(["run", "--until-idle", "--only", "audio"])
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let s = env.json(&["status", &id, "--json"]);
        if job_statuses(&s).iter().any(|st| st == "COMPLETED") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "no chunk finished");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(runner.id() as i32, libc::SIGTERM) };
    let t_stop = Instant::now();
    let status = runner.wait().unwrap();
    assert!(
        status.success(),
        "a stop on request is not a failure: {status}"
    );
    assert!(
        t_stop.elapsed() < Duration::from_secs(60),
        "stop took {:?}",
        t_stop.elapsed()
    );
    let s = env.json(&["status", &id, "--json"]);
    let jobs = s["meetings"][0]["jobs"].as_array().unwrap();
    assert!(
        jobs.iter().all(|j| j["status"] != "PROCESSING"),
        "a lease was left behind: {s}"
    );
    let pending: Vec<_> = jobs.iter().filter(|j| j["status"] == "PENDING").collect();
    assert!(
        !pending.is_empty(),
        "everything finished before the signal: {s}"
    );
    // Unstarted chunks were given back without spending an attempt.
    assert!(pending.iter().all(|j| j["attempts"] == 0), "{s}");
    env.run_audio_until_idle();
    let s = env.json(&["status", &id, "--json"]);
    assert!(job_statuses(&s).iter().all(|st| st == "COMPLETED"));
}

/// A machine with only the shared models directory (no `~/.cache/nightshift-models`, so no
/// `ct2-tiny.en`): the default profile transcribes the same tiny.en weights on whisper.cpp and
/// says so; `doctor` reports the model it will use.
#[test]
fn without_the_ct2_model_the_default_profile_runs_tiny_en_on_whisper_cpp() {
    let env = Env::new();
    let bare_home = tempfile::TempDir::new().unwrap();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(
        env.home().join("config.toml"),
        "[speakers]\nenabled = false\n[profiles.dev.events]\nenabled = false\n",
    )
    .unwrap();
    let id = env.add(&corpus("real_speech/jfk_inaugural_1961.wav"));
    let out = env
        .cmd()
        .env("HOME", bare_home.path())
        .env("NIGHTSHIFT_LOG", "info")
        .args(["run", "--until-idle", "--only", "audio"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("ct2-tiny.en is not installed")
            && err.contains("transcribing with tiny.en on whisper.cpp"),
        "{err}"
    );
    let doc = env.json(&["show", &id, "--format", "json"]);
    let hyp = normalize(&transcript_text(&doc)).join(" ");
    assert!(hyp.contains("ask not what your country"), "{hyp}");

    let out = env
        .cmd()
        .env("HOME", bare_home.path())
        .args(["doctor"])
        .output()
        .unwrap();
    let report = format!("{}{}", common::stdout(&out), stderr(&out));
    assert!(report.contains("ggml-tiny.en.bin"), "{report}");
}
