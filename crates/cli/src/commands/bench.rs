//! `nightshift bench queue`: the queue's cost per operation and jobs/s end to end.
//!
//! Every operation is its own transaction (no batched claims): that is what a real runner does
//! per job, so the figures are honest per-job costs on a file-backed WAL database.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use nightshift_core::TaskType;
use nightshift_queue::{ClaimFilter, NewJob, NewMeeting, Queue, RunnerIdentity};
use serde_json::json;

use nightshift_pipeline::home::Home;

fn fresh_db(home: &Home, name: &str) -> Result<(std::path::PathBuf, Queue)> {
    let dir = home.root.join("cache").join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let db = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let mut q = Queue::open(&db)?;
    let meeting = NewMeeting {
        meeting_id: "bench".into(),
        title: "bench".into(),
        source_path: "bench".into(),
        source_sha256: "bench".into(),
        kind: "audio".into(),
        duration_s: 0.0,
        info: json!({}),
    };
    q.insert_meeting(&meeting, &[])?;
    Ok((db, q))
}

fn job(i: usize) -> NewJob {
    NewJob {
        seq: i as i64,
        chunk_path: Some(format!("chunk-{i}.flac")),
        model_key: Some("whisper".into()),
        payload: json!({"offset_s": i as f64 * 90.0}),
        ..NewJob::new(TaskType::Audio)
    }
}

/// Jobs a runner holds at once (the Foreman's default batch size).
const HELD_BATCH: usize = 16;

fn us_per(n: usize, t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

pub fn queue(home: &Home, jobs: usize, consumers: &[usize], json_out: bool) -> Result<ExitCode> {
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let mut report = per_operation(home, jobs)?;
    report["jobs"] = json!(jobs);
    report["heartbeat_held_jobs"] = json!(HELD_BATCH);
    report["end_to_end_1_consumer_jobs_per_s"] = json!(end_to_end(home, jobs)?);
    let mut drains = Vec::new();
    for &k in consumers {
        drains.push(drain(home, jobs, k)?);
    }
    report["drain"] = json!(drains);
    if json_out {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

const RESULT: &str = "a short transcript result";

/// µs per enqueue, claim, complete and heartbeat, each phase over all jobs.
fn per_operation(home: &Home, jobs: usize) -> Result<serde_json::Value> {
    let me = RunnerIdentity::current();
    let any = ClaimFilter::default();
    let result = json!({"text": RESULT, "segments": 3});
    let metrics = json!({"wall_s": 0.5});
    let (_, mut q) = fresh_db(home, "ops.db")?;
    let t = Instant::now();
    for i in 0..jobs {
        q.enqueue("bench", &job(i))?;
    }
    let enqueue_us = us_per(jobs, t);
    let t = Instant::now();
    let mut claimed = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        claimed.push(
            q.claim(&me.runner_id, &any)?
                .context("queue ran dry")?
                .job_id,
        );
    }
    let claim_us = us_per(jobs, t);
    let t = Instant::now();
    for id in &claimed {
        q.complete(*id, &me.runner_id, &result, &metrics)?;
    }
    let complete_us = us_per(jobs, t);
    // A heartbeat extends every lease the runner holds: measure it holding one full batch.
    for i in 0..HELD_BATCH {
        q.enqueue("bench", &job(jobs + i))?;
        q.claim(&me.runner_id, &any)?.context("queue ran dry")?;
    }
    let t = Instant::now();
    for _ in 0..jobs {
        q.heartbeat(&me.runner_id)?;
    }
    let heartbeat_us = us_per(jobs, t);
    Ok(json!({
        "enqueue_us": enqueue_us,
        "claim_us": claim_us,
        "heartbeat_us": heartbeat_us,
        "complete_us": complete_us,
    }))
}

/// Jobs/s with one consumer: enqueue, claim, complete per job, in sequence.
fn end_to_end(home: &Home, jobs: usize) -> Result<f64> {
    let me = RunnerIdentity::current();
    let any = ClaimFilter::default();
    let result = json!({"text": RESULT, "segments": 3});
    let metrics = json!({"wall_s": 0.5});
    let (_, mut q) = fresh_db(home, "e2e.db")?;
    let t = Instant::now();
    for i in 0..jobs {
        q.enqueue("bench", &job(i))?;
        let j = q.claim(&me.runner_id, &any)?.context("queue ran dry")?;
        q.complete(j.job_id, &me.runner_id, &result, &metrics)?;
    }
    Ok(jobs as f64 / t.elapsed().as_secs_f64())
}

/// `k` consumer processes draining one pre-filled queue.
fn drain(home: &Home, jobs: usize, k: usize) -> Result<serde_json::Value> {
    let exe = std::env::current_exe().context("locating the nightshift binary")?;
    let (db, mut q) = fresh_db(home, &format!("drain{k}.db"))?;
    for i in 0..jobs {
        q.enqueue("bench", &job(i))?;
    }
    let t = Instant::now();
    let children: Vec<_> = (0..k)
        .map(|_| {
            Command::new(&exe)
                .args(["bench", "queue-consumer"])
                .arg(&db)
                .spawn()
        })
        .collect::<Result<_, _>>()
        .context("spawning consumer processes")?;
    for mut c in children {
        if !c.wait()?.success() {
            bail!("a consumer process failed");
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let done = q.status_counts(None)?[&TaskType::Audio]
        .get(&nightshift_core::JobStatus::Completed)
        .copied()
        .unwrap_or(0);
    if done as usize != jobs {
        bail!("{k} consumers completed {done} of {jobs} jobs");
    }
    Ok(json!({"consumers": k, "jobs_per_s": jobs as f64 / secs, "seconds": secs}))
}

fn print_report(r: &serde_json::Value) {
    let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
    println!(
        "queue benchmark, {} jobs, file-backed WAL, synchronous=NORMAL, one transaction per operation",
        r["jobs"]
    );
    println!("  enqueue    {:8.1} µs/op", f("enqueue_us"));
    println!("  claim      {:8.1} µs/op", f("claim_us"));
    println!(
        "  heartbeat  {:8.1} µs/op (holding {HELD_BATCH} jobs)",
        f("heartbeat_us")
    );
    println!("  complete   {:8.1} µs/op", f("complete_us"));
    println!(
        "  end to end (enqueue+claim+complete), 1 process: {:8.0} jobs/s",
        f("end_to_end_1_consumer_jobs_per_s")
    );
    for d in r["drain"].as_array().into_iter().flatten() {
        println!(
            "  drain by {} consumer process(es): {:8.0} jobs/s",
            d["consumers"],
            d["jobs_per_s"].as_f64().unwrap_or(0.0)
        );
    }
}

/// One consumer process: claim and complete until the queue is empty.
pub fn queue_consumer(db: &Path) -> Result<ExitCode> {
    let mut q = Queue::open_existing(db)?;
    let me = RunnerIdentity::current();
    q.register_runner(&me)?;
    let result = json!({"text": "a short transcript result", "segments": 3});
    let metrics = json!({"wall_s": 0.5});
    while let Some(j) = q.claim(&me.runner_id, &ClaimFilter::default())? {
        q.complete(j.job_id, &me.runner_id, &result, &metrics)?;
    }
    q.unregister_runner(&me.runner_id)?;
    Ok(ExitCode::SUCCESS)
}
