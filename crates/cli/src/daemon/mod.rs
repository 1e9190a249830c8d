//! `nightshift serve`: the session daemon. Interactive transcription without a model load per
//! request and without holding memory forever: the whisper model lives in a worker process the
//! daemon keeps warm (the daemon links no engine), unloaded after `--idle-timeout` or when batch
//! work needs the memory.
//!
//! Threads: the HTTP thread answers `/health` and `/status` at once, reads uploads and queues
//! transcription requests; the model thread (`model.rs`) answers them in arrival order.
//! Clients find the daemon through `<home>/run/daemon.json` (address + pid, written atomically);
//! `<home>/run/daemon.lock` (flock) keeps a second daemon from starting on the same home.

pub mod client;
pub mod dictate;
mod http;
mod model;
mod spool;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::args::ServeArgs;
use crate::home::Home;

pub fn run_dir(home: &Home) -> PathBuf {
    home.root.join("run")
}

pub fn info_path(home: &Home) -> PathBuf {
    run_dir(home).join("daemon.json")
}

pub fn serve(home: &Home, args: &ServeArgs) -> Result<ExitCode> {
    home.ensure()?;
    let run = args.run_dir.clone().unwrap_or_else(|| run_dir(home));
    std::fs::create_dir_all(run.join("uploads")).context("creating the run directory")?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(run.join("daemon.lock"))
        .context("opening the daemon lock")?;
    // SAFETY: flock on a descriptor we own; released when the process exits.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let who = std::fs::read_to_string(run.join("daemon.json")).unwrap_or_default();
        bail!("a daemon is already running for this home: {}", who.trim());
    }
    let config = crate::config::Config::load(home)?;
    let profile = config.selected_profile(args.profile.as_deref())?;
    let server = tiny_http::Server::http(&args.listen)
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", args.listen))?;
    let addr = server
        .server_addr()
        .to_ip()
        .context("the daemon listens on a TCP address")?;
    if !addr.ip().is_loopback() {
        if !args.allow_remote {
            bail!(
                "--listen {addr}: the daemon listens on loopback addresses only (--allow-remote to override)"
            );
        }
        tracing::warn!(
            "listening on {addr}: other machines can send audio to this daemon{}",
            if args.token.is_some() {
                ""
            } else {
                " (no --token set)"
            }
        );
    }
    let max_upload = crate::foreman::resources::parse_size(&args.max_upload)? as usize;
    let guard = http::Guard {
        loopback_only: !args.allow_remote,
        token: args.token.clone(),
    };
    let budget = crate::foreman::resources::budget(None, &profile)?;
    let costs = crate::foreman::resources::model_costs(
        home,
        &profile.asr_model,
        &profile.summary,
        &profile.vision,
    );
    let info = json!({"addr": addr.to_string(), "pid": std::process::id(), "idle_timeout_s": args.idle_timeout});
    let info_file = run.join("daemon.json");
    write_atomic(&info_file, info.to_string().as_bytes())?;
    tracing::info!("listening on http://{addr}");

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let state = Arc::new(Mutex::new(model::State::default()));
    let (tx, rx) = mpsc::channel::<model::Job>();
    let cfg = model::ModelConfig {
        home: home.clone(),
        asr_model: profile.asr_model.clone(),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        threads: std::thread::available_parallelism().map_or(2, |n| n.get() as u32),
        cost_bytes: costs
            .get(crate::commands::WHISPER_MODEL_KEY)
            .copied()
            .unwrap_or(0),
        budget_bytes: budget.bytes,
        fit_audio_ctx: !args.full_audio_ctx,
        batch_costs: costs,
    };
    let model_state = Arc::clone(&state);
    let model_thread = std::thread::Builder::new()
        .name("model".into())
        .spawn(move || model::run(cfg, rx, model_state))
        .context("starting the model thread")?;
    let started = Instant::now();
    let mut uploads = 0u64;
    let spool = spool::Spool::open(&run.join("spool"))?;
    let mut status_written = Instant::now() - Duration::from_secs(60);
    while !stop.load(Ordering::SeqCst) {
        let received = server.recv_timeout(Duration::from_millis(200));
        // The spool directory is read between HTTP requests (at least every 200 ms).
        for job in spool.take_requests() {
            if let Ok(mut s) = state.lock() {
                s.queued += 1;
            }
            if tx.send(job).is_err() {
                break;
            }
        }
        if status_written.elapsed() >= Duration::from_secs(1) {
            status_written = Instant::now();
            let s = state.lock().map(|s| s.clone()).unwrap_or_default();
            spool.write_status(&status_json(
                &s,
                &profile.asr_model,
                args.idle_timeout,
                started,
            ));
        }
        let Ok(Some(mut req)) = received else {
            continue;
        };
        if let Err((status, why)) = guard.check(&req) {
            let _ = req.respond(http::error(status, &why));
            continue;
        }
        let path = req.url().split('?').next().unwrap_or("").to_string();
        match (req.method().as_str(), path.as_str()) {
            ("GET", "/health") => {
                let _ = req.respond(http::json(200, &json!({"status": "ok"})));
            }
            ("GET", "/status") => {
                let s = state.lock().map(|s| s.clone()).unwrap_or_default();
                let body = status_json(&s, &profile.asr_model, args.idle_timeout, started);
                let _ = req.respond(http::json(200, &body));
            }
            ("POST", "/v1/audio/transcriptions") => {
                uploads += 1;
                match read_upload(&mut req, &run.join("uploads"), uploads, max_upload) {
                    Ok((upload, response_format, prompt)) => {
                        if let Ok(mut s) = state.lock() {
                            s.queued += 1;
                        }
                        let job = model::Job {
                            reply: model::Reply::Http(req),
                            files: vec![upload],
                            owned: true,
                            response_format,
                            prompt,
                            received: Instant::now(),
                        };
                        if tx.send(job).is_err() {
                            break;
                        }
                    }
                    Err((status, e)) => {
                        let _ = req.respond(http::error(status, &e));
                    }
                }
            }
            _ => {
                let _ = req.respond(http::error(404, "not found"));
            }
        }
    }
    drop(tx);
    let _ = model_thread.join();
    let _ = std::fs::remove_file(&info_file);
    if args.run_dir.is_some() {
        let _ = std::fs::remove_dir_all(&run);
    }
    tracing::info!("daemon stopped");
    Ok(ExitCode::SUCCESS)
}

fn status_json(
    s: &model::State,
    default_model: &str,
    idle_timeout: u64,
    started: Instant,
) -> serde_json::Value {
    json!({
        "active": s.model_loaded || s.processing || s.queued > 0,
        "model_loaded": s.model_loaded,
        "device": s.device,
        "model": s.model.clone().unwrap_or_else(|| default_model.to_string()),
        "processing": s.processing,
        "queued": s.queued,
        "last_activity": s.last_activity,
        "session_timeout": idle_timeout,
        "uptime_s": started.elapsed().as_secs_f64(),
        "pid": std::process::id(),
    })
}

/// Read the multipart upload into a file; returns (file, response_format, prompt).
fn read_upload(
    req: &mut tiny_http::Request,
    dir: &std::path::Path,
    n: u64,
    max_upload: usize,
) -> Result<(PathBuf, String, Option<String>), (u16, String)> {
    let ctype = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    let too_big = || {
        (
            413,
            format!(
                "upload larger than the limit ({} bytes, --max-upload)",
                max_upload
            ),
        )
    };
    if req.body_length().is_some_and(|l| l > max_upload) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    req.as_reader()
        .take(max_upload as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| (400, format!("reading the upload: {e}")))?;
    if body.len() > max_upload {
        return Err(too_big());
    }
    let parts = http::parse_multipart(&ctype, &body).map_err(|e| (400, e))?;
    let field = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name)
            .map(|p| String::from_utf8_lossy(&p.data).trim().to_string())
    };
    let file = parts
        .iter()
        .find(|p| p.name == "file")
        .ok_or((400, "no `file` field in the form".to_string()))?;
    if file.data.is_empty() {
        return Err((400, "the uploaded file is empty".into()));
    }
    let format = field("response_format").unwrap_or_else(|| "json".into());
    if !["json", "text", "srt", "vtt", "verbose_json"].contains(&format.as_str()) {
        return Err((
            400,
            format!("response_format {format:?}: use json, text, srt, vtt or verbose_json"),
        ));
    }
    let ext = file
        .filename
        .as_deref()
        .and_then(|f| std::path::Path::new(f).extension())
        .and_then(|e| e.to_str())
        .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("bin");
    let path = dir.join(format!("{}-{n}.{ext}", std::process::id()));
    std::fs::write(&path, &file.data).map_err(|e| (500, format!("storing the upload: {e}")))?;
    Ok((path, format, field("prompt").filter(|p| !p.is_empty())))
}

pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
}
