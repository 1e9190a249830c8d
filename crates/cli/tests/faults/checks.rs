//! The invariants every trial must keep, checked on the home after the queue drained.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::common::stderr;
use crate::home::TrialHome;

/// A meeting's `show --format json` with what legitimately differs between homes taken out:
/// the id of a recording (random), input paths, keyframe paths (under the home).
pub fn normalized(mut doc: Value) -> Value {
    if let Some(o) = doc.as_object_mut() {
        o.remove("meeting_id");
        if let Some(src) = o.get("source").and_then(Value::as_str) {
            let name = Path::new(src)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| src.to_string());
            o.insert("source".into(), name.into());
        }
    }
    if let Some(scenes) = doc["scenes"].as_array_mut() {
        for s in scenes {
            if let Some(keys) = s["keyframes"].as_array_mut() {
                for k in keys {
                    let name = k
                        .as_str()
                        .and_then(|p| Path::new(p).file_name())
                        .map(|n| n.to_string_lossy().into_owned());
                    *k = name.into();
                }
            }
        }
    }
    doc
}

/// Every meeting's normalized document, by title.
pub fn documents(home: &TrialHome) -> Result<BTreeMap<String, Value>, String> {
    let status = home.env.json(&["status", "--json"]);
    let mut docs = BTreeMap::new();
    for m in status["meetings"].as_array().cloned().unwrap_or_default() {
        let id = m["meeting_id"].as_str().unwrap_or_default().to_string();
        let out = home.env.run(&["show", &id, "--format", "json"]);
        if !out.status.success() {
            return Err(format!("show {id} failed: {}", stderr(&out)));
        }
        let doc: Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("show {id}: not JSON: {e}"))?;
        let title = doc["title"].as_str().unwrap_or_default().to_string();
        docs.insert(title, normalized(doc));
    }
    Ok(docs)
}

/// One job row, as the checks read it.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub job_id: i64,
    pub meeting_id: String,
    pub title: String,
    pub task_type: String,
    pub model_key: Option<String>,
    pub status: String,
    pub seq: i64,
    pub chunk_path: Option<String>,
    pub payload: Value,
    pub last_error: Option<String>,
}

pub fn jobs(db: &Path) -> Result<Vec<JobRow>, String> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    c.busy_timeout(std::time::Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    let mut st = c
        .prepare(
            "SELECT j.job_id, j.meeting_id, m.title, j.task_type, j.model_key, j.status, j.seq,
                    j.chunk_path, j.payload, j.last_error
             FROM jobs j JOIN meetings m USING (meeting_id) ORDER BY j.job_id",
        )
        .map_err(|e| e.to_string())?;
    let rows = st
        .query_map([], |r| {
            Ok(JobRow {
                job_id: r.get(0)?,
                meeting_id: r.get(1)?,
                title: r.get(2)?,
                task_type: r.get(3)?,
                model_key: r.get(4)?,
                status: r.get(5)?,
                seq: r.get(6)?,
                chunk_path: r.get(7)?,
                payload: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or(Value::Null),
                last_error: r.get(9)?,
            })
        })
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

impl JobRow {
    /// A job that transcribes one chunk of audio.
    pub fn is_chunk(&self) -> bool {
        self.task_type == "AUDIO" && self.model_key.as_deref() == Some("whisper")
    }
}

/// What the harness knows about the faults it made, for judging the outcome.
#[derive(Debug, Default)]
pub struct Damage {
    /// Chunk files deleted or truncated (the job's id and path).
    pub chunks: Vec<(i64, String)>,
    /// The recording was killed (or stopped by the fault): seconds of audio fed into its pipe
    /// by the fault, and by the time it ended (the most it can have kept).
    pub recording_fed_s: Option<f64>,
    pub recording_fed_max_s: Option<f64>,
}

/// Every invariant; each violation is one line.
pub fn check(home: &TrialHome, baseline: &BTreeMap<String, Value>, damage: &Damage) -> Vec<String> {
    let mut bad = Vec::new();
    let db = home.db();
    integrity(&db, &mut bad);
    let jobs = match jobs(&db) {
        Ok(j) => j,
        Err(e) => return vec![format!("reading the jobs: {e}")],
    };
    queue_settled(&jobs, damage, &mut bad);
    completed_once(&db, &mut bad);
    one_job_per_unit(&jobs, &mut bad);
    leftovers(&home.env.home(), &mut bad);
    inputs_unchanged(&mut bad);
    match documents(home) {
        Ok(docs) => compare(&docs, baseline, &jobs, damage, &mut bad),
        Err(e) => bad.push(e),
    }
    bad
}

fn integrity(db: &Path, bad: &mut Vec<String>) {
    let r = rusqlite::Connection::open(db)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)));
    match r {
        Ok(s) if s == "ok" => {}
        Ok(s) => bad.push(format!("PRAGMA integrity_check: {s}")),
        Err(e) => bad.push(format!("PRAGMA integrity_check failed: {e}")),
    }
}

/// Nothing PENDING or PROCESSING; nothing FAILED but what a destroyed input explains.
fn queue_settled(jobs: &[JobRow], damage: &Damage, bad: &mut Vec<String>) {
    for j in jobs {
        match j.status.as_str() {
            "COMPLETED" => {}
            "FAILED" if damage.chunks.iter().any(|(id, _)| *id == j.job_id) => {}
            other => bad.push(format!(
                "job {} ({} {} of {}) left {other}: {}",
                j.job_id,
                j.task_type,
                j.model_key.as_deref().unwrap_or("-"),
                j.title,
                j.last_error.as_deref().unwrap_or("")
            )),
        }
    }
}

fn completed_once(db: &Path, bad: &mut Vec<String>) {
    let r = rusqlite::Connection::open(db).and_then(|c| {
        let mut st = c.prepare(
            "SELECT job_id, count(*) FROM fault_audit GROUP BY job_id HAVING count(*) > 1",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
        rows.collect::<Result<Vec<_>, _>>()
    });
    match r {
        Ok(twice) => {
            for (id, n) in twice {
                bad.push(format!("job {id} was COMPLETED {n} times"));
            }
        }
        Err(e) => bad.push(format!("reading the completion audit: {e}")),
    }
}

/// One chunk job per stretch of audio (contiguous, no overlap), one diarization, at most one
/// plan per meeting.
fn one_job_per_unit(jobs: &[JobRow], bad: &mut Vec<String>) {
    let mut by_meeting: HashMap<&str, Vec<&JobRow>> = HashMap::new();
    for j in jobs {
        by_meeting.entry(&j.meeting_id).or_default().push(j);
    }
    for (m, js) in by_meeting {
        let title = &js[0].title;
        let mut chunks: Vec<(f64, f64)> = js
            .iter()
            .filter(|j| j.is_chunk())
            .map(|j| {
                (
                    j.payload["offset_s"].as_f64().unwrap_or(f64::NAN),
                    j.payload["duration_s"].as_f64().unwrap_or(f64::NAN),
                )
            })
            .collect();
        chunks.sort_by(|a, b| a.0.total_cmp(&b.0));
        // A file's chunks skip long pauses; a recording's are its whole timeline.
        let contiguous = title == "rec";
        for w in chunks.windows(2) {
            let end = w[0].0 + w[0].1;
            if end > w[1].0 + 1e-3 || (contiguous && (end - w[1].0).abs() > 1e-3) {
                bad.push(format!(
                    "{title} ({m}): chunks overlap or leave a hole: {:?} then {:?}",
                    w[0], w[1]
                ));
            }
        }
        let count = |pred: &dyn Fn(&JobRow) -> bool| js.iter().filter(|j| pred(j)).count();
        let diarize = count(&|j| j.model_key.as_deref() == Some("diarize"));
        if diarize != 1 {
            bad.push(format!("{title}: {diarize} diarization jobs"));
        }
        let plans = count(&|j| j.task_type == "SUMMARY" && j.model_key.is_none());
        if plans > 1 {
            bad.push(format!("{title}: {plans} summary plan jobs"));
        }
        let llm = count(&|j| j.model_key.as_deref() == Some("llm"));
        if llm > 1 {
            bad.push(format!("{title}: {llm} summary steps (one expected)"));
        }
    }
}

/// Files a crash or a full disk may leave behind: temp files, partial chunks, open recording
/// parts, spool requests nobody answers.
fn leftovers(home: &Path, bad: &mut Vec<String>) {
    let mut stack = vec![home.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let temp = name.ends_with(".tmp")
                || name.ends_with(".part")
                || name.starts_with(".tmp")
                || name == "fault-filler";
            let in_recording = p.starts_with(home.join("media/recording"));
            let in_requests = p.starts_with(home.join("run/spool/requests"));
            if temp || in_recording || in_requests {
                bad.push(format!("left behind: {}", p.display()));
            }
        }
    }
}

fn inputs_unchanged(bad: &mut Vec<String>) {
    for (p, h) in &crate::home::inputs().hashes {
        if &crate::common::sha256(p) != h {
            bad.push(format!("input modified: {}", p.display()));
        }
    }
}

/// Every meeting as in the fault-free run, except where a fault destroyed its input: then
/// the meeting names the lost stretch in `gaps` (with the cause) and keeps every segment
/// outside it exactly as it was.
fn compare(
    docs: &BTreeMap<String, Value>,
    baseline: &BTreeMap<String, Value>,
    jobs: &[JobRow],
    damage: &Damage,
    bad: &mut Vec<String>,
) {
    if docs.keys().ne(baseline.keys()) {
        bad.push(format!(
            "meetings {:?}, fault-free run has {:?}",
            docs.keys().collect::<Vec<_>>(),
            baseline.keys().collect::<Vec<_>>()
        ));
    }
    for (title, want) in baseline {
        let Some(got) = docs.get(title) else { continue };
        if title == "rec"
            && let Some(fed) = damage.recording_fed_s
        {
            recording_kept(got, fed, damage.recording_fed_max_s.unwrap_or(fed), bad);
            continue;
        }
        let damaged: Vec<&JobRow> = jobs
            .iter()
            .filter(|j| &j.title == title && damage.chunks.iter().any(|(id, _)| *id == j.job_id))
            .collect();
        let lost: Vec<&&JobRow> = damaged.iter().filter(|j| j.status == "FAILED").collect();
        if lost.is_empty() {
            // A chunk damaged after it was transcribed keeps its text; the diarization, which
            // reads every chunk again later, may hear the damaged audio, so speakers inside
            // that chunk's span may differ. Everything else must be exact.
            // The summary is made from the transcript with its speakers, so where they
            // changed it may differ too (fault trials 35, 46, 59: another owner, other items).
            let spans = spans_of(&damaged);
            let (mut got, mut want) = (
                without_speakers_in(got, &spans),
                without_speakers_in(want, &spans),
            );
            if got_speakers_differ(docs.get(title), baseline.get(title)) {
                for doc in [&mut got, &mut want] {
                    if let Some(o) = doc.as_object_mut() {
                        o.remove("summary");
                    }
                }
            }
            if got != want {
                bad.push(format!(
                    "{title}: differs from the fault-free run:\n  got  {}\n  want {}",
                    compact(&got),
                    compact(&want)
                ));
            }
            continue;
        }
        let spans = spans_of(&lost.into_iter().copied().collect::<Vec<_>>());
        gaps_named(title, got, &spans, bad);
        segments_kept(title, got, want, &spans, bad);
    }
}

/// Whether any segment's speaker differs between two documents of one meeting.
fn got_speakers_differ(got: Option<&Value>, want: Option<&Value>) -> bool {
    let speakers = |d: Option<&Value>| -> Vec<Value> {
        d.and_then(|d| d["segments"].as_array())
            .into_iter()
            .flatten()
            .map(|s| s["speaker"].clone())
            .collect()
    };
    speakers(got) != speakers(want)
}

/// Meeting seconds each chunk job covers.
fn spans_of(jobs: &[&JobRow]) -> Vec<(f64, f64)> {
    jobs.iter()
        .map(|j| {
            let s = j.payload["offset_s"].as_f64().unwrap_or(0.0);
            (s, s + j.payload["duration_s"].as_f64().unwrap_or(0.0))
        })
        .collect()
}

/// The document with the speaker of every segment inside `spans` taken out, and the speaker
/// list (which follows the segments) dropped when any was.
fn without_speakers_in(doc: &Value, spans: &[(f64, f64)]) -> Value {
    let mut doc = doc.clone();
    if spans.is_empty() {
        return doc;
    }
    let mut touched = false;
    for s in doc["segments"].as_array_mut().into_iter().flatten() {
        let mid = (s["start"].as_f64().unwrap_or(0.0) + s["end"].as_f64().unwrap_or(0.0)) / 2.0;
        if spans.iter().any(|&(a, b)| a <= mid && mid < b) {
            s["speaker"] = Value::Null;
            touched = true;
        }
    }
    if touched && let Some(o) = doc.as_object_mut() {
        o.remove("speakers");
    }
    doc
}

/// The show document lists each lost span in `gaps`, with a cause.
fn gaps_named(title: &str, got: &Value, spans: &[(f64, f64)], bad: &mut Vec<String>) {
    let gaps = got["gaps"].as_array().cloned().unwrap_or_default();
    for &(s, e) in spans {
        let named = gaps.iter().any(|g| {
            (g["start"].as_f64().unwrap_or(f64::NAN) - s).abs() < 1e-3
                && (g["end"].as_f64().unwrap_or(f64::NAN) - e).abs() < 1e-3
                && g["cause"].as_str().is_some_and(|c| !c.trim().is_empty())
        });
        if !named {
            bad.push(format!(
                "{title}: the lost chunk {s:.3}..{e:.3} s is not in gaps with a cause: {}",
                Value::Array(gaps.clone())
            ));
        }
    }
}

/// Every fault-free segment outside the lost spans is there unchanged, once; nothing else.
fn segments_kept(
    title: &str,
    got: &Value,
    want: &Value,
    spans: &[(f64, f64)],
    bad: &mut Vec<String>,
) {
    let inside = |s: &Value| {
        let mid = (s["start"].as_f64().unwrap_or(0.0) + s["end"].as_f64().unwrap_or(0.0)) / 2.0;
        spans.iter().any(|&(a, b)| a <= mid && mid < b)
    };
    let strip = |s: &Value| {
        // Speakers come from the whole meeting's diarization, which a lost chunk does not
        // change; text and times are compared exactly.
        serde_json::json!({"start": s["start"], "end": s["end"], "text": s["text"]})
    };
    let expected: Vec<Value> = want["segments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| !inside(s))
        .map(strip)
        .collect();
    let kept: Vec<Value> = got["segments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(strip)
        .collect();
    if kept != expected {
        bad.push(format!(
            "{title}: segments outside the lost chunks changed:\n  got  {}\n  want {}",
            Value::Array(kept),
            Value::Array(expected)
        ));
    }
}

/// A killed recording keeps everything fed to it but its last flushed second.
fn recording_kept(got: &Value, fed_s: f64, fed_max_s: f64, bad: &mut Vec<String>) {
    let kept = got["duration_s"].as_f64().unwrap_or(0.0);
    // One second unflushed, plus the quarter second the feeder may have had in the pipe.
    if kept + 1.25 < fed_s {
        bad.push(format!(
            "rec: {kept:.3} s kept of {fed_s:.3} s fed before the kill (more than the last second lost)"
        ));
    }
    if kept > fed_max_s + 1e-3 {
        bad.push(format!(
            "rec: {kept:.3} s kept but only {fed_max_s:.3} s fed"
        ));
    }
    let segs = got["segments"].as_array().cloned().unwrap_or_default();
    for w in segs.windows(2) {
        if w[1]["start"].as_f64() < w[0]["start"].as_f64() || w[0] == w[1] {
            bad.push(format!("rec: segments out of order or repeated: {w:?}"));
        }
    }
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 4000 {
        format!("{}…", &s[..s.floor_char_boundary(4000)])
    } else {
        s
    }
}

/// For the report: the first line of a failed command's stderr that says `error:`.
pub fn error_line(err: &str) -> &str {
    err.lines()
        .find(|l| l.contains("error"))
        .unwrap_or_else(|| err.lines().last().unwrap_or(""))
}
