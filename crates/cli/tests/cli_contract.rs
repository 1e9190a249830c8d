//! The command-line contract (DESIGN.md §2): stdout carries only data, errors are one line
//! naming the file and the cause, exit codes 0/1/2, and nothing stored is lost or changed.

mod common;

use common::{Env, corpus, sha256, stderr, stdout};

/// One `error: …` line on stderr, nothing on stdout, exit 1, no panic.
fn assert_clean_failure(out: &std::process::Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "panic trace: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(
        lines[0].contains(needle),
        "{err:?} should mention {needle:?}"
    );
    assert!(
        stdout(out).is_empty(),
        "stdout must stay empty: {}",
        stdout(out)
    );
}

#[test]
fn add_prints_one_id_per_line_and_same_content_gets_the_same_id() {
    let env = Env::new();
    let a = corpus("real_speech/jfk_inaugural_1961.wav");
    let b = corpus("tts/tts_01_en-us_s150.wav");
    let out = env.cmd().arg("add").arg(&a).arg(&b).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ids: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(ids.len(), 2);
    assert!(
        ids.iter()
            .all(|id| id.len() >= 8 && id.chars().all(|c| c.is_ascii_hexdigit()))
    );
    let again = env.cmd().arg("add").arg(&a).output().unwrap();
    assert!(again.status.success());
    assert_eq!(stdout(&again).trim(), ids[0]);
    assert!(stderr(&again).contains("already added"));
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["meetings"].as_array().unwrap().len(), 2);
}

#[test]
fn status_json_has_the_meeting_and_its_jobs() {
    let env = Env::new();
    let id = env.add(&corpus("meetings/meeting_02.wav"));
    let s = env.json(&["status", &id, "--json"]);
    let m = &s["meetings"][0];
    assert_eq!(m["meeting_id"], id.as_str());
    assert!((m["duration_s"].as_f64().unwrap() - 190.7).abs() < 0.2);
    let all = m["jobs"].as_array().unwrap();
    let jobs: Vec<&serde_json::Value> = all.iter().filter(|j| common::is_chunk_job(j)).collect();
    assert!(!jobs.is_empty());
    assert_eq!(jobs.len() as i64, m["chunks"].as_i64().unwrap());
    // One diarization job and one audio-events job besides the chunks.
    assert_eq!(all.len(), jobs.len() + 2);
    for step in ["diarize", "events"] {
        assert!(
            all.iter()
                .any(|j| j["step"] == step && j["status"] == "PENDING"),
            "{step}"
        );
    }
    for j in jobs {
        assert_eq!(j["task_type"], "AUDIO");
        assert_eq!(j["status"], "PENDING");
        assert!(j["offset_s"].as_f64().is_some());
    }
    let ratio = m["speech_ratio"].as_f64().unwrap();
    assert!(ratio > 0.3 && ratio < 1.0, "speech ratio {ratio}");
}

#[test]
fn bad_inputs_are_refused_with_one_line_and_no_meeting() {
    let env = Env::new();
    let keep = env.add(&corpus("tts/tts_02_en-gb_s175.wav"));
    for rel in [
        "bad_inputs/empty.wav",
        "bad_inputs/truncated_data.wav",
        "bad_inputs/huge_data_chunk_size.wav",
        "bad_inputs/not_audio_text.wav",
        "bad_inputs/truncated_moov.mp4",
    ] {
        let path = corpus(rel);
        let before = sha256(&path);
        let out = env.cmd().arg("add").arg(&path).output().unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_clean_failure(&out, &name);
        assert_eq!(sha256(&path), before, "{rel} was modified");
    }
    let s = env.json(&["status", "--json"]);
    let ids: Vec<&str> = s["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["meeting_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![keep.as_str()],
        "a refused file left a meeting behind"
    );
}

/// Every input the corpus manifest says must fail (`expected.outcome = "error"`; the shared
/// corpus, or another of the same format through NIGHTSHIFT_CORPUS) is refused by `add` with
/// one line naming the file, left unchanged, and leaves no meeting. Reports every failure.
#[test]
fn every_input_the_manifest_says_must_fail_is_refused() {
    let manifest = nightshift_eval::load_corpus().expect("corpus manifest");
    let env = Env::new();
    let mut failures = Vec::new();
    let mut refused = 0;
    for case in manifest
        .cases
        .iter()
        .filter(|c| c.outcome() == Some("error"))
    {
        let path = manifest.file(case);
        let before = sha256(&path);
        let out = env.cmd().arg("add").arg(&path).output().unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        let clean = out.status.code() == Some(1)
            && stdout(&out).is_empty()
            && lines.len() == 1
            && lines[0].starts_with("error: ")
            && lines[0].contains(&name);
        if !clean {
            failures.push(format!(
                "{} ({}): exit {:?}, stdout {:?}, stderr {err:?}",
                case.id,
                case.path,
                out.status.code(),
                stdout(&out).trim()
            ));
        } else {
            refused += 1;
            eprintln!("{:<32} {}", case.id, lines[0]);
        }
        if sha256(&path) != before {
            failures.push(format!("{}: the input was modified", case.id));
        }
    }
    let s = env.json(&["status", "--json"]);
    let left = s["meetings"].as_array().map_or(0, Vec::len);
    if left != 0 {
        failures.push(format!("{left} meeting(s) left behind by refused inputs"));
    }
    assert!(
        refused >= 5,
        "the manifest lists too few inputs that must fail"
    );
    assert!(
        failures.is_empty(),
        "{} of {} inputs not refused cleanly:\n{}",
        failures.len(),
        failures.len() + refused,
        failures.join("\n")
    );
}

#[test]
fn a_batch_with_one_bad_file_still_adds_the_good_ones() {
    let env = Env::new();
    let good = corpus("tts/tts_03_en_f3_s160.wav");
    let bad = corpus("bad_inputs/zero_rate_zero_channels.wav");
    let out = env.cmd().arg("add").arg(&good).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(stderr(&out).contains("zero_rate_zero_channels.wav"));
}

#[test]
fn missing_files_directories_and_unknown_meetings_are_clear_errors() {
    let env = Env::new();
    assert_clean_failure(
        &env.run(&["add", "/nonexistent/meeting.wav"]),
        "meeting.wav: no such file",
    );
    let dir = env.dir.path().to_string_lossy().into_owned();
    assert_clean_failure(&env.run(&["add", &dir]), "is a directory");
    // A named pipe is refused before it is opened (opening one waits for a writer forever).
    let fifo = env.dir.path().join("meeting.wav");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut add = env.cmd();
    add.arg("add").arg(&fifo);
    let out = common::output_within(add, std::time::Duration::from_secs(20));
    assert_clean_failure(&out, "meeting.wav: is a named pipe");
    // A picture under an audio name is refused as not a recording (not a silent 0 s video).
    let still = env.dir.path().join("standup.wav");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=64x64",
        ])
        .args(["-frames:v", "1", "-f", "image2", "-c:v", "png"])
        .arg(&still)
        .status()
        .unwrap();
    assert!(made.success());
    assert_clean_failure(
        &env.run(&["add", still.to_str().unwrap()]),
        "standup.wav: not an audio or video file (a still png picture",
    );
    env.add(&corpus("tts/tts_04_en_m7_s140.wav"));
    assert_clean_failure(&env.run(&["show", "feedface"]), "unknown meeting");
    assert_clean_failure(&env.run(&["cancel", "feedface"]), "unknown meeting");
    assert_clean_failure(
        &env.run(&["show", "feedface", "--format", "pdf"]),
        "unknown format",
    );
}

#[test]
fn read_commands_on_a_fresh_home_do_not_create_it() {
    let env = Env::new();
    assert_clean_failure(&env.run(&["status"]), "no queue database");
    assert!(!env.home().join("nightshift.db").exists());
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    assert_eq!(env.run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(env.run(&["add"]).status.code(), Some(2));
    assert_eq!(env.run(&["retry"]).status.code(), Some(2));
}

#[test]
fn a_corrupt_database_is_reported_and_left_untouched() {
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    let db = env.home().join("nightshift.db");
    let junk = b"garbage that is not sqlite at all ".repeat(200);
    std::fs::write(&db, &junk).unwrap();
    assert_clean_failure(&env.run(&["status"]), "nightshift.db");
    let out = env
        .cmd()
        .arg("add")
        .arg(corpus("tts/tts_05_en-gb-scotland_m2_s190.wav"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a nightshift database or corrupt"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&db).unwrap(), junk);
}

#[test]
fn a_locked_database_is_a_clear_error_not_a_hang() {
    let env = Env::new();
    let id = env.add(&corpus("tts/tts_06_en-029_f4_s130.wav"));
    let conn = rusqlite::Connection::open(env.home().join("nightshift.db")).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let out = env
        .cmd()
        .env("NIGHTSHIFT_BUSY_TIMEOUT_MS", "300")
        .args(["cancel", &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("locked"), "{}", stderr(&out));
    conn.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn cancel_retry_and_rm_manage_the_queue_and_never_touch_the_input() {
    let env = Env::new();
    let input = corpus("tts/tts_07_en-us-nyc_m1_s220.wav");
    let before = sha256(&input);
    let id = env.add(&input);
    assert!(env.run(&["cancel", &id]).status.success());
    let s = env.json(&["status", &id, "--json"]);
    assert!(common::job_statuses(&s).iter().all(|st| st == "CANCELLED"));
    assert!(env.run(&["retry", &id]).status.success());
    let s = env.json(&["status", &id, "--json"]);
    assert!(common::job_statuses(&s).iter().all(|st| st == "PENDING"));
    let chunks: Vec<std::path::PathBuf> = std::fs::read_dir(env.home().join("media/chunks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!chunks.is_empty());
    assert!(env.run(&["rm", &id]).status.success());
    assert!(
        chunks.iter().all(|c| !c.exists()),
        "derived chunks left behind"
    );
    assert_eq!(sha256(&input), before);
    assert!(input.exists());
    let s = env.json(&["status", "--json"]);
    assert!(s["meetings"].as_array().unwrap().is_empty());
}

#[test]
fn a_model_larger_than_the_budget_is_a_clear_error_not_a_hang() {
    let env = Env::new();
    let id = env.add(&common::corpus("tts/tts_01_en-us_s150.wav"));
    let out = env.run(&["run", "--until-idle", "--gpu-budget", "100MiB"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("model whisper needs") && err.contains("budget is 100 MiB"),
        "{err}"
    );
    // Nothing was claimed: the work waits for a run with a budget that fits.
    let s = env.json(&["status", &id, "--json"]);
    assert!(
        common::job_statuses(&s).iter().all(|st| st == "PENDING"),
        "{s}"
    );
}

#[test]
fn doctor_reports_the_workers_and_a_local_vision_model_without_its_projector() {
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(
        env.home().join("config.toml"),
        "[profiles.dev.vision]\nbackend = \"local\"\nmodel = \"SmolLM2-135M-Instruct.Q4_1.gguf\"\n",
    )
    .unwrap();
    let out = env.run(&["doctor"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for worker in [
        "whisper worker",
        "llama worker",
        "diarize worker",
        "frames worker",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("ok") && l.contains(worker)),
            "{worker}: {text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.contains("vision model") && l.starts_with("ok")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("vision projector") && l.contains("needs vision.mmproj")),
        "{text}"
    );
}
