//! Process hygiene of `run_batch`, with a tiny shell-script worker (no engine needed).

use std::ops::ControlFlow;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nightshift_supervisor::{Answer, BatchOptions, run_batch};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Seen {
    job: i64,
    pid: i64,
    pgrp: i64,
    nice: i64,
}

impl Answer for Seen {
    fn settles(&self) -> Option<i64> {
        Some(self.job)
    }
}

fn script(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("fake-worker");
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn workers_run_niced_in_their_own_group_and_a_flood_of_stderr_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    // For each request line: write 200 KiB to stderr (three times the pipe buffer), then
    // answer with the process's own pid, process group and nice value from /proc.
    let bin = script(
        dir.path(),
        r#"n=0
while read line; do
  n=$((n+1))
  i=0; while [ $i -lt 3200 ]; do echo "log line $i ......................................................"; i=$((i+1)); done >&2
  set -- $(cat /proc/$$/stat)
  echo "{\"job\": $n, \"pid\": $1, \"pgrp\": $5, \"nice\": ${19}}"
done
"#,
    );
    let items: Vec<(i64, serde_json::Value)> = (1..=2)
        .map(|i| (i, serde_json::json!({ "item": i })))
        .collect();
    let mut seen = Vec::new();
    let opts = BatchOptions {
        timeout: Duration::from_secs(60),
        ..BatchOptions::default()
    };
    let out = run_batch(&bin, &[], &items, &opts, &mut |s: Seen| {
        seen.push(s);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(out.exit.success(), "{out:?}");
    assert!(out.unanswered.is_empty());
    assert_eq!(seen.len(), 2);
    let our_nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) } as i64;
    for s in &seen {
        assert_eq!(s.pgrp, s.pid, "worker leads its own process group");
        assert_ne!(s.pgrp, unsafe { libc::getpgrp() } as i64);
        assert_eq!(s.nice, (our_nice + 10).min(19));
    }
    assert_eq!(out.stderr_tail.len(), 20);
    assert!(out.stderr_tail.last().unwrap().starts_with("log line 3199"));
}

#[test]
fn garbage_on_stdout_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let bin = script(
        dir.path(),
        r#"read line
echo "hello from C code"
echo '{"job": 1, "pid": 1, "pgrp": 1, "nice": 0}'
"#,
    );
    let items = [(1i64, serde_json::json!({}))];
    let out = run_batch(
        &bin,
        &[],
        &items,
        &BatchOptions::default(),
        &mut |_: Seen| ControlFlow::Continue(()),
    )
    .unwrap();
    assert!(out.unanswered.is_empty());
    assert_eq!(out.malformed, ["hello from C code"]);
}

#[test]
fn two_items_in_flight_reach_the_worker_before_the_first_answer_and_a_stop_sends_no_more() {
    let dir = tempfile::tempdir().unwrap();
    // Answers job 1 only once it holds jobs 1 and 2: with one item in flight it would wait
    // forever. Then it answers every job it is given until stdin ends.
    let bin = script(
        dir.path(),
        r#"read a
read b
echo '{"job": 1, "pid": 1, "pgrp": 1, "nice": 0}'
echo '{"job": 2, "pid": 1, "pgrp": 1, "nice": 0}'
while read line; do
  echo '{"job": 3, "pid": 1, "pgrp": 1, "nice": 0}'
done
"#,
    );
    let items = [
        (1i64, serde_json::json!({})),
        (2, serde_json::json!({})),
        (3, serde_json::json!({})),
    ];
    let opts = BatchOptions {
        in_flight: 2,
        timeout: Duration::from_secs(20),
        ..BatchOptions::default()
    };
    let mut seen = Vec::new();
    let out = run_batch(&bin, &[], &items, &opts, &mut |s: Seen| {
        seen.push(s.job);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(seen, [1, 2, 3]);
    assert!(out.unanswered.is_empty(), "{:?}", out.unanswered);

    // A stop at the first answer: the item already sent is still answered, the third is
    // never sent.
    let mut seen = Vec::new();
    let out = run_batch(&bin, &[], &items, &opts, &mut |s: Seen| {
        seen.push(s.job);
        ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!(seen, [1, 2]);
    assert_eq!(out.unanswered, [3]);
}
