//! `nightshift record` with file and stdin sources: chunks queued while recording goes on,
//! chunks that concatenate to the input sample for sample (after the same 16 kHz resampling,
//! then 16-bit quantization: the tolerance is exactly zero), `kill -9` recovery, disk full.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, corpus, stderr};
use nightshift_media::chunk_io::to_i16;
use serde_json::Value;

fn spawn_record(env: &Env, args: &[&str], stdin: Stdio) -> (Child, String) {
    let mut child = env
        .cmd()
        .arg("record")
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start record");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let id = line.trim().to_string();
    assert_eq!(id.len(), 12, "record prints the meeting id first: {line:?}");
    (child, id)
}

fn meeting(env: &Env, id: &str) -> Value {
    env.json(&["status", id, "--json"])["meetings"][0].clone()
}

fn audio_jobs(m: &Value) -> Vec<Value> {
    let mut jobs: Vec<Value> = m["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| common::is_chunk_job(j))
        .cloned()
        .collect();
    jobs.sort_by_key(|j| j["seq"].as_i64());
    jobs
}

/// ffmpeg's 16 kHz mono f32 of `input_args`, quantized like stored chunks.
fn reference(input_args: &[&str], stdin: Option<&[u8]>) -> Vec<i32> {
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error"])
        .args(input_args)
        .args(["-vn", "-f", "f32le", "-ac", "1", "-ar", "16000", "pipe:1"])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        let mut i = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || i.write_all(&bytes));
    }
    let out = child.wait_with_output().unwrap();
    out.stdout
        .chunks_exact(4)
        .map(|b| to_i16(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect()
}

/// The stored chunks of a meeting, in order, concatenated; checks they are contiguous.
fn concatenated(jobs: &[Value]) -> Vec<i32> {
    let mut out = Vec::new();
    let mut expected_offset = 0;
    for j in jobs {
        assert_eq!(
            j["offset_s"].as_f64().unwrap(),
            expected_offset as f64 / 16000.0,
            "{j}"
        );
        let path = j["chunk_path"].as_str().map(str::to_string);
        let samples = nightshift_media::read_chunk(Path::new(&path.expect("chunk path"))).unwrap();
        expected_offset += samples.len() as u64;
        out.extend(samples.iter().map(|&x| to_i16(x)));
    }
    out
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_file_source_queues_chunks_while_recording_and_they_concatenate_to_the_input() {
    let env = Env::new();
    let input = corpus("meetings/meeting_02.wav");
    let (mut child, id) = spawn_record(
        &env,
        &[
            "--source",
            input.to_str().unwrap(),
            "--chunk",
            "15s",
            "--speed",
            "10",
        ],
        Stdio::null(),
    );
    // A chunk is queued while the recorder is still capturing.
    wait_for("a first chunk job", Duration::from_secs(30), || {
        !audio_jobs(&meeting(&env, &id)).is_empty()
    });
    assert!(child.try_wait().unwrap().is_none(), "still recording");
    assert_eq!(meeting(&env, &id)["state"], "recording");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let m = meeting(&env, &id);
    assert_ne!(m["state"], "recording", "{m}");
    let jobs = audio_jobs(&m);
    assert!(jobs.len() >= 5, "{} chunks", jobs.len());
    let got = concatenated(&jobs);
    let want = reference(&["-i", input.to_str().unwrap()], None);
    assert_eq!(got.len(), want.len(), "same length");
    assert!(got == want, "sample-exact");
    // Chunks end in pauses: whisper sees no cut words (checked by the transcript existing).
    let out = env.run(&["run", "--until-idle", "--only", "audio"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = env.json(&["show", &id, "--format", "json"]);
    assert!(doc["segments"].as_array().unwrap().len() > 5, "{doc}");
}

#[test]
fn raw_pcm_on_stdin_is_resampled_and_stored_whole() {
    let env = Env::new();
    let input = corpus("meetings/meeting_02.wav");
    let raw = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(&input)
        .args(["-f", "s16le", "-ar", "48000", "-ac", "1", "pipe:1"])
        .output()
        .unwrap()
        .stdout;
    let (mut child, id) = spawn_record(
        &env,
        &[
            "--source",
            "-",
            "--format",
            "s16le:48000:1",
            "--chunk",
            "30s",
        ],
        Stdio::piped(),
    );
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&raw).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let jobs = audio_jobs(&meeting(&env, &id));
    assert!(jobs.len() >= 3, "{jobs:?}");
    let got = concatenated(&jobs);
    let want = reference(
        &["-f", "s16le", "-ar", "48000", "-ac", "1", "-i", "pipe:0"],
        Some(&raw),
    );
    assert_eq!(got.len(), want.len());
    assert!(got == want, "sample-exact");
}

#[test]
fn kill_9_keeps_closed_chunks_and_run_recovers_the_open_one() {
    let env = Env::new();
    let input = corpus("meetings/meeting_01.wav");
    let (mut child, id) = spawn_record(
        &env,
        &[
            "--source",
            input.to_str().unwrap(),
            "--chunk",
            "10s",
            "--speed",
            "4",
        ],
        Stdio::null(),
    );
    wait_for("two chunks", Duration::from_secs(60), || {
        audio_jobs(&meeting(&env, &id)).len() >= 2
    });
    std::thread::sleep(Duration::from_millis(1500)); // the open chunk has been flushed
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let closed = audio_jobs(&meeting(&env, &id));
    let parts: Vec<_> = std::fs::read_dir(env.home().join("media/recording").join(&id))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    let heard = nightshift_capture::read_part(&parts[0]).unwrap();
    assert!(
        !heard.is_empty(),
        "the open chunk is readable up to its last flush"
    );
    for j in &closed {
        nightshift_media::read_chunk(Path::new(j["chunk_path"].as_str().unwrap()))
            .expect("closed chunks are intact");
    }
    let out = env.run(&["run", "--until-idle", "--only", "audio"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let m = meeting(&env, &id);
    let jobs = audio_jobs(&m);
    assert_eq!(
        jobs.len(),
        closed.len() + 1,
        "the open chunk was queued: {m}"
    );
    assert!(jobs.iter().all(|j| j["status"] == "COMPLETED"), "{m}");
    let last = jobs.last().unwrap();
    assert!((last["duration_s"].as_f64().unwrap() - heard.len() as f64 / 16000.0).abs() < 1e-6);
    concatenated(&jobs); // contiguous
    assert!(m["state"] == "done", "{m}");
}

/// A recorder killed while `run` is already working: the running Foreman finishes the
/// recording itself (found by the fault harness: it used to wait for the next `run`, leaving
/// the meeting recording — no diarization, no summary — and its open chunk in a part file).
#[test]
fn a_running_foreman_recovers_a_recording_whose_recorder_was_killed() {
    let env = Env::new();
    let input = corpus("meetings/meeting_01.wav");
    let (mut child, id) = spawn_record(
        &env,
        &[
            "--source",
            input.to_str().unwrap(),
            "--chunk",
            "10s",
            "--speed",
            "4",
        ],
        Stdio::null(),
    );
    wait_for("a first chunk", Duration::from_secs(60), || {
        !audio_jobs(&meeting(&env, &id)).is_empty()
    });
    let run = env
        .cmd()
        .args(["run", "--only", "audio", "--threads", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    wait_for(
        "the running run to finish the recording",
        Duration::from_secs(180),
        || {
            let m = meeting(&env, &id);
            m["state"] != "recording"
                && m["jobs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|j| j["status"] == "COMPLETED")
        },
    );
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let parts = env.home().join("media/recording").join(&id);
    assert!(
        !parts.exists(),
        "the open chunk's part file was turned into a chunk"
    );
    let m = meeting(&env, &id);
    let diarize = m["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["model_key"] == "diarize")
        .count();
    assert_eq!(diarize, 1, "{m}");
    concatenated(&audio_jobs(&m)); // contiguous, readable
}

/// A tmpfs mounted over the home's media directory, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "this test mounts a small tmpfs (needs root, as CI runs)"
        );
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_earlier_chunks_stay_queued_and_intact() {
    let env = Env::new();
    let _ = env.run(&["status"]); // creates the home and database on the normal disk
    let _disk = SmallDisk::mount(&env.home().join("media"), "1500k");
    let input = corpus("meetings/meeting_01.wav");
    let (child, id) = spawn_record(
        &env,
        &[
            "--source",
            input.to_str().unwrap(),
            "--chunk",
            "3s",
            "--speed",
            "20",
        ],
        Stdio::null(),
    );
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "a full disk is an error");
    let err = stderr(&out);
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
    assert!(line.contains("No space left"), "{err}");
    let jobs = audio_jobs(&meeting(&env, &id));
    assert!(
        !jobs.is_empty(),
        "chunks closed before the disk filled are queued: {err}"
    );
    for j in &jobs {
        nightshift_media::read_chunk(Path::new(j["chunk_path"].as_str().unwrap()))
            .expect("no corrupt chunk");
    }
}

#[test]
fn system_audio_is_mixed_in_sample_for_sample() {
    let env = Env::new();
    let mic = corpus("tts/tts_05_en-gb-scotland_m2_s190.wav");
    let system = corpus("tts/tts_02_en-gb_s175.wav");
    let (child, id) = spawn_record(
        &env,
        &[
            "--source",
            mic.to_str().unwrap(),
            "--system-audio",
            "--system-source",
            system.to_str().unwrap(),
            "--chunk",
            "3s",
            "--speed",
            "10",
        ],
        Stdio::null(),
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let got = concatenated(&audio_jobs(&meeting(&env, &id)));
    let a = reference_f32(&mic);
    let b = reference_f32(&system);
    let want: Vec<i32> = (0..a.len().max(b.len()))
        .map(|i| {
            let s = a.get(i).copied().unwrap_or(0.0) + b.get(i).copied().unwrap_or(0.0);
            to_i16(s.clamp(-1.0, 1.0))
        })
        .collect();
    assert_eq!(got.len(), want.len(), "as long as the longer source");
    assert!(got == want, "the sum of both sources");
}

fn reference_f32(file: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(file)
        .args(["-vn", "-f", "f32le", "-ac", "1", "-ar", "16000", "pipe:1"])
        .output()
        .unwrap();
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn ctrl_c_closes_the_open_chunk_and_ends_the_meeting() {
    let env = Env::new();
    let input = corpus("meetings/meeting_01.wav");
    let (child, id) = spawn_record(
        &env,
        &[
            "--source",
            input.to_str().unwrap(),
            "--chunk",
            "10s",
            "--speed",
            "4",
        ],
        Stdio::null(),
    );
    wait_for("a first chunk", Duration::from_secs(60), || {
        !audio_jobs(&meeting(&env, &id)).is_empty()
    });
    std::thread::sleep(Duration::from_millis(700));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let m = meeting(&env, &id);
    assert_ne!(m["state"], "recording", "{m}");
    let jobs = audio_jobs(&m);
    assert!(jobs.len() >= 2, "the open chunk was closed and queued: {m}");
    concatenated(&jobs); // contiguous, readable
    let parts = env.home().join("media/recording").join(&id);
    assert!(
        !parts.exists() || std::fs::read_dir(&parts).unwrap().next().is_none(),
        "no part left"
    );
}
