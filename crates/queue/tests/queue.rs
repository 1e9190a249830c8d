//! Queue semantics on a real file-backed database, with a hand-driven clock.

mod common;

use common::{Kind, ManualClock, TestDb, audio_jobs, meeting};
use nightshift_core::{JobStatus, TaskType};
use nightshift_queue::{ClaimFilter, Inserted, NewJob, Queue, QueueError, RunnerIdentity};
use tempfile::TempDir;

fn setup(kind: Kind) -> (TestDb, ManualClock, Queue) {
    let db = TestDb::new(kind);
    let clock = ManualClock::at(1_000.0);
    let q = db.open(&clock);
    (db, clock, q)
}

fn claims_follow_priority_then_age_and_never_repeat(kind: Kind) {
    let (_d, _c, mut q) = setup(kind);
    let mut jobs = audio_jobs(3);
    jobs[2].priority = 5;
    q.insert_meeting(&meeting("m1"), &jobs).unwrap();
    let any = ClaimFilter::default();
    let order: Vec<i64> = std::iter::from_fn(|| q.claim("r1", &any).unwrap())
        .map(|j| j.seq)
        .collect();
    assert_eq!(order, vec![2, 0, 1]);
    assert!(q.claim("r2", &any).unwrap().is_none());
}

fn summary_waits_for_every_audio_job_of_its_meeting(kind: Kind) {
    let (_d, _c, mut q) = setup(kind);
    let mut jobs = audio_jobs(2);
    let mut summary = NewJob::new(TaskType::Summary);
    summary.priority = 100; // priority must not beat the dependency
    jobs.push(summary);
    q.insert_meeting(&meeting("m1"), &jobs).unwrap();
    let any = ClaimFilter::default();
    let a = q.claim("r", &any).unwrap().unwrap();
    let b = q.claim("r", &any).unwrap().unwrap();
    assert_eq!(
        (a.task_type, b.task_type),
        (TaskType::Audio, TaskType::Audio)
    );
    assert!(
        q.claim("r", &any).unwrap().is_none(),
        "summary ran before audio finished"
    );
    q.complete(
        a.job_id,
        "r",
        &serde_json::json!({"ok": 1}),
        &serde_json::json!({}),
    )
    .unwrap();
    assert!(q.claim("r", &any).unwrap().is_none());
    // A FAILED dependency also unblocks the summary (it notes the gap).
    assert_eq!(
        q.fail(b.job_id, "r", "boom", false).unwrap(),
        JobStatus::Failed
    );
    let s = q.claim("r", &any).unwrap().unwrap();
    assert_eq!(s.task_type, TaskType::Summary);
}

fn filters_restrict_task_type_and_model(kind: Kind) {
    let (_d, _c, mut q) = setup(kind);
    let mut jobs = audio_jobs(1);
    jobs.push(NewJob {
        model_key: Some("vlm".into()),
        ..NewJob::new(TaskType::Visual)
    });
    q.insert_meeting(&meeting("m1"), &jobs).unwrap();
    let visual = ClaimFilter {
        task_type: Some(TaskType::Visual),
        model_key: None,
    };
    assert_eq!(
        q.claim("r", &visual).unwrap().unwrap().task_type,
        TaskType::Visual
    );
    let other_model = ClaimFilter {
        task_type: None,
        model_key: Some("whisper:base".into()),
    };
    assert!(q.claim("r", &other_model).unwrap().is_none());
    assert_eq!(q.outstanding(&visual).unwrap().0, 1);
    // A later-stage visual job waiting for unstarted audio is not outstanding for a
    // visual-only runner (it could never run it), but is for everyone else.
    q.add_jobs(
        "m1",
        &[NewJob {
            stage: 1,
            ..NewJob::new(TaskType::Visual)
        }],
    )
    .unwrap();
    assert_eq!(q.outstanding(&visual).unwrap().0, 1);
    assert_eq!(q.outstanding(&ClaimFilter::default()).unwrap().0, 3);
    // `Some("")`: jobs without a model only. Fault trial seed 20: a plan batch (no model)
    // took another meeting's ready LLM step and ran it as a plan.
    let mut steps = vec![NewJob::new(TaskType::Summary)];
    steps.push(NewJob {
        model_key: Some("llm".into()),
        ..NewJob::new(TaskType::Summary)
    });
    q.insert_meeting(&meeting("m2"), &steps).unwrap();
    let keyless = ClaimFilter {
        task_type: Some(TaskType::Summary),
        model_key: Some(String::new()),
    };
    assert_eq!(q.outstanding(&keyless).unwrap().0, 1);
    let plans = q.claim_batch("r", &keyless, 4).unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].model_key, None);
}

fn result_is_stored_with_completed_status_only_by_the_lease_holder(kind: Kind) {
    let (_d, clock, mut q) = setup(kind);
    q.insert_meeting(&meeting("m1"), &audio_jobs(1)).unwrap();
    let j = q.claim("r1", &ClaimFilter::default()).unwrap().unwrap();
    // r1 stalls past its lease; the job is requeued and r2 takes it.
    clock.advance(q.lease_duration().as_secs_f64() + 1.0);
    assert_eq!(q.requeue_expired().unwrap(), 1);
    clock.advance(10.0); // past the backoff
    let again = q.claim("r2", &ClaimFilter::default()).unwrap().unwrap();
    assert_eq!(again.job_id, j.job_id);
    assert_eq!(again.attempts, 2);
    let late = q.complete(
        j.job_id,
        "r1",
        &serde_json::json!({"text": "stale"}),
        &serde_json::json!({}),
    );
    assert!(matches!(late, Err(QueueError::LeaseLost { .. })));
    q.complete(
        j.job_id,
        "r2",
        &serde_json::json!({"text": "fresh"}),
        &serde_json::json!({"wall_s": 1.0}),
    )
    .unwrap();
    let row = q.job(j.job_id).unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Completed);
    assert_eq!(row.result.unwrap()["text"], "fresh");
    assert!(row.lease_owner.is_none());
}

fn heartbeat_keeps_a_lease_alive(kind: Kind) {
    let (_d, clock, mut q) = setup(kind);
    q.insert_meeting(&meeting("m1"), &audio_jobs(1)).unwrap();
    q.claim("r1", &ClaimFilter::default()).unwrap().unwrap();
    for _ in 0..5 {
        clock.advance(q.lease_duration().as_secs_f64() * 0.6);
        assert_eq!(q.heartbeat("r1").unwrap(), 1);
        assert_eq!(q.requeue_expired().unwrap(), 0);
    }
}

fn expired_leases_back_off_and_fail_after_max_attempts_keeping_the_error(kind: Kind) {
    let (_d, clock, mut q) = setup(kind);
    q.insert_meeting(&meeting("m1"), &audio_jobs(1)).unwrap();
    let lease = q.lease_duration().as_secs_f64();
    let mut backoffs = Vec::new();
    for attempt in 1..=3 {
        let j = q.claim("r", &ClaimFilter::default()).unwrap().unwrap();
        assert_eq!(j.attempts, attempt);
        clock.advance(lease + 1.0);
        assert_eq!(q.requeue_expired().unwrap(), 1);
        let row = q.job(j.job_id).unwrap().unwrap();
        if attempt < 3 {
            assert_eq!(row.status, JobStatus::Pending);
            backoffs.push(row.not_before - clock.now());
            // Not claimable during the backoff.
            assert!(q.claim("r", &ClaimFilter::default()).unwrap().is_none());
            clock.set(row.not_before);
        } else {
            assert_eq!(row.status, JobStatus::Failed);
            assert!(row.last_error.unwrap().contains("lease expired"));
        }
    }
    assert!(backoffs[1] > backoffs[0], "backoff grows: {backoffs:?}");
    assert_eq!(q.outstanding(&ClaimFilter::default()).unwrap().0, 0);
}

fn retryable_failures_retry_then_fail_and_retry_command_revives(kind: Kind) {
    let (_d, clock, mut q) = setup(kind);
    q.insert_meeting(&meeting("m1"), &audio_jobs(1)).unwrap();
    for _ in 0..3 {
        clock.advance(1_000.0);
        let j = q.claim("r", &ClaimFilter::default()).unwrap().unwrap();
        q.fail(j.job_id, "r", "worker crashed: signal 11", true)
            .unwrap();
    }
    let jobs = q.jobs_of("m1").unwrap();
    assert_eq!(jobs[0].status, JobStatus::Failed);
    assert_eq!(
        jobs[0].last_error.as_deref(),
        Some("worker crashed: signal 11")
    );
    assert_eq!(q.retry_meeting("m1").unwrap(), 1);
    let j = q.claim("r", &ClaimFilter::default()).unwrap().unwrap();
    assert_eq!(j.attempts, 1);
}

fn cancel_takes_the_lease_away_and_retry_failed_ignores_cancelled(kind: Kind) {
    let (_d, _c, mut q) = setup(kind);
    q.insert_meeting(&meeting("m1"), &audio_jobs(2)).unwrap();
    let j = q.claim("r", &ClaimFilter::default()).unwrap().unwrap();
    assert_eq!(q.cancel_meeting("m1").unwrap(), 2);
    assert!(
        q.complete(
            j.job_id,
            "r",
            &serde_json::json!({}),
            &serde_json::json!({})
        )
        .is_err()
    );
    assert_eq!(q.retry_failed().unwrap(), 0);
    let counts = q.status_counts(Some("m1")).unwrap();
    assert_eq!(counts[&TaskType::Audio][&JobStatus::Cancelled], 2);
}

fn same_content_is_not_added_twice_and_rm_reports_orphan_chunks(kind: Kind) {
    let (_d, _c, mut q) = setup(kind);
    assert_eq!(
        q.insert_meeting(&meeting("m1"), &audio_jobs(2)).unwrap(),
        Inserted::Created("m1".into())
    );
    let mut dup = meeting("m2");
    dup.source_sha256 = "sha-m1".into();
    assert_eq!(
        q.insert_meeting(&dup, &audio_jobs(2)).unwrap(),
        Inserted::Existing("m1".into())
    );
    assert_eq!(q.meetings().unwrap().len(), 1);
    assert_eq!(q.resolve_meeting("m").unwrap().meeting_id, "m1");
    let mut orphans = q.remove_meeting("m1").unwrap();
    orphans.sort();
    assert_eq!(orphans, vec!["chunk-0.flac", "chunk-1.flac"]);
    assert!(
        q.jobs_of("m1").unwrap().is_empty(),
        "jobs cascade with the meeting"
    );
    assert!(matches!(
        q.resolve_meeting("m1"),
        Err(QueueError::UnknownMeeting(_))
    ));
}

fn a_dead_runner_on_this_host_is_reclaimed_at_once(kind: Kind) {
    let (_d, _c, mut q) = setup(kind);
    q.insert_meeting(&meeting("m1"), &audio_jobs(1)).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let me = RunnerIdentity::current();
    let ghost = RunnerIdentity {
        runner_id: format!("{}:{}:0", me.host, child.id()),
        pid: child.id(),
        proc_start: 0,
        ..me.clone()
    };
    q.register_runner(&ghost).unwrap();
    q.claim(&ghost.runner_id, &Default::default())
        .unwrap()
        .unwrap();
    assert_eq!(q.reclaim_dead_runners(&me).unwrap(), 0, "still alive");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(q.reclaim_dead_runners(&me).unwrap(), 1);
    // No backoff for a dead process: the job is claimable right away.
    assert!(
        q.claim(&me.runner_id, &Default::default())
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_database_from_a_newer_binary_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nightshift.db");
    drop(Queue::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Queue::open(&path).err().expect("refused");
    assert!(matches!(err, QueueError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer nightshift"));
}

#[test]
fn a_postgres_database_from_a_newer_binary_is_refused() {
    let db = TestDb::new(Kind::Postgres);
    drop(Queue::open(&db.url).unwrap());
    db.exec_raw("UPDATE nightshift_schema SET version = 99");
    let err = Queue::open(&db.url).err().expect("refused");
    assert!(matches!(err, QueueError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer nightshift"));
    assert!(
        !err.to_string().contains(&common::pg_admin_url()),
        "the password is shown: {err}"
    );
}

#[test]
fn an_unreachable_postgres_server_is_one_clear_error() {
    let err = Queue::open(nightshift_queue::DbUrl::Postgres(
        "postgres://nightshift:secret@127.0.0.1:1/nightshift".into(),
    ))
    .err()
    .expect("refused");
    let text = err.to_string();
    assert!(matches!(err, QueueError::Unreachable { .. }), "{text}");
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("secret"),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error_and_is_left_alone() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nightshift.db");
    let junk = b"this is definitely not sqlite, just some text that fills a page".repeat(100);
    std::fs::write(&path, &junk).unwrap();
    let err = Queue::open(&path).err().expect("refused");
    assert!(matches!(err, QueueError::Corrupt { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), junk, "the file was modified");
}

fn later_stages_wait_for_earlier_ones_of_the_same_meeting_only(kind: Kind) {
    let (_d, _c, mut q) = setup(kind);
    let plan = NewJob::new(TaskType::Summary);
    let map = NewJob {
        stage: 2,
        seq: 1,
        ..NewJob::new(TaskType::Summary)
    };
    let reduce = NewJob {
        stage: 3,
        seq: 2,
        ..NewJob::new(TaskType::Summary)
    };
    q.insert_meeting(&meeting("m1"), &[reduce, map, plan])
        .unwrap();
    q.insert_meeting(&meeting("m2"), &audio_jobs(1)).unwrap();
    let any = ClaimFilter::default();
    let mut order = Vec::new();
    while let Some(j) = q.claim("r", &any).unwrap() {
        order.push((j.meeting_id.clone(), j.stage));
        q.complete(
            j.job_id,
            "r",
            &serde_json::json!({}),
            &serde_json::json!({}),
        )
        .unwrap();
    }
    let m1: Vec<i64> = order
        .iter()
        .filter(|(m, _)| m == "m1")
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(m1, vec![1, 2, 3]);
    assert_eq!(order.len(), 4);
}

fn completing_with_follow_ups_is_one_transaction_held_by_the_lease(kind: Kind) {
    let (_d, _c, mut q) = setup(kind);
    q.insert_meeting(&meeting("m1"), &[NewJob::new(TaskType::Summary)])
        .unwrap();
    let plan = q.claim("r", &ClaimFilter::default()).unwrap().unwrap();
    let follow = vec![
        NewJob {
            stage: 2,
            ..NewJob::new(TaskType::Summary)
        };
        3
    ];
    let stolen = q.complete_with_jobs(
        plan.job_id,
        "other",
        &serde_json::json!({}),
        &serde_json::json!({}),
        &follow,
    );
    assert!(matches!(stolen, Err(QueueError::LeaseLost { .. })));
    assert_eq!(
        q.jobs_of("m1").unwrap().len(),
        1,
        "follow-ups written without the completion"
    );
    q.complete_with_jobs(
        plan.job_id,
        "r",
        &serde_json::json!({"windows": 3}),
        &serde_json::json!({}),
        &follow,
    )
    .unwrap();
    let jobs = q.jobs_of("m1").unwrap();
    assert_eq!(jobs.len(), 4);
    assert_eq!(
        jobs.iter()
            .filter(|j| j.stage == 2 && j.status == JobStatus::Pending)
            .count(),
        3
    );
}

fn gpu_leases_never_exceed_the_budget_together_and_dead_holders_free_theirs(kind: Kind) {
    let (dir, clock, mut q) = setup(kind);
    let mut other = dir.open(&clock);
    const GIB: u64 = 1 << 30;
    // The daemon holds whisper (1 GiB); the Foreman wants a 4.9 GiB LLM on a 6 GiB card.
    assert!(
        other
            .acquire_gpu("daemon", "whisper", GIB, 6 * GIB)
            .unwrap()
            .is_ok()
    );
    let denied = q
        .acquire_gpu("foreman", "llm", 49 * GIB / 10 + GIB / 2, 6 * GIB)
        .unwrap()
        .unwrap_err();
    assert_eq!(denied.held_by_others_bytes, GIB);
    assert_eq!(denied.holders[0].holder, "daemon");
    // Something smaller fits beside it.
    assert!(
        q.acquire_gpu("foreman", "llm", 4 * GIB, 6 * GIB)
            .unwrap()
            .is_ok()
    );
    assert_eq!(q.gpu_leases_of_others("daemon").unwrap().len(), 1);
    // The daemon yields: the whole budget is the Foreman's.
    other.release_gpu("daemon").unwrap();
    assert!(
        q.acquire_gpu("foreman", "llm", 6 * GIB, 6 * GIB)
            .unwrap()
            .is_ok()
    );
    // A holder that stops heartbeating is dead after STALE_AFTER_S.
    q.release_gpu("foreman").unwrap();
    assert!(
        other
            .acquire_gpu("daemon", "whisper", 5 * GIB, 6 * GIB)
            .unwrap()
            .is_ok()
    );
    clock.advance(nightshift_queue::STALE_AFTER_S / 2.0);
    assert!(
        q.acquire_gpu("foreman", "llm", 4 * GIB, 6 * GIB)
            .unwrap()
            .is_err()
    );
    other.heartbeat_gpu("daemon").unwrap();
    clock.advance(nightshift_queue::STALE_AFTER_S * 0.9);
    assert!(
        q.acquire_gpu("foreman", "llm", 4 * GIB, 6 * GIB)
            .unwrap()
            .is_err(),
        "heartbeat kept it"
    );
    clock.advance(nightshift_queue::STALE_AFTER_S);
    assert!(
        q.acquire_gpu("foreman", "llm", 4 * GIB, 6 * GIB)
            .unwrap()
            .is_ok()
    );
    assert!(q.gpu_leases_of_others("foreman").unwrap().is_empty());
}

fn stored_json_that_does_not_parse_is_an_error_naming_the_row(kind: Kind) {
    let (d, _c, mut q) = setup(kind);
    q.insert_meeting(&meeting("m1"), &audio_jobs(2)).unwrap();
    let job_id = q.jobs_of("m1").unwrap()[1].job_id;
    d.exec_raw(&format!(
        "UPDATE jobs SET payload = '{{not json' WHERE job_id = {job_id}"
    ));
    let e = q.jobs_of("m1").unwrap_err().to_string();
    assert!(
        e.contains("meeting m1") && e.contains(&format!("job {job_id}")) && e.contains("payload"),
        "{e}"
    );
    d.exec_raw("UPDATE meetings SET info = 'x' WHERE meeting_id = 'm1'");
    let e = q.meetings().unwrap_err().to_string();
    assert!(e.contains("meeting m1: info"), "{e}");
}

fn media_are_stored_once_by_content_and_fetched_whole_or_not_at_all(kind: Kind) {
    let (db, _c, mut q) = setup(kind);
    let dir = &db.dir;
    // Three parts, the last one short.
    let bytes: Vec<u8> = (0..(2 * nightshift_queue::PART_BYTES + 12_345))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let src = dir.path().join("chunk-0.flac");
    std::fs::write(&src, &bytes).unwrap();
    let a = q.put_media("/hostA/media/chunk-0.flac", &src).unwrap();
    let b = q.put_media("/hostA/media/copy.flac", &src).unwrap();
    assert_eq!(
        (a.sha256.clone(), a.size),
        (b.sha256.clone(), bytes.len() as u64)
    );
    assert_eq!(q.media("/nowhere").unwrap(), None);
    let found = q.media("/hostA/media/chunk-0.flac").unwrap().unwrap();
    let dest = dir.path().join("cache").join("fetched.flac");
    q.fetch_media(&found, &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    // The same bytes under two names are stored once.
    assert_eq!(db.query_i64("SELECT count(*) FROM media_parts"), 3);
    // A damaged part is refused, and nothing is left where the file would go.
    db.exec_raw(&format!(
        "UPDATE media_parts SET bytes = {} WHERE part = 1",
        match kind {
            Kind::Sqlite => "x'00'",
            Kind::Postgres => "'\\x00'::bytea",
        }
    ));
    let bad = dir.path().join("cache").join("bad.flac");
    let e = q.fetch_media(&found, &bad).unwrap_err().to_string();
    assert!(
        e.contains("/hostA/media/chunk-0.flac") && e.contains("sha256"),
        "{e}"
    );
    assert!(!bad.exists() && !bad.with_extension("part").exists());
}

on_both_backends!(
    media_are_stored_once_by_content_and_fetched_whole_or_not_at_all,
    claims_follow_priority_then_age_and_never_repeat,
    summary_waits_for_every_audio_job_of_its_meeting,
    filters_restrict_task_type_and_model,
    result_is_stored_with_completed_status_only_by_the_lease_holder,
    heartbeat_keeps_a_lease_alive,
    expired_leases_back_off_and_fail_after_max_attempts_keeping_the_error,
    retryable_failures_retry_then_fail_and_retry_command_revives,
    cancel_takes_the_lease_away_and_retry_failed_ignores_cancelled,
    same_content_is_not_added_twice_and_rm_reports_orphan_chunks,
    a_dead_runner_on_this_host_is_reclaimed_at_once,
    later_stages_wait_for_earlier_ones_of_the_same_meeting_only,
    completing_with_follow_ups_is_one_transaction_held_by_the_lease,
    gpu_leases_never_exceed_the_budget_together_and_dead_holders_free_theirs,
    stored_json_that_does_not_parse_is_an_error_naming_the_row,
);
