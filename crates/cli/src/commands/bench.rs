//! `nightshift bench queue`: the queue's cost per operation and jobs/s end to end, on the
//! home's SQLite file backend or, with `--db postgres://…`, on that PostgreSQL server.
//!
//! Every operation is its own transaction (no batched claims): that is what a real runner does
//! per job, so the figures are honest per-job costs. On PostgreSQL the benchmark works in
//! scratch databases it creates and drops on the server (`nightshift_bench_*`); the queue the
//! URL names is never touched.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nightshift_core::TaskType;
use nightshift_queue::{ClaimFilter, DbUrl, NewJob, NewMeeting, PgQueue, Queue, RunnerIdentity};
use serde_json::json;

use nightshift_pipeline::home::Home;

/// Where the scratch queues go.
enum Target {
    /// Files under `<home>/cache/bench`.
    Sqlite(std::path::PathBuf),
    /// Scratch databases on the server of this URL.
    Postgres(DbUrl),
}

impl Target {
    fn of(home: &Home) -> Result<Target> {
        Ok(match home.db_url()? {
            db @ DbUrl::Postgres(_) => Target::Postgres(db),
            DbUrl::Sqlite(_) => Target::Sqlite(home.root.join("cache").join("bench")),
        })
    }

    fn describe(&self) -> &'static str {
        match self {
            Target::Sqlite(_) => "SQLite file, WAL, synchronous=NORMAL",
            Target::Postgres(_) => "PostgreSQL",
        }
    }
}

/// A fresh, empty scratch queue named `name` (`ops.db` → database `nightshift_bench_ops`).
fn fresh_db(target: &Target, name: &str) -> Result<(DbUrl, Queue)> {
    let db = match target {
        Target::Sqlite(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create", dir.display()))?;
            let db = dir.join(name);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            DbUrl::Sqlite(db)
        }
        Target::Postgres(server) => {
            let scratch = format!("nightshift_bench_{}", name.trim_end_matches(".db"));
            pg_admin(
                server,
                &format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"),
            )?;
            pg_admin(server, &format!("CREATE DATABASE {scratch}"))?;
            server
                .with_database(&scratch)
                .context("a PostgreSQL URL names a server")?
        }
    };
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

/// Run one statement on the server of `server` (its own database).
fn pg_admin(server: &DbUrl, sql: &str) -> Result<()> {
    let mut config: postgres::Config = server
        .to_secret_string()
        .parse()
        .with_context(|| format!("{server}: not a PostgreSQL URL"))?;
    config.options("-c client_min_messages=warning");
    let mut c = config
        .connect(postgres::NoTls)
        .with_context(|| format!("{server}: cannot connect"))?;
    c.batch_execute(sql)
        .with_context(|| format!("{server}: {sql}"))
}

/// Drop the scratch databases a PostgreSQL run made.
fn drop_scratch(target: &Target, names: &[&str]) -> Result<()> {
    if let Target::Postgres(server) = target {
        for name in names {
            let scratch = format!("nightshift_bench_{}", name.trim_end_matches(".db"));
            pg_admin(
                server,
                &format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"),
            )?;
        }
    }
    Ok(())
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
    let target = Target::of(home)?;
    let mut report = per_operation(&target, jobs)?;
    report["backend"] = json!(target.describe());
    report["jobs"] = json!(jobs);
    report["heartbeat_held_jobs"] = json!(HELD_BATCH);
    report["end_to_end_1_consumer_jobs_per_s"] = json!(end_to_end(&target, jobs)?);
    let mut drains = Vec::new();
    let mut scratch = vec!["ops.db", "e2e.db"];
    let names: Vec<String> = consumers.iter().map(|k| format!("drain{k}.db")).collect();
    for (&k, name) in consumers.iter().zip(&names) {
        drains.push(drain(&target, jobs, k, name)?);
        scratch.push(name);
    }
    report["drain"] = json!(drains);
    if let Target::Postgres(_) = target {
        report["notify_wakeup_ms"] = notify_wakeup(&target)?;
        scratch.push("notify.db");
    }
    drop_scratch(&target, &scratch)?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

const RESULT: &str = "a short transcript result";

/// µs per enqueue, claim, complete and heartbeat, each phase over all jobs.
fn per_operation(target: &Target, jobs: usize) -> Result<serde_json::Value> {
    let me = RunnerIdentity::current();
    let any = ClaimFilter::default();
    let result = json!({"text": RESULT, "segments": 3});
    let metrics = json!({"wall_s": 0.5});
    let (_, mut q) = fresh_db(target, "ops.db")?;
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
fn end_to_end(target: &Target, jobs: usize) -> Result<f64> {
    let me = RunnerIdentity::current();
    let any = ClaimFilter::default();
    let result = json!({"text": RESULT, "segments": 3});
    let metrics = json!({"wall_s": 0.5});
    let (_, mut q) = fresh_db(target, "e2e.db")?;
    let t = Instant::now();
    for i in 0..jobs {
        q.enqueue("bench", &job(i))?;
        let j = q.claim(&me.runner_id, &any)?.context("queue ran dry")?;
        q.complete(j.job_id, &me.runner_id, &result, &metrics)?;
    }
    Ok(jobs as f64 / t.elapsed().as_secs_f64())
}

/// `k` consumer processes draining one pre-filled queue.
fn drain(target: &Target, jobs: usize, k: usize, name: &str) -> Result<serde_json::Value> {
    let exe = std::env::current_exe().context("locating the nightshift binary")?;
    let (db, mut q) = fresh_db(target, name)?;
    for i in 0..jobs {
        q.enqueue("bench", &job(i))?;
    }
    let t = Instant::now();
    let children: Vec<_> = (0..k)
        .map(|_| {
            Command::new(&exe)
                .args(["bench", "queue-consumer"])
                .arg(db.to_secret_string())
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
        "queue benchmark, {} jobs, {}, one transaction per operation",
        r["jobs"],
        r["backend"].as_str().unwrap_or("")
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
    let w = &r["notify_wakeup_ms"];
    if w.is_object() {
        println!(
            "  NOTIFY wake-up of an idle runner: median {:.2} ms, p99 {:.2} ms ({} samples)",
            w["median"].as_f64().unwrap_or(0.0),
            w["p99"].as_f64().unwrap_or(0.0),
            w["samples"]
        );
    }
}

/// How long an idle PostgreSQL runner takes to wake after a job is queued on another
/// connection: enqueue on one, `wait_for_notification` on the other, median and p99.
fn notify_wakeup(target: &Target) -> Result<serde_json::Value> {
    const SAMPLES: usize = 200;
    let (db, mut producer) = fresh_db(target, "notify.db")?;
    let DbUrl::Postgres(url) = &db else {
        bail!("NOTIFY is PostgreSQL's");
    };
    let listener = PgQueue::open(url, Default::default(), None)?;
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Duration>();
    let waiter = std::thread::spawn(move || -> Result<()> {
        for sent in rx {
            if !listener.wait_for_notification(Duration::from_secs(5))? {
                bail!("no notification within 5 s");
            }
            done_tx.send(sent.elapsed()).ok();
        }
        Ok(())
    });
    let mut samples = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        std::thread::sleep(Duration::from_millis(2));
        let t = Instant::now();
        tx.send(t).ok();
        producer.enqueue("bench", &job(i))?;
        samples.push(
            done_rx
                .recv_timeout(Duration::from_secs(10))
                .context("the listener stopped")?
                .as_secs_f64()
                * 1e3,
        );
    }
    drop(tx);
    waiter
        .join()
        .map_err(|_| anyhow::anyhow!("listener panicked"))??;
    samples.sort_by(f64::total_cmp);
    Ok(json!({
        "median": samples[SAMPLES / 2],
        "p99": samples[SAMPLES * 99 / 100],
        "samples": SAMPLES,
    }))
}

/// One consumer process: claim and complete until the queue is empty.
pub fn queue_consumer(db: &str) -> Result<ExitCode> {
    let db = DbUrl::parse(db).map_err(|e| anyhow::anyhow!(e))?;
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
