//! Several OS processes on one database (a SQLite file, or a PostgreSQL server): exactly-once claiming, and SIGKILL mid-job.
//!
//! The child processes are this test binary re-executed on a single `child_*` test, steered by
//! environment variables; run on their own (no env var) those tests return at once.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{Kind, TestDb, audio_jobs, meeting};
use nightshift_core::JobStatus;
use nightshift_queue::{ClaimFilter, DbUrl, Queue, RunnerIdentity};

const DB_ENV: &str = "NS_QUEUE_TEST_DB";
const LOG_ENV: &str = "NS_QUEUE_TEST_LOG";

fn spawn_child(test: &str, db: &TestDb, log: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(DB_ENV, db.url.to_secret_string())
        .env(LOG_ENV, log)
        // The child's own test-harness chatter would read like extra test results.
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn child test process")
}

/// Child: drain the queue, appending every job id it completed to its own log file.
#[test]
fn child_consumer() {
    let (Some(db), Some(log)) = (std::env::var_os(DB_ENV), std::env::var_os(LOG_ENV)) else {
        return;
    };
    let db = DbUrl::parse(&db.to_string_lossy()).unwrap();
    let mut q = Queue::open(db).unwrap();
    let me = RunnerIdentity::current();
    q.register_runner(&me).unwrap();
    let mut out = std::fs::File::create(log).unwrap();
    while let Some(job) = q.claim(&me.runner_id, &ClaimFilter::default()).unwrap() {
        let result = serde_json::json!({ "by": me.pid, "seq": job.seq });
        q.complete(job.job_id, &me.runner_id, &result, &serde_json::json!({}))
            .unwrap();
        writeln!(out, "{}", job.job_id).unwrap();
    }
    q.unregister_runner(&me.runner_id).unwrap();
}

/// Child: claim one job, say so, then hang "mid-job" until killed.
#[test]
fn child_hangs_mid_job() {
    let (Some(db), Some(log)) = (std::env::var_os(DB_ENV), std::env::var_os(LOG_ENV)) else {
        return;
    };
    let db = DbUrl::parse(&db.to_string_lossy()).unwrap();
    let mut q = Queue::open(db).unwrap();
    let me = RunnerIdentity::current();
    q.register_runner(&me).unwrap();
    let job = q
        .claim(&me.runner_id, &ClaimFilter::default())
        .unwrap()
        .unwrap();
    std::fs::write(log, job.job_id.to_string()).unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

fn read_ids(path: &Path) -> Vec<i64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

fn four_processes_do_every_one_of_2400_jobs_exactly_once(kind: Kind) {
    let db = TestDb::new(kind);
    let dir = &db.dir;
    let mut q = Queue::open(&db.url).unwrap();
    for m in 0..8 {
        q.insert_meeting(&meeting(&format!("m{m}")), &audio_jobs(300))
            .unwrap();
    }
    let logs: Vec<PathBuf> = (0..4)
        .map(|i| dir.path().join(format!("c{i}.log")))
        .collect();
    let children: Vec<Child> = logs
        .iter()
        .map(|l| spawn_child("child_consumer", &db, l))
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a consumer process failed");
    }
    let mut all: Vec<i64> = logs.iter().flat_map(|l| read_ids(l)).collect();
    let per_process: Vec<usize> = logs.iter().map(|l| read_ids(l).len()).collect();
    eprintln!("jobs per process: {per_process:?}");
    all.sort_unstable();
    let total = all.len();
    all.dedup();
    assert_eq!(total, 2400, "jobs done (with repeats)");
    assert_eq!(all.len(), 2400, "a job was done twice");
    let counts = q.status_counts(None).unwrap();
    let done: i64 = counts
        .values()
        .filter_map(|m| m.get(&JobStatus::Completed))
        .sum();
    assert_eq!(done, 2400);
    q.integrity_check().unwrap();
}

fn sigkill_mid_job_requeues_that_job_and_keeps_completed_results(kind: Kind) {
    let db = TestDb::new(kind);
    let dir = &db.dir;
    let mut q = Queue::open(&db.url).unwrap();
    q.insert_meeting(&meeting("m1"), &audio_jobs(5)).unwrap();
    // Two jobs are finished before the crash.
    let me = RunnerIdentity::current();
    let mut finished = Vec::new();
    for _ in 0..2 {
        let j = q
            .claim(&me.runner_id, &ClaimFilter::default())
            .unwrap()
            .unwrap();
        let r = serde_json::json!({ "text": format!("result {}", j.seq) });
        q.complete(j.job_id, &me.runner_id, &r, &serde_json::json!({}))
            .unwrap();
        finished.push((j.job_id, r));
    }

    let marker = dir.path().join("claimed");
    let mut child = spawn_child("child_hangs_mid_job", &db, &marker);
    let t0 = Instant::now();
    while !marker.exists() || std::fs::read_to_string(&marker).unwrap().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "child never claimed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let victim: i64 = std::fs::read_to_string(&marker).unwrap().parse().unwrap();
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();

    // The next run: a fresh connection, as a new `nightshift run` would open.
    let mut q = Queue::open(&db.url).unwrap();
    q.integrity_check().unwrap();
    assert_eq!(
        q.job(victim).unwrap().unwrap().status,
        JobStatus::Processing
    );
    assert_eq!(q.reclaim_dead_runners(&me).unwrap(), 1);
    let row = q.job(victim).unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Pending);
    assert!(row.last_error.unwrap().contains("died"));
    while let Some(j) = q.claim(&me.runner_id, &ClaimFilter::default()).unwrap() {
        q.complete(
            j.job_id,
            &me.runner_id,
            &serde_json::json!({"text": "later"}),
            &serde_json::json!({}),
        )
        .unwrap();
    }
    let jobs = q.jobs_of("m1").unwrap();
    assert!(jobs.iter().all(|j| j.status == JobStatus::Completed));
    assert_eq!(
        jobs.iter().find(|j| j.job_id == victim).unwrap().attempts,
        2
    );
    for (id, r) in finished {
        assert_eq!(
            q.job(id).unwrap().unwrap().result.unwrap(),
            r,
            "a finished result changed"
        );
    }
    q.integrity_check().unwrap();
}

on_both_backends!(
    four_processes_do_every_one_of_2400_jobs_exactly_once,
    sigkill_mid_job_requeues_that_job_and_keeps_completed_results,
);
