//! `nightshift serve`: the session daemon. Interactive transcription without a model load per
//! request and without holding memory forever: the whisper model lives in a worker process the
//! daemon keeps warm (the daemon links no engine), unloaded after `--idle-timeout` or when batch
//! work needs the memory.
//!
//! Threads: two HTTP threads (`server.rs`, hyper on tokio) answer `/health` and `/status` at once,
//! stream uploads to files and queue transcription requests; the main thread reads the spool
//! directory and writes `status.json`; the model thread (`model.rs`) answers requests in arrival
//! order.
//! Clients find the daemon through `<home>/run/daemon.json` (address + pid, written atomically);
//! `<home>/run/daemon.lock` (flock) keeps a second daemon from starting on the same home.

pub mod client;
pub mod dictate;
mod http;
mod server;
pub mod web;

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::args::ServeArgs;
use nightshift_pipeline::Home;
use nightshift_pipeline::fsutil::write_atomic;
use nightshift_pipeline::session::{model, spool};

pub fn run_dir(home: &Home) -> PathBuf {
    home.root.join("run")
}

pub fn serve(home: &Home, args: &ServeArgs) -> Result<ExitCode> {
    home.ensure()?;
    let run = args.run_dir.clone().unwrap_or_else(|| run_dir(home));
    std::fs::create_dir_all(run.join("uploads")).context("creating the run directory")?;
    let _lock = lock_run_dir(&run)?;
    let config = nightshift_pipeline::config::Config::load(home)?;
    let mut profile = config.selected_profile(args.profile.as_deref())?;
    if let Some(line) = profile.settle_asr_model(home) {
        tracing::info!("{line}");
    }
    let listener = bind(args)?;
    let addr = listener
        .local_addr()
        .context("the daemon listens on a TCP address")?;
    let max_upload = nightshift_pipeline::fsutil::parse_size(&args.max_upload)?;
    let (cfg, asr_model) = model_config(home, args, &profile)?;
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
    let model_state = Arc::clone(&state);
    let model_thread = std::thread::Builder::new()
        .name("model".into())
        .spawn(move || model::run(cfg, rx, model_state))
        .context("starting the model thread")?;
    let started = Instant::now();
    let idle_timeout = args.idle_timeout;
    let shared = Arc::new(server::Shared {
        guard: http::Guard {
            loopback_only: !args.allow_remote,
            token: args.token.clone(),
        },
        limits: nightshift_intake::Limits {
            max_upload,
            body_idle: server::BODY_IDLE_TIMEOUT,
            max_field: server::MAX_FIELD_BYTES,
        },
        uploads_dir: run.join("uploads"),
        jobs: tx.clone(),
        state: Arc::clone(&state),
        status: Box::new(move |s| status_json(s, &asr_model, idle_timeout, started)),
        uploads: AtomicU64::new(0),
        web: Arc::new(web::Web {
            home: home.clone(),
            sessions: web::auth::Sessions::new(&run, addr.port()),
            loopback_only: !args.allow_remote,
            token: args.token.clone(),
            searcher: Mutex::new(None),
        }),
    });
    // Two threads answer HTTP; transcription runs on the model thread, so they only move bytes.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("http")
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener).context("listening")?
    };
    runtime.spawn(server::serve(listener, Arc::clone(&shared)));
    let spool = spool::Spool::open(&run.join("spool"))?;
    spool_until_stopped(&spool, &shared, &stop);
    // Handlers waiting on the model thread get "stopping" once it has gone.
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(shared);
    drop(tx);
    let _ = model_thread.join();
    let _ = std::fs::remove_file(&info_file);
    if args.run_dir.is_some() {
        let _ = std::fs::remove_dir_all(&run);
    }
    tracing::info!("daemon stopped");
    Ok(ExitCode::SUCCESS)
}

/// Hold `<run>/daemon.lock` (flock) for the daemon's life: a second daemon on the same home
/// stops here, naming the first.
fn lock_run_dir(run: &std::path::Path) -> Result<std::fs::File> {
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
    Ok(lock)
}

/// The listening socket: loopback only unless `--allow-remote` (which warns).
fn bind(args: &ServeArgs) -> Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(&args.listen)
        .with_context(|| format!("--listen {}", args.listen))?;
    let addr = listener
        .local_addr()
        .context("the daemon listens on a TCP address")?;
    listener
        .set_nonblocking(true)
        .context("configuring the listening socket")?;
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
    Ok(listener)
}

/// The model thread's settings (and the profile's ASR model name), with the same model costs
/// and budget the Foreman schedules with.
fn model_config(
    home: &Home,
    args: &ServeArgs,
    profile: &nightshift_pipeline::config::Profile,
) -> Result<(model::ModelConfig, String)> {
    let budget = nightshift_pipeline::foreman::resources::budget(None, profile)?;
    let costs = nightshift_pipeline::foreman::resources::model_costs(
        home,
        &profile.asr_model,
        &profile.summary,
        &profile.vision,
    );
    let cfg = model::ModelConfig {
        home: home.clone(),
        asr_model: profile.asr_model.clone(),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        threads: std::thread::available_parallelism().map_or(2, |n| n.get() as u32),
        cost_bytes: costs
            .get(nightshift_pipeline::job::model_key::WHISPER)
            .copied()
            .unwrap_or(0),
        budget_bytes: budget.bytes,
        fit_audio_ctx: !args.full_audio_ctx,
        batch_costs: costs,
    };
    Ok((cfg, profile.asr_model.clone()))
}

/// Until a stop signal: hand spooled requests to the model thread (every 200 ms) and rewrite
/// `status.json` (every second).
fn spool_until_stopped(spool: &spool::Spool, shared: &server::Shared, stop: &AtomicBool) {
    let mut status_written = Instant::now() - Duration::from_secs(60);
    while !stop.load(Ordering::SeqCst) {
        for job in spool.take_requests() {
            if let Ok(mut s) = shared.state.lock() {
                s.queued += 1;
            }
            if shared.jobs.send(job).is_err() {
                break;
            }
        }
        if status_written.elapsed() >= Duration::from_secs(1) {
            status_written = Instant::now();
            let s = shared.state.lock().map(|s| s.clone()).unwrap_or_default();
            spool.write_status(&(shared.status)(&s));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
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
