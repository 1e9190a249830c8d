//! The session daemon under hostile load (issue #21): 16 clients for `NIGHTSHIFT_LOAD_SECONDS`
//! (default 15; the full run is 60, see README "Daemon load") mix real speech clips with
//! hostile requests — lying Content-Length, bodies cut off, stalled and slow clients, huge
//! headers and URLs, foreign Host and Origin, traversal file names, chunked bodies good and
//! bad, junk in the spool directory. Every valid request must get text close to the clip's
//! truth (WER), every hostile one a 4xx or a closed connection; the daemon stays up, writes
//! nothing outside its home, leaves no upload behind and keeps its memory bounded. The figures
//! (requests/s, p50/p99 latency of valid requests, peak RSS, counts by kind) are printed
//! (`--nocapture`).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Env, shared};
use nightshift_eval::{Manifest, WerCounts, normalize, pooled_wer, wer_counts};

const CLIENTS: usize = 16;
/// The daemon's upload limit in this test.
const MAX_UPLOAD: usize = 2 << 20;
/// A hostile request must be answered or dropped within this (the daemon's body idle timeout
/// is 30 s); valid ones wait for the model thread, which answers in arrival order.
const HOSTILE_WAIT: Duration = Duration::from_secs(45);
const VALID_WAIT: Duration = Duration::from_secs(300);
/// The daemon links no engine (the model is in its worker): its own memory must stay small
/// whatever clients claim or send.
const MAX_DAEMON_RSS_KIB: u64 = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Valid,
    ValidChunked,
    SlowHead,
    LyingLength,
    ShortLength,
    CutBody,
    StalledBody,
    HugeHeader,
    HugeUrl,
    ForeignHost,
    Origin,
    Traversal,
    BadChunked,
    OversizedChunked,
    SpoolJunk,
}

impl Kind {
    fn is_valid(self) -> bool {
        matches!(self, Kind::Valid | Kind::ValidChunked)
    }
}

/// What each client cycles through (offset by its number): about a third valid clips.
const SCHEDULE: [Kind; 20] = [
    Kind::Valid,
    Kind::LyingLength,
    Kind::HugeHeader,
    Kind::ValidChunked,
    Kind::CutBody,
    Kind::ForeignHost,
    Kind::SpoolJunk,
    Kind::Valid,
    Kind::Traversal,
    Kind::SlowHead,
    Kind::BadChunked,
    Kind::Valid,
    Kind::HugeUrl,
    Kind::ShortLength,
    Kind::Origin,
    Kind::ValidChunked,
    Kind::StalledBody,
    Kind::OversizedChunked,
    Kind::Valid,
    Kind::SpoolJunk,
];

struct Clip {
    name: String,
    bytes: Vec<u8>,
    truth: Vec<String>,
}

/// Short real-speech clips (≤ 5 s) and their normalised truth, from the corpus manifest.
fn clips() -> Vec<Clip> {
    let manifest = Manifest::load(&shared().join("corpus")).expect("corpus manifest");
    let clips: Vec<Clip> = manifest
        .of_kind("real_speech")
        .filter(|c| c.duration_s().is_some_and(|d| d <= 5.0))
        .filter_map(|c| {
            let truth = normalize(c.reference_transcript()?);
            let path = manifest.file(c);
            Some(Clip {
                name: path.file_name()?.to_string_lossy().into_owned(),
                bytes: std::fs::read(&path).expect("corpus clip"),
                truth,
            })
        })
        .collect();
    assert!(
        clips.len() >= 3,
        "the corpus has short real-speech clips with truth"
    );
    clips
}

struct Daemon {
    child: Child,
    addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling the child we spawned and still own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn start_daemon(env: &Env, cwd: &Path) -> Daemon {
    let child = env
        .cmd()
        .args(["serve", "--idle-timeout", "600", "--max-upload"])
        .arg(MAX_UPLOAD.to_string())
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nightshift serve");
    let mut daemon = Daemon {
        child,
        addr: String::new(),
    };
    let info = env.home().join("run/daemon.json");
    let start = Instant::now();
    loop {
        if let Ok(t) = std::fs::read_to_string(&info)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&t)
        {
            daemon.addr = v["addr"].as_str().expect("addr").to_string();
            return daemon;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn form(file_name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--LoadB\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n\
         --LoadB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(b"\r\n--LoadB--\r\n");
    body
}

fn post_head(host: &str, extra: &str) -> String {
    format!(
        "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary=LoadB\r\n{extra}\r\n"
    )
}

fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// An HTTP answer as read off the wire: the status (None: closed without one) and the body.
struct Reply {
    status: Option<u16>,
    body: String,
}

fn read_reply(s: &mut TcpStream, wait: Duration) -> Reply {
    s.set_read_timeout(Some(wait)).expect("read timeout");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok());
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    Reply { status, body }
}

/// Send `request` on a new connection (the server may close before all of it is written) and
/// read the answer.
fn exchange(addr: &str, request: &[u8], wait: Duration) -> Reply {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return Reply {
            status: Some(0),
            body: "connect failed".into(),
        };
    };
    let _ = s.write_all(request);
    read_reply(&mut s, wait)
}

struct Ctx<'a> {
    addr: &'a str,
    home: &'a Path,
    outside: &'a Path,
    clips: &'a [Clip],
}

/// One request's outcome: Ok, or what was wrong.
type Outcome = Result<(), String>;

fn hostile(reply: &Reply) -> Outcome {
    match reply.status {
        None => Ok(()),
        Some(s) if (400..500).contains(&s) => Ok(()),
        Some(s) => Err(format!(
            "status {s}: {}",
            &reply.body[..reply.body.len().min(200)]
        )),
    }
}

fn run_one(ctx: &Ctx, kind: Kind, n: usize, wer: &Mutex<Vec<WerCounts>>) -> Outcome {
    let addr = ctx.addr;
    let clip = &ctx.clips[n % ctx.clips.len()];
    match kind {
        Kind::Valid | Kind::ValidChunked => {
            let body = form(&clip.name, &clip.bytes);
            let mut req = if kind == Kind::Valid {
                post_head(addr, &format!("Content-Length: {}\r\n", body.len())).into_bytes()
            } else {
                post_head(addr, "Transfer-Encoding: chunked\r\n").into_bytes()
            };
            req.extend_from_slice(&if kind == Kind::Valid {
                body
            } else {
                chunked(&body, 4096)
            });
            let reply = exchange(addr, &req, VALID_WAIT);
            if reply.status != Some(200) {
                return Err(format!("status {:?}: {}", reply.status, reply.body));
            }
            let v: serde_json::Value =
                serde_json::from_str(&reply.body).map_err(|e| format!("{e}: {}", reply.body))?;
            let text = v["text"].as_str().ok_or("no text")?;
            let counts = wer_counts(&clip.truth, &normalize(text));
            let w = counts.wer();
            wer.lock().expect("wer").push(counts);
            if w > 0.5 {
                return Err(format!("{}: WER {w:.2}: {text:?}", clip.name));
            }
            Ok(())
        }
        Kind::SlowHead => {
            // A client that sends its request a few bytes at a time is still answered.
            let Ok(mut s) = TcpStream::connect(addr) else {
                return Err("connect failed".into());
            };
            let req = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            for piece in req.as_bytes().chunks(4) {
                s.write_all(piece).map_err(|e| e.to_string())?;
                std::thread::sleep(Duration::from_millis(40));
            }
            let reply = read_reply(&mut s, HOSTILE_WAIT);
            match reply.status {
                Some(200) => Ok(()),
                other => Err(format!("slow client got {other:?}")),
            }
        }
        Kind::LyingLength => {
            let mut req = post_head(addr, "Content-Length: 1000000000000\r\n").into_bytes();
            req.extend_from_slice(&form("a.wav", b"RIFF")[..60]);
            let reply = exchange(addr, &req, HOSTILE_WAIT);
            match reply.status {
                Some(413) | None => Ok(()),
                _ => hostile(&reply).and(Err(format!("want 413, got {:?}", reply.status))),
            }
        }
        Kind::ShortLength => {
            // Claims 40 bytes, sends a whole form: the rest is garbage as a next request.
            let body = form(&clip.name, &clip.bytes[..2000]);
            let mut req = post_head(addr, "Content-Length: 40\r\n").into_bytes();
            req.extend_from_slice(&body);
            hostile(&exchange(addr, &req, HOSTILE_WAIT))
        }
        Kind::CutBody => {
            let body = form(&clip.name, &clip.bytes);
            let mut req =
                post_head(addr, &format!("Content-Length: {}\r\n", body.len())).into_bytes();
            req.extend_from_slice(&body[..body.len() / 3]);
            let Ok(mut s) = TcpStream::connect(addr) else {
                return Err("connect failed".into());
            };
            let _ = s.write_all(&req);
            let _ = s.shutdown(Shutdown::Write);
            hostile(&read_reply(&mut s, HOSTILE_WAIT))
        }
        Kind::StalledBody => {
            // Half a body, then silence for a while: nothing may come back but an error.
            let body = form(&clip.name, &clip.bytes);
            let mut req =
                post_head(addr, &format!("Content-Length: {}\r\n", body.len())).into_bytes();
            req.extend_from_slice(&body[..body.len() / 2]);
            let Ok(mut s) = TcpStream::connect(addr) else {
                return Err("connect failed".into());
            };
            let _ = s.write_all(&req);
            let reply = read_reply(&mut s, Duration::from_secs(3));
            hostile(&reply)
        }
        Kind::HugeHeader => {
            let req = format!(
                "GET /health HTTP/1.1\r\nHost: {addr}\r\nX-Junk: {}\r\n\r\n",
                "a".repeat(200 * 1024)
            );
            hostile(&exchange(addr, req.as_bytes(), HOSTILE_WAIT))
        }
        Kind::HugeUrl => {
            let req = format!(
                "GET /health?{} HTTP/1.1\r\nHost: {addr}\r\n\r\n",
                "q".repeat(200 * 1024)
            );
            hostile(&exchange(addr, req.as_bytes(), HOSTILE_WAIT))
        }
        Kind::ForeignHost | Kind::Origin => {
            let body = form(&clip.name, &clip.bytes);
            let head = if kind == Kind::ForeignHost {
                post_head(
                    "attacker.example",
                    &format!("Content-Length: {}\r\n", body.len()),
                )
            } else {
                post_head(
                    addr,
                    &format!(
                        "Origin: http://attacker.example\r\nContent-Length: {}\r\n",
                        body.len()
                    ),
                )
            };
            let mut req = head.into_bytes();
            req.extend_from_slice(&body);
            let reply = exchange(addr, &req, HOSTILE_WAIT);
            match reply.status {
                Some(403) | None => Ok(()),
                other => Err(format!("want 403, got {other:?}")),
            }
        }
        Kind::Traversal => {
            let target = ctx.outside.join(format!("evil-{n}.wav"));
            let name = format!("../../../../../../..{}", target.display());
            let body = form(&name, b"this is not audio, and it goes nowhere");
            let mut req =
                post_head(addr, &format!("Content-Length: {}\r\n", body.len())).into_bytes();
            req.extend_from_slice(&body);
            let reply = exchange(addr, &req, HOSTILE_WAIT);
            hostile(&reply)?;
            if target.exists() {
                return Err(format!("{} was written", target.display()));
            }
            Ok(())
        }
        Kind::BadChunked => {
            let mut req = post_head(addr, "Transfer-Encoding: chunked\r\n").into_bytes();
            req.extend_from_slice(b"zz\r\n--LoadB\r\n\r\n0\r\n\r\n");
            hostile(&exchange(addr, &req, HOSTILE_WAIT))
        }
        Kind::OversizedChunked => {
            let big = vec![b'x'; MAX_UPLOAD + 64 * 1024];
            let mut req = post_head(addr, "Transfer-Encoding: chunked\r\n").into_bytes();
            req.extend_from_slice(&chunked(&form("big.wav", &big), 64 * 1024));
            hostile(&exchange(addr, &req, HOSTILE_WAIT))
        }
        Kind::SpoolJunk => spool_junk(ctx, n),
    }
}

/// Drop something that is not a proper request into `spool/requests/` and wait for the error
/// answer in `responses/`.
fn spool_junk(ctx: &Ctx, n: usize) -> Outcome {
    let spool = ctx.home.join("run/spool");
    let requests = spool.join("requests");
    let stem = format!("junk-{n}");
    let tmp = spool.join(format!("{stem}.tmp"));
    let path = requests.join(format!("{stem}.json"));
    let mut answer_id = stem.clone();
    match n % 7 {
        0 => std::fs::write(&tmp, b"\x00\xffnot json at all").map_err(|e| e.to_string())?,
        1 => {
            answer_id = format!("______escape-{n}");
            let doc = format!(r#"{{"id": "../../escape-{n}", "file": "/nonexistent/x.wav"}}"#);
            std::fs::write(&tmp, doc).map_err(|e| e.to_string())?;
        }
        2 => {
            let c = std::ffi::CString::new(tmp.as_os_str().as_encoded_bytes()).expect("path");
            // SAFETY: mkfifo on a path we own.
            if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
                return Err("mkfifo failed".into());
            }
        }
        3 => std::os::unix::fs::symlink("/dev/zero", &tmp).map_err(|e| e.to_string())?,
        4 => std::fs::write(&tmp, vec![b' '; 3 << 20]).map_err(|e| e.to_string())?,
        5 => std::fs::write(&tmp, br#"{"files": [42, null]}"#).map_err(|e| e.to_string())?,
        _ => std::fs::write(&tmp, br#"{"file": "/nonexistent/clip.wav"}"#)
            .map_err(|e| e.to_string())?,
    }
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    let out = spool.join("responses").join(format!("{answer_id}.json"));
    let start = Instant::now();
    while start.elapsed() < VALID_WAIT {
        if let Ok(text) = std::fs::read_to_string(&out)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        {
            let _ = std::fs::remove_file(&out);
            // Refused outright (`error`), or every named file failed (`results[].error`).
            let results = v["results"].as_array().map_or(&[][..], Vec::as_slice);
            let refused = v["error"].is_string()
                || (!results.is_empty() && results.iter().all(|r| r["error"].is_string()));
            return if refused {
                Ok(())
            } else {
                Err(format!("spool junk {n} answered without an error: {v}"))
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("spool junk {n}: no answer at {}", out.display()))
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Every path under `dir`, relative to it.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        out.push(p.strip_prefix(dir).expect("under dir").to_path_buf());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(
                tree(&p)
                    .into_iter()
                    .map(|q| p.strip_prefix(dir).unwrap().join(q)),
            );
        }
    }
    out
}

#[test]
fn sixteen_clients_mixing_clips_and_hostile_requests() {
    let seconds: u64 = std::env::var("NIGHTSHIFT_LOAD_SECONDS")
        .ok()
        .map(|s| {
            s.parse()
                .expect("NIGHTSHIFT_LOAD_SECONDS is a number of seconds")
        })
        .unwrap_or(15);
    let clips = clips();
    let env = Env::new();
    let outside = env.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    let daemon = start_daemon(&env, &outside);
    let home = env.home();
    let ctx = Ctx {
        addr: &daemon.addr,
        home: &home,
        outside: &outside,
        clips: &clips,
    };
    let wer = Mutex::new(Vec::new());
    // The cold request loads the model; its time is not a load figure.
    let t0 = Instant::now();
    run_one(&ctx, Kind::Valid, 0, &wer).expect("a first clip is transcribed");
    println!("cold request: {:.2} s", t0.elapsed().as_secs_f64());

    let results: Mutex<Vec<(Kind, f64, Outcome)>> = Mutex::new(Vec::new());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let (ctx, results, wer) = (&ctx, &results, &wer);
            s.spawn(move || {
                let mut i = 0;
                while Instant::now() < deadline {
                    let kind = SCHEDULE[(client * 7 + i) % SCHEDULE.len()];
                    let n = client * 100_000 + i;
                    let t = Instant::now();
                    let outcome = run_one(ctx, kind, n, wer);
                    let secs = t.elapsed().as_secs_f64();
                    results.lock().expect("results").push((kind, secs, outcome));
                    i += 1;
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let results = results.into_inner().expect("results");
    let wer = wer.into_inner().expect("wer");

    let mut by_kind: BTreeMap<Kind, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut valid_latency = Vec::new();
    for (kind, secs, outcome) in &results {
        let e = by_kind.entry(*kind).or_default();
        e.0 += 1;
        match outcome {
            Ok(()) => {
                if kind.is_valid() {
                    valid_latency.push(*secs);
                }
            }
            Err(why) => {
                e.1 += 1;
                failures.push(format!("{kind:?}: {why}"));
            }
        }
    }
    valid_latency.sort_by(f64::total_cmp);
    let pid = daemon.child.id();
    let rss = peak_rss_kib(pid);
    println!(
        "{} requests in {elapsed:.1} s from {CLIENTS} clients: {:.1} requests/s",
        results.len(),
        results.len() as f64 / elapsed
    );
    for (kind, (count, failed)) in &by_kind {
        println!("  {kind:?}: {count} ({failed} wrong)");
    }
    if !valid_latency.is_empty() {
        println!(
            "valid requests: {} answered, latency p50 {:.2} s, p99 {:.2} s, pooled WER {:.3}",
            valid_latency.len(),
            percentile(&valid_latency, 0.5),
            percentile(&valid_latency, 0.99),
            pooled_wer(&wer)
        );
    }
    println!("daemon peak RSS (VmHWM): {:.1} MiB", rss as f64 / 1024.0);

    assert!(
        failures.is_empty(),
        "wrong answers:\n{}",
        failures.join("\n")
    );
    assert!(
        by_kind.keys().filter(|k| k.is_valid()).count() == 2 && !valid_latency.is_empty(),
        "valid clips were sent and answered: {by_kind:?}"
    );
    assert!(pooled_wer(&wer) <= 0.15, "pooled WER {}", pooled_wer(&wer));
    let health = exchange(
        &daemon.addr,
        format!(
            "GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            daemon.addr
        )
        .as_bytes(),
        HOSTILE_WAIT,
    );
    assert_eq!(health.status, Some(200), "the daemon is still up");
    assert!(rss <= MAX_DAEMON_RSS_KIB, "daemon peak RSS {rss} KiB");
    let uploads = tree(&home.join("run/uploads"));
    assert!(uploads.is_empty(), "uploads left behind: {uploads:?}");
    let escaped = tree(&outside);
    assert!(escaped.is_empty(), "written outside the home: {escaped:?}");
    let mut top: Vec<_> = tree(env.dir.path())
        .into_iter()
        .filter(|p| p.components().count() == 1)
        .collect();
    top.sort();
    assert_eq!(
        top,
        [PathBuf::from("home"), PathBuf::from("outside")],
        "nothing beside the home"
    );
}
