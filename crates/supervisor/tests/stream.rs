//! Process hygiene of `StreamingChild` (how the frames worker and the ffmpeg fallback run),
//! with tiny shell scripts in place of a decoder.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nightshift_supervisor::{StreamOptions, StreamingChild, WorkerExit};

fn script(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("fake-decoder");
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn a_stream_child_runs_niced_in_its_own_group_and_reports_its_end() {
    let dir = tempfile::tempdir().unwrap();
    // Its arguments and its pid, process group and nice value on stdout, 200 KiB on stderr
    // (three times the pipe buffer: the drain must keep up), then exit 3.
    let bin = script(
        dir.path(),
        r#"echo "$@"
set -- $(cat /proc/$$/stat)
echo "$1 $5 ${19}"
i=0; while [ $i -lt 3200 ]; do echo "log line $i ......................................................"; i=$((i+1)); done >&2
exit 3
"#,
    );
    let opts = StreamOptions {
        env: vec![("NIGHTSHIFT_TEST".into(), "1".into())],
        ..StreamOptions::default()
    };
    let mut child = StreamingChild::spawn(
        &bin,
        vec!["--fps".into(), "25".into(), "a b.mp4".into()],
        &opts,
    )
    .unwrap();
    let mut out = String::new();
    child.read_to_string(&mut out).unwrap();
    let end = child.finish().unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "--fps 25 a b.mp4");
    let seen: Vec<i64> = lines[1].split(' ').map(|n| n.parse().unwrap()).collect();
    assert_eq!(seen[1], seen[0], "leads its own process group");
    assert_ne!(seen[1], unsafe { libc::getpgrp() } as i64);
    let our_nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) } as i64;
    assert_eq!(seen[2], (our_nice + 10).min(19));
    assert_eq!(end.exit, WorkerExit::Exited(3));
    assert!(!end.timed_out);
    assert!(end.peak_rss_bytes > 0, "{end:?}");
    assert_eq!(end.stderr_tail.len(), 20);
    assert!(end.stderr_tail.last().unwrap().starts_with("log line 3199"));
}

#[test]
fn a_hung_decoder_is_killed_with_its_children_at_the_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    // The shell's child `sleep` holds stdout open too: only killing the group ends the read.
    let bin = script(dir.path(), "echo started\nsleep 60\necho never\n");
    let opts = StreamOptions {
        timeout: Duration::from_millis(500),
        ..StreamOptions::default()
    };
    let t0 = Instant::now();
    let mut child = StreamingChild::spawn(&bin, Vec::new(), &opts).unwrap();
    let mut out = String::new();
    child.read_to_string(&mut out).unwrap();
    let end = child.finish().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert_eq!(out, "started\n");
    assert!(end.timed_out, "{end:?}");
    assert_eq!(end.exit, WorkerExit::Signaled(libc::SIGKILL));
}

#[test]
fn a_child_dropped_unfinished_is_killed_and_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let bin = script(dir.path(), "sleep 60\n");
    let child = StreamingChild::spawn(&bin, Vec::new(), &StreamOptions::default()).unwrap();
    let proc_dir = PathBuf::from(format!("/proc/{}", child.pid()));
    assert!(proc_dir.exists());
    drop(child);
    // Reaped, not a zombie: the pid is gone.
    assert!(!proc_dir.exists());
}
