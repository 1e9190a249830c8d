//! The session daemon: a cold request loads the model, warm ones do not (and report
//! load_s = 0), silence never touches the model, browsers are refused, `transcribe` starts and
//! reuses the daemon. Latencies are printed (`--nocapture`); the note carries the figures.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Env, corpus, stderr, stdout};
use serde_json::Value;

struct Daemon {
    child: Child,
    addr: String,
}

impl Daemon {
    fn start(env: &Env) -> Daemon {
        Daemon::start_with(env, &["--idle-timeout", "600"])
    }

    fn start_with(env: &Env, args: &[&str]) -> Daemon {
        let child = env
            .cmd()
            .arg("serve")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Owned by the guard at once: dropping it (also on panic) stops and reaps the daemon.
        let mut daemon = Daemon {
            child,
            addr: String::new(),
        };
        let info = env.home().join("run/daemon.json");
        let start = Instant::now();
        loop {
            if let Ok(t) = std::fs::read_to_string(&info)
                && let Ok(v) = serde_json::from_str::<Value>(&t)
            {
                daemon.addr = v["addr"].as_str().unwrap().to_string();
                return daemon;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn get(&self, path: &str) -> Value {
        ureq::get(&format!("http://{}{path}", self.addr))
            .call()
            .unwrap()
            .into_json()
            .unwrap()
    }

    /// POST a file; returns (verbose JSON, client-measured seconds).
    fn transcribe(&self, file: &Path) -> (Value, f64) {
        let bytes = std::fs::read(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy();
        let (status, v, secs) = self.post(&name, &bytes);
        assert_eq!(status, 200, "{v}");
        (v, secs)
    }

    /// POST raw bytes as the `file` field: (status, JSON body, seconds).
    fn post(&self, name: &str, bytes: &[u8]) -> (u16, Value, f64) {
        let boundary = "xyzBOUNDARYxyz";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\nverbose_json\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.post_raw(&format!("multipart/form-data; boundary={boundary}"), &body)
    }

    fn post_raw(&self, ctype: &str, body: &[u8]) -> (u16, Value, f64) {
        let t0 = Instant::now();
        let r = ureq::post(&format!("http://{}/v1/audio/transcriptions", self.addr))
            .set("Content-Type", ctype)
            .send_bytes(body);
        let secs = t0.elapsed().as_secs_f64();
        let (status, resp) = match r {
            Ok(r) => (r.status(), r),
            Err(ureq::Error::Status(code, r)) => (code, r),
            Err(e) => panic!("{e}"),
        };
        (status, resp.into_json().unwrap_or(Value::Null), secs)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn silence(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("silence.wav");
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=16000:cl=mono",
            "-t",
            "3",
        ])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    p
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn warm_requests_skip_the_model_load_and_silence_skips_the_model() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    assert_eq!(daemon.get("/health")["status"], "ok");
    let s = daemon.get("/status");
    assert_eq!(s["model_loaded"], false, "{s}");
    assert!(
        s["pid"].as_u64().unwrap() > 0 && s["session_timeout"] == 600,
        "{s}"
    );

    // Silence: answered by the pre-filter, the model is not loaded for it.
    let (v, _) = daemon.transcribe(&silence(env.dir.path()));
    assert_eq!(v["text"], "", "{v}");
    assert!(v["skipped"].is_string(), "{v}");
    assert_eq!(daemon.get("/status")["model_loaded"], false);

    let clips: Vec<_> = (1..=9)
        .filter_map(|i| {
            std::fs::read_dir(corpus("tts"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!("tts_0{i}_"))
                })
        })
        .chain([
            corpus("real_speech/librispeech_251-118436-0001.wav"),
            corpus("real_speech/librispeech_251-137823-0002.wav"),
        ])
        .collect();
    assert_eq!(clips.len(), 11);
    let (cold, cold_s) = daemon.transcribe(&clips[0]);
    let t = &cold["timings"];
    assert!(t["load_s"].as_f64().unwrap() > 0.0, "{cold}");
    assert!(!cold["text"].as_str().unwrap().trim().is_empty(), "{cold}");
    assert_eq!(daemon.get("/status")["model_loaded"], true);
    let mut overheads = Vec::new();
    let mut latencies = Vec::new();
    for clip in &clips[1..] {
        let (v, secs) = daemon.transcribe(clip);
        let t = &v["timings"];
        assert_eq!(t["load_s"].as_f64(), Some(0.0), "warm: {v}");
        assert!(
            !v["text"].as_str().unwrap().trim().is_empty(),
            "{clip:?}: {v}"
        );
        for k in ["queue_s", "inference_s", "total_s"] {
            assert!(t[k].is_number(), "{k}: {v}");
        }
        latencies.push(secs);
        overheads.push(secs - t["inference_s"].as_f64().unwrap());
    }
    println!(
        "cold: {cold_s:.3} s (load {:.3} s, inference {:.3} s); warm: median {:.3} s, overhead (latency − inference) median {:.1} ms, max {:.1} ms",
        t["load_s"].as_f64().unwrap(),
        t["inference_s"].as_f64().unwrap(),
        median(latencies),
        median(overheads.clone()) * 1000.0,
        overheads.iter().cloned().fold(0.0, f64::max) * 1000.0
    );

    // A web page cannot drive the daemon.
    let r = ureq::get(&format!("http://{}/status", daemon.addr))
        .set("Origin", "https://example.com")
        .call();
    assert!(matches!(r, Err(ureq::Error::Status(403, _))), "{r:?}");
}

#[test]
fn transcribe_starts_the_daemon_once_and_reuses_it() {
    let env = Env::new();
    let clip = corpus("tts/tts_01_en-us_s150.wav");
    let first = env.run(&["transcribe", clip.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).split_whitespace().count() > 3,
        "{}",
        stdout(&first)
    );
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(env.home().join("run/daemon.json")).unwrap())
            .unwrap();
    let pid = info["pid"].as_u64().unwrap() as i32;
    let second = env.run(&["transcribe", "--json", clip.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(
        v["timings"]["load_s"].as_f64(),
        Some(0.0),
        "reused, warm: {v}"
    );
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(env.home().join("run/daemon.json")).unwrap())
            .unwrap();
    assert_eq!(again["pid"].as_i64(), Some(pid as i64), "the same daemon");
    // Dictation with a file standing in for the microphone goes through the same daemon.
    let dictated = env.run(&[
        "dictate",
        "--source",
        clip.to_str().unwrap(),
        "--output",
        "stdout",
        "--once",
    ]);
    assert!(dictated.status.success(), "{}", stderr(&dictated));
    assert_eq!(stdout(&dictated).trim(), stdout(&first).trim());
    // Stopping it is ours to do (it outlives clients by design).
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let start = Instant::now();
    while env.home().join("run/daemon.json").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let direct = env.run(&["transcribe", "--no-daemon", clip.to_str().unwrap()]);
    assert!(direct.status.success(), "{}", stderr(&direct));
    assert_eq!(stdout(&direct), stdout(&first), "same model, same words");
    assert!(
        !env.home().join("run/daemon.json").exists(),
        "no shared daemon left behind"
    );

    let bad = env.run(&["transcribe", "--no-daemon", "/nonexistent.wav"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("/nonexistent.wav"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn the_spool_directory_answers_requests_atomically() {
    let env = Env::new();
    let _daemon = Daemon::start(&env);
    let spool = env.home().join("run/spool");
    let clip = corpus("tts/tts_02_en-gb_s175.wav");
    let put = |name: &str, body: &str| {
        let tmp = spool.join(format!("{name}.tmp"));
        std::fs::write(&tmp, body).unwrap();
        std::fs::rename(&tmp, spool.join("requests").join(format!("{name}.json"))).unwrap();
    };
    put(
        "r1",
        &serde_json::json!({"id": "r1", "files": [clip]}).to_string(),
    );
    put("broken", "{not json");
    let wait = |id: &str| -> Value {
        let p = spool.join("responses").join(format!("{id}.json"));
        let start = Instant::now();
        loop {
            if let Ok(t) = std::fs::read_to_string(&p) {
                return serde_json::from_str(&t).unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no response {id}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let r = wait("r1");
    assert_eq!(r["id"], "r1");
    assert_eq!(r["session_active"], true, "{r}");
    assert!(r["timestamp"].is_number() && r["device"].is_string(), "{r}");
    let text = r["results"][0]["text"].as_str().unwrap();
    assert!(text.split_whitespace().count() > 3, "{r}");
    assert!(r["results"][0]["timings"]["inference_s"].is_number(), "{r}");
    let b = wait("broken");
    assert!(b["error"].as_str().unwrap().contains("not JSON"), "{b}");
    let status: Value =
        serde_json::from_str(&std::fs::read_to_string(spool.join("status.json")).unwrap()).unwrap();
    assert!(
        status["pid"].is_number() && status.get("model_loaded").is_some(),
        "{status}"
    );
    assert!(clip.exists(), "the user's file is never touched");
}

/// Pids of ASR worker processes (`nightshift-whisper-worker`, `nightshift-ct2-worker`) whose
/// parent is `parent`.
fn worker_children(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let comm = &stat[stat.find('(').unwrap_or(0) + 1..close];
            let ppid: u32 = stat[close + 2..]
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            // comm is cut at 15 bytes.
            ppid == parent
                && (comm.starts_with("nightshift-whis") || comm.starts_with("nightshift-ct2"))
        })
        .collect()
}

#[test]
fn the_idle_timeout_unloads_and_the_next_request_reloads() {
    let env = Env::new();
    let daemon = Daemon::start_with(&env, &["--idle-timeout", "2"]);
    let clip = corpus("tts/tts_03_en_f3_s160.wav");
    let (v, _) = daemon.transcribe(&clip);
    assert!(v["timings"]["load_s"].as_f64().unwrap() > 0.0);
    assert_eq!(worker_children(daemon.child.id()).len(), 1, "a warm worker");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(daemon.get("/status")["model_loaded"], false);
    assert!(
        worker_children(daemon.child.id()).is_empty(),
        "the worker exited"
    );
    let (v, _) = daemon.transcribe(&clip);
    assert!(
        v["timings"]["load_s"].as_f64().unwrap() > 0.0,
        "reloaded: {v}"
    );
}

#[test]
fn concurrent_clients_all_get_their_own_answers() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let clips: Vec<_> = [
        "tts/tts_01_en-us_s150.wav",
        "tts/tts_04_en_m7_s140.wav",
        "tts/tts_06_en-029_f4_s130.wav",
        "tts/tts_08_en-gb-x-rp_f5_s165.wav",
    ]
    .iter()
    .map(|c| corpus(c))
    .collect();
    // Each clip's answer alone first (greedy decoding is deterministic).
    let expected: Vec<String> = clips
        .iter()
        .map(|c| daemon.transcribe(c).0["text"].as_str().unwrap().to_string())
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|client| {
                let (daemon, clips, expected) = (&daemon, &clips, &expected);
                s.spawn(move || {
                    for i in 0..5 {
                        let k = (client + i) % clips.len();
                        let (v, _) = daemon.transcribe(&clips[k]);
                        assert_eq!(
                            v["text"].as_str().unwrap(),
                            expected[k],
                            "client {client} request {i}"
                        );
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("a client failed");
        }
    });
}

#[test]
fn bad_uploads_get_a_json_4xx_and_the_daemon_stays_up() {
    let env = Env::new();
    let daemon = Daemon::start_with(&env, &["--max-upload", "1MiB", "--token", "s3cret"]);
    // The token is required (and the tests' requests carry none yet).
    let (status, v, _) = daemon.post("a.wav", b"RIFF");
    assert_eq!(status, 401, "{v}");
    let auth = |ctype: &str, body: &[u8]| -> (u16, Value) {
        let r = ureq::post(&format!("http://{}/v1/audio/transcriptions", daemon.addr))
            .set("Authorization", "Bearer s3cret")
            .set("Content-Type", ctype)
            .send_bytes(body);
        match r {
            Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
            Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
            Err(e) => panic!("{e}"),
        }
    };
    let form = |name: &str, data: &[u8]| -> (String, Vec<u8>) {
        let mut body = format!(
            "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n--B--\r\n");
        ("multipart/form-data; boundary=B".to_string(), body)
    };
    let cases: Vec<(&str, (String, Vec<u8>))> = vec![
        (
            "malformed multipart",
            (
                "multipart/form-data; boundary=B".into(),
                b"--B\r\nno headers end".to_vec(),
            ),
        ),
        ("not multipart", ("application/json".into(), b"{}".to_vec())),
        (
            "not audio",
            form("notes.txt", b"these are not the droids you are looking for"),
        ),
        ("empty file", form("empty.wav", b"")),
        ("oversized", form("big.wav", &vec![0u8; 2 << 20])),
    ];
    for (what, (ctype, body)) in cases {
        let (status, v) = auth(&ctype, &body);
        assert!((400..500).contains(&status), "{what}: {status} {v}");
        assert!(v["error"]["message"].is_string(), "{what}: {v}");
    }
    let ok = ureq::get(&format!("http://{}/health", daemon.addr))
        .set("Authorization", "Bearer s3cret")
        .call()
        .unwrap();
    assert_eq!(ok.status(), 200, "still up");
    let (ctype, body) = form(
        "clip.wav",
        &std::fs::read(corpus("tts/tts_01_en-us_s150.wav")).unwrap(),
    );
    let (status, v) = auth(&ctype, &body);
    assert_eq!(status, 200, "{v}");
}

#[test]
fn a_killed_daemon_is_replaced_by_the_next_transcribe() {
    let env = Env::new();
    let clip = corpus("tts/tts_07_en-us-nyc_m1_s220.wav");
    let first = env.run(&["transcribe", clip.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    let read_pid = || -> i32 {
        let info: Value = serde_json::from_str(
            &std::fs::read_to_string(env.home().join("run/daemon.json")).unwrap(),
        )
        .unwrap();
        info["pid"].as_i64().unwrap() as i32
    };
    let old = read_pid();
    unsafe { libc::kill(old, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(200));
    let second = env.run(&["transcribe", clip.to_str().unwrap()]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&second), stdout(&first));
    let new = read_pid();
    assert_ne!(new, old, "a new daemon");
    unsafe { libc::kill(new, libc::SIGTERM) };
    let start = Instant::now();
    while env.home().join("run/daemon.json").exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Send raw bytes on a fresh connection and read what comes back until the server closes it
/// or `wait` passes: (status code, if any, and the raw answer).
fn raw_exchange(addr: &str, request: &[u8], wait: Duration) -> (Option<u16>, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    // The server may close before all of a refused body is written.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok());
    (status, text)
}

fn alive(daemon: &Daemon) {
    assert_eq!(
        daemon.get("/health")["status"],
        "ok",
        "the daemon is still up"
    );
}

#[test]
fn hostile_requests_are_refused_without_taking_the_daemon_down() {
    let env = Env::new();
    let mut daemon = Daemon::start_with(&env, &["--max-upload", "1MiB"]);
    let addr = daemon.addr.clone();
    let host = format!("Host: {addr}\r\n");
    let wait = Duration::from_secs(10);
    // A claimed body of 1 TB with a short one: refused from the header, nothing allocated.
    let lying = format!(
        "POST /v1/audio/transcriptions HTTP/1.1\r\n{host}Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 1000000000000\r\n\r\n--B\r\n"
    );
    let (status, text) = raw_exchange(&addr, lying.as_bytes(), wait);
    assert_eq!(status, Some(413), "{text}");
    alive(&daemon);
    // The same over the limit, chunked (no Content-Length): cut off at the limit.
    let mut chunked = format!(
        "POST /v1/audio/transcriptions HTTP/1.1\r\n{host}Content-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let piece = vec![b'x'; 64 * 1024];
    let head = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n";
    chunked.extend_from_slice(format!("{:x}\r\n", head.len()).as_bytes());
    chunked.extend_from_slice(head);
    chunked.extend_from_slice(b"\r\n");
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(&piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, text) = raw_exchange(&addr, &chunked, wait);
    assert_eq!(status, Some(413), "{}", &text[..text.len().min(300)]);
    // Headers far beyond any client's: refused, not buffered without end.
    let huge = format!(
        "GET /health HTTP/1.1\r\n{host}X-Junk: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let (status, _) = raw_exchange(&addr, huge.as_bytes(), wait);
    assert!(status.is_none_or(|s| (400..500).contains(&s)), "{status:?}");
    // A foreign Host and a traversal file name.
    let (status, _) = raw_exchange(
        &addr,
        b"GET /status HTTP/1.1\r\nHost: attacker.example\r\n\r\n",
        wait,
    );
    assert_eq!(status, Some(403));
    let (status, v, _) = daemon.post("../../../../etc/passwd", b"not audio at all, really");
    assert!((400..500).contains(&status), "{v}");
    let uploads: Vec<_> = std::fs::read_dir(env.home().join("run/uploads"))
        .unwrap()
        .collect();
    assert!(
        uploads.is_empty(),
        "a refused upload is not kept: {uploads:?}"
    );
    // A client that sends half a request and stalls blocks nobody.
    let mut stalled_head = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(&mut stalled_head, b"POST /v1/audio/transcriptions HTT").unwrap();
    let mut stalled_body = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut stalled_body,
        format!(
            "POST /v1/audio/transcriptions HTTP/1.1\r\n{host}Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 500000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF"
        )
        .as_bytes(),
    )
    .unwrap();
    let t0 = Instant::now();
    let (status, v, _) = daemon.post("clip.wav", &std::fs::read(silence(env.dir.path())).unwrap());
    assert_eq!(status, 200, "{v}");
    alive(&daemon);
    println!(
        "a silent clip answered in {:.3} s beside two stalled clients",
        t0.elapsed().as_secs_f64()
    );
    drop((stalled_head, stalled_body));
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon runs"
    );
}
