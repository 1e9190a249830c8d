//! Fault-injection trials: a realistic home (two short audio meetings, a video, a live
//! recording from stdin; transcription, diarization, scenes, a summary by the dev profile's
//! small model) drained by `nightshift run` while one fault, drawn from the trial's seed, hits
//! it at a random moment or stage: SIGKILL of `run`, of a worker or of the daemon; SIGTERM of
//! `run`; SIGKILL of `record`; the home's tmpfs filled up and freed; the database held by
//! another process's `BEGIN EXCLUSIVE` past the busy timeout; a worker that hangs, prints
//! garbage on its protocol stdout or aborts; a chunk file deleted or truncated behind the
//! queue's back. After the fault the harness restarts what a user would (`run`, the daemon
//! through its client) and lets the queue drain, then checks the invariants in
//! `faults/checks.rs` against a fault-free run of the same home.
//!
//! CI runs 12 trials, one per fault kind, two at a time (`NIGHTSHIFT_FAULT_JOBS`, each in its
//! own home). The long run and the replay of one seed:
//!
//! ```text
//! NIGHTSHIFT_FAULT_TRIALS=200 NIGHTSHIFT_FAULT_JOBS=3 cargo test --release -p nightshift-cli --test faults -- --nocapture
//! NIGHTSHIFT_FAULT_SEED=S NIGHTSHIFT_FAULT_TRIALS=1 cargo test --release -p nightshift-cli --test faults -- --nocapture
//! ```

#[path = "faults/checks.rs"]
mod checks;
mod common;
#[path = "faults/home.rs"]
mod home;
#[path = "faults/plan.rs"]
mod plan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use checks::Damage;
use home::{DiskFiller, Proc, Recorder, TrialHome};
use plan::{Fault, Plan, Trigger};
use serde_json::Value;

/// How every trial (and the fault-free run) drains its queue: one engine thread, small
/// batches, and a batch limit a hung worker runs into.
const RUN_ARGS: [&str; 8] = [
    "run",
    "--until-idle",
    "--threads",
    "1",
    "--batch",
    "2",
    "--batch-timeout",
    "60",
];
/// Short chunks: more checkpoints for the faults to fall between.
const ADD_ARGS: [&str; 5] = ["add", "--min-chunk", "4", "--max-chunk", "16"];
/// The busy timeout of every process in a locked-database trial (the default is 30 s).
const BUSY_TIMEOUT_MS: u64 = 1000;
/// A trial that has not settled by then has hung.
const TRIAL_LIMIT: Duration = Duration::from_secs(600);
const TICK: Duration = Duration::from_millis(50);

/// The fault-free run every trial is compared with.
struct Baseline {
    docs: BTreeMap<String, Value>,
    clip_text: String,
}

/// What one trial did, for the report.
#[derive(Debug, Default)]
struct Report {
    fired: Option<String>,
    restarts: u32,
    run_exits: Vec<String>,
    wall: Duration,
}

#[test]
fn seeded_fault_trials_keep_every_meeting() {
    let first: u64 = env_u64("NIGHTSHIFT_FAULT_SEED", 0);
    let trials: u64 = env_u64("NIGHTSHIFT_FAULT_TRIALS", Fault::ALL.len() as u64);
    let jobs = env_u64("NIGHTSHIFT_FAULT_JOBS", DEFAULT_JOBS).clamp(1, trials.max(1));
    home::inputs();
    let t0 = Instant::now();
    let baseline = baseline();
    eprintln!(
        "fault-free run: {} meetings in {:.0} s; {trials} trials, {jobs} at a time",
        baseline.docs.len(),
        t0.elapsed().as_secs_f64()
    );
    let t1 = Instant::now();
    let next = std::sync::atomic::AtomicU64::new(first);
    let tally = std::sync::Mutex::new(Tally::default());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= first + trials {
                        return;
                    }
                    let plan = Plan::from_seed(seed);
                    let (report, violations) = trial(&plan, &baseline);
                    tally.lock().unwrap().add(&plan, &report, &violations);
                }
            });
        }
    });
    let tally = tally.into_inner().unwrap();
    eprintln!("fault kind      trials  fired  violated");
    for (k, (n, fired, bad)) in &tally.by_kind {
        eprintln!("{:<15} {n:>6} {fired:>6} {bad:>9}", format!("{k:?}"));
    }
    eprintln!(
        "{trials} trials from seed {first}, {jobs} at a time, in {:.0} s ({:.0} s with the fault-free run)",
        t1.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {trials} trials broke an invariant:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
}

/// Trials at once by default: each drains its own home with one engine thread, and a trial
/// spends part of its time waiting (recording fed in real time, held faults, restarts), so
/// two share two cores well.
const DEFAULT_JOBS: u64 = 2;

/// Trials by fault kind (run, fired, violated) and the failures' replay lines.
#[derive(Default)]
struct Tally {
    by_kind: BTreeMap<Fault, (u32, u32, u32)>,
    failures: Vec<String>,
}

impl Tally {
    /// Count one finished trial and print its line (trials finish out of seed order).
    fn add(&mut self, plan: &Plan, report: &Report, violations: &[String]) {
        let e = self.by_kind.entry(plan.fault).or_default();
        e.0 += 1;
        e.1 += u32::from(report.fired.is_some());
        e.2 += u32::from(!violations.is_empty());
        eprintln!(
            "trial {plan}: {} in {:.0} s, {} restart(s), run exits {:?}{}",
            report.fired.as_deref().unwrap_or("not fired"),
            report.wall.as_secs_f64(),
            report.restarts,
            report.run_exits,
            if violations.is_empty() {
                ""
            } else {
                " — VIOLATED"
            }
        );
        for v in violations {
            eprintln!("  violated: {v}");
        }
        if !violations.is_empty() {
            self.failures.push(format!(
                "{plan}\n  {}\n  replay: NIGHTSHIFT_FAULT_SEED={} NIGHTSHIFT_FAULT_TRIALS=1 \
                 cargo test --release -p nightshift-cli --test faults -- --nocapture",
                violations.join("\n  "),
                plan.seed
            ));
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?}: not a number"))
        })
        .unwrap_or(default)
}

fn baseline() -> Baseline {
    let (home, _damage, report, mut violations) = drive(None);
    let docs = checks::documents(&home).expect("fault-free documents");
    violations.extend(checks::check(&home, &docs, &Damage::default()));
    assert!(
        violations.is_empty(),
        "the fault-free run itself breaks invariants ({report:?}):\n{}",
        violations.join("\n")
    );
    for (title, doc) in &docs {
        assert!(
            !doc["segments"].as_array().unwrap().is_empty(),
            "{title}: nothing transcribed in the fault-free run"
        );
    }
    assert!(
        docs["m1"]["summary"]["overview"]
            .as_str()
            .is_some_and(|o| !o.starts_with("Too short")),
        "m1 is summarised by the model: {}",
        docs["m1"]["summary"]
    );
    let out = home
        .env
        .cmd()
        .args(["transcribe", "--no-daemon"])
        .arg(&home::inputs().clip)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    Baseline {
        docs,
        clip_text: common::stdout(&out).trim().to_string(),
    }
}

/// One trial: drive the home through its fault, then check every invariant.
fn trial(plan: &Plan, baseline: &Baseline) -> (Report, Vec<String>) {
    let (home, damage, report, mut violations) = drive(Some((plan, &baseline.clip_text)));
    violations.extend(checks::check(&home, &baseline.docs, &damage));
    if !violations.is_empty() {
        violations.push(keep(&home, plan.seed));
    }
    (report, violations)
}

/// A failed trial's database and `run` logs, kept for a look after the tmpfs is gone.
fn keep(home: &TrialHome, seed: u64) -> String {
    let to = std::env::temp_dir().join(format!("nightshift-fault-{seed}"));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).unwrap();
    let _ = Command::new("sqlite3")
        .arg(home.db())
        .arg(format!(".backup {}", to.join("nightshift.db").display()))
        .status();
    for e in std::fs::read_dir(home.env.dir.path()).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with(".log") {
            let _ = std::fs::copy(e.path(), to.join(e.file_name()));
        }
    }
    format!("kept: {}", to.display())
}

/// What the trial loop tracks while the fault is pending, active and over.
struct Faulting<'a> {
    plan: Option<&'a Plan>,
    clip_text: &'a str,
    home: &'a TrialHome,
    /// When the trigger's stage was first seen running.
    stage_seen: Option<Instant>,
    last_poll: Instant,
    fired: Option<String>,
    /// A held fault (full disk, lock) and when it ends.
    held: Option<(Instant, Held)>,
    daemon: Option<std::thread::JoinHandle<Vec<String>>>,
    damage: Damage,
    /// Bytes fed to the recording so far, and how many seconds when the disk filled or the
    /// database locked: a recorder stopped by either keeps what came before, less its last
    /// second.
    rec_fed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    fed_at_fault: Option<f64>,
}

enum Held {
    Disk(DiskFiller),
    Lock(std::thread::JoinHandle<Result<(), String>>),
}

/// Set up the home, start `record` and `add` the inputs, then run the queue (restarting
/// `run` as a user would) until it has drained with the fault over.
fn drive(plan: Option<(&Plan, &str)>) -> (TrialHome, Damage, Report, Vec<String>) {
    let t0 = Instant::now();
    let home = TrialHome::new();
    let logs = home.env.dir.path().to_path_buf();
    let fault = plan.map(|(p, _)| p.fault);
    let busy = (fault == Some(Fault::DbLocked)).then(|| {
        (
            "NIGHTSHIFT_BUSY_TIMEOUT_MS".to_string(),
            BUSY_TIMEOUT_MS.to_string(),
        )
    });
    let mut violations = Vec::new();
    let mut report = Report::default();

    let mut rec = Recorder::start(&home, &home::inputs().recording, busy.clone());
    let rec_started = Instant::now();
    let mut rec_done = false;
    for (_, file) in &home::inputs().files {
        let out = home.env.cmd().args(ADD_ARGS).arg(file).output().unwrap();
        assert!(out.status.success(), "add: {}", common::stderr(&out));
    }
    home.install_audit();

    let mut f = Faulting {
        plan: plan.map(|(p, _)| p),
        clip_text: plan.map_or("", |(_, t)| t),
        home: &home,
        stage_seen: None,
        last_poll: Instant::now(),
        fired: None,
        held: None,
        daemon: None,
        damage: Damage::default(),
        rec_fed: std::sync::Arc::clone(&rec.fed),
        fed_at_fault: None,
    };
    let mut run = spawn_run(&home, &logs, 0, plan.map(|(p, _)| p), busy.clone());
    let run_started = Instant::now();
    loop {
        std::thread::sleep(TICK);
        if t0.elapsed() > TRIAL_LIMIT {
            violations.push(format!("the trial did not settle within {TRIAL_LIMIT:?}"));
            break;
        }
        if !rec_done {
            rec_done = watch_recording(&mut rec, rec_started, &mut f, &mut violations);
        }
        f.tick(&run, run_started);
        let Some(status) = run.child.try_wait().unwrap() else {
            continue;
        };
        f.fire_if_pending(&run);
        judge_run_exit(
            status,
            &logs,
            report.restarts,
            &f,
            &mut report,
            &mut violations,
        );
        if f.held.is_some() || !rec_done {
            // A user frees the disk (or waits for the lock, or the recording) before running
            // again.
            while f.held.is_some() || !rec_done {
                std::thread::sleep(TICK);
                f.tick(&run, run_started);
                if !rec_done {
                    rec_done = watch_recording(&mut rec, rec_started, &mut f, &mut violations);
                }
            }
        } else if status.success() && queue_idle(&home.db()) {
            break;
        }
        if report.restarts >= 8 {
            violations.push("run did not drain the queue after 8 restarts".into());
            break;
        }
        report.restarts += 1;
        run = spawn_run(&home, &logs, report.restarts, None, busy.clone());
    }
    if let Some(d) = f.daemon.take() {
        violations.extend(
            d.join()
                .unwrap_or_else(|_| vec!["daemon thread panicked".into()]),
        );
    }
    home::stop_daemon(&home.env.home());
    drop(rec);
    if let Some(p) = f.plan
        && matches!(
            p.fault,
            Fault::WorkerHang | Fault::WorkerGarbage | Fault::WorkerAbort
        )
        && logs.join("worker-fault-taken").exists()
    {
        f.fired = Some(format!("{} worker misbehaved", p.worker.worker));
    }
    report.fired = f.fired.take();
    report.wall = t0.elapsed();
    let damage = std::mem::take(&mut f.damage);
    drop(f);
    (home, damage, report, violations)
}

/// `run`, its stderr kept in `logs/run-N.log`; the first run of a worker-fault trial carries
/// the failure injection (the once-file makes it hit one worker only).
fn spawn_run(
    home: &TrialHome,
    logs: &Path,
    n: u32,
    plan: Option<&Plan>,
    busy: Option<(String, String)>,
) -> Proc {
    let log = std::fs::File::create(logs.join(format!("run-{n}.log"))).unwrap();
    let mut cmd = home.env.cmd();
    cmd.args(RUN_ARGS)
        .env("NIGHTSHIFT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
    if let Some((k, v)) = busy {
        cmd.env(k, v);
    }
    if let Some(p) = plan {
        let kind = match p.fault {
            Fault::WorkerHang => Some("hang"),
            Fault::WorkerGarbage => Some("garbage"),
            Fault::WorkerAbort => Some("abort"),
            _ => None,
        };
        if let Some(kind) = kind {
            cmd.env("NIGHTSHIFT_WORKER_FAIL", p.worker.spec(kind)).env(
                "NIGHTSHIFT_WORKER_FAIL_ONCE",
                logs.join("worker-fault-taken"),
            );
        }
    }
    Proc {
        child: cmd.spawn().expect("start run"),
    }
}

/// How `run` ended: killed by the trial, stopped by its SIGTERM (must be exit 0), failed
/// with one clear line while the disk was full or the database locked, or drained.
fn judge_run_exit(
    status: ExitStatus,
    logs: &Path,
    n: u32,
    f: &Faulting<'_>,
    report: &mut Report,
    violations: &mut Vec<String>,
) {
    use std::os::unix::process::ExitStatusExt;
    let err = std::fs::read_to_string(logs.join(format!("run-{n}.log"))).unwrap_or_default();
    let fault = f.plan.map(|p| p.fault);
    let first = n == 0;
    report.run_exits.push(match status.signal() {
        Some(s) => format!("signal {s}"),
        None => format!("{}", status.code().unwrap_or(-1)),
    });
    if err.contains("panicked") {
        violations.push(format!("run {n} panicked: {}", tail(&err)));
    }
    if status.signal() == Some(libc::SIGKILL) && first && fault == Some(Fault::KillRun) {
        return;
    }
    if first && fault == Some(Fault::TermRun) && f.fired.is_some() {
        if !status.success() {
            violations.push(format!(
                "run {n} did not stop cleanly on SIGTERM ({status}): {}",
                tail(&err)
            ));
        }
        return;
    }
    if status.success() {
        return;
    }
    let resource = matches!(fault, Some(Fault::DiskFull | Fault::DbLocked)) && f.fired.is_some();
    let line = checks::error_line(&err);
    if resource && status.code() == Some(1) && line.starts_with("error:") {
        return; // one clear line; the user restarts it once the disk or the lock is free
    }
    violations.push(format!("run {n} failed ({status}): {}", tail(&err)));
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n    ")
}

fn queue_idle(db: &Path) -> bool {
    checks::jobs(db).is_ok_and(|jobs| {
        jobs.iter()
            .all(|j| j.status != "PENDING" && j.status != "PROCESSING")
    })
}

/// The recording: killed at its moment in a `KillRecord` trial; its end judged. `true` once
/// it has ended.
fn watch_recording(
    rec: &mut Recorder,
    started: Instant,
    f: &mut Faulting<'_>,
    violations: &mut Vec<String>,
) -> bool {
    let kill = f
        .plan
        .filter(|p| p.fault == Fault::KillRecord && f.fired.is_none())
        .map(|p| p.hold);
    if let Some(at) = kill
        && started.elapsed() >= at
        && rec.proc.child.try_wait().unwrap().is_none()
    {
        rec.proc.signal(libc::SIGKILL);
        let fed = rec.fed.load(Ordering::SeqCst) as f64 / home::REC_RATE as f64;
        f.damage.recording_fed_s = Some(fed);
        f.fired = Some(format!("record killed after {fed:.2} s fed"));
    }
    let Some(status) = rec.proc.child.try_wait().unwrap() else {
        return false;
    };
    if let Some(h) = rec.feeder.take() {
        let _ = h.join();
    }
    let mut err = String::new();
    if let Some(mut e) = rec.proc.child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    let killed = f.damage.recording_fed_s.is_some();
    let disk = f.plan.is_some_and(|p| p.fault == Fault::DiskFull) && f.fired.is_some();
    let locked = f.plan.is_some_and(|p| p.fault == Fault::DbLocked) && f.fired.is_some();
    if !status.success() && !killed {
        let clear = checks::error_line(&err).starts_with("error:");
        if !((disk || locked) && clear) {
            violations.push(format!("record failed ({status}): {}", tail(&err)));
        } else {
            // The recording stopped with a clear error; what it had before the fault is kept.
            f.damage.recording_fed_s = f.fed_at_fault;
            f.damage.recording_fed_max_s =
                Some(rec.fed.load(Ordering::SeqCst) as f64 / home::REC_RATE as f64);
        }
    }
    true
}

impl Faulting<'_> {
    /// Fire the fault when its trigger comes; end a held fault when its time is up.
    fn tick(&mut self, run: &Proc, run_started: Instant) {
        if let Some((until, _)) = &self.held
            && Instant::now() >= *until
        {
            match self.held.take().map(|(_, h)| h) {
                Some(Held::Disk(d)) => d.free(),
                Some(Held::Lock(h)) => {
                    if let Ok(Err(e)) = h.join() {
                        self.fired = Some(format!("lock not taken: {e}"));
                    }
                }
                None => {}
            }
        }
        let Some(plan) = self.plan else { return };
        if self.fired.is_some() || plan.fault == Fault::KillRecord {
            return;
        }
        let due = match plan.trigger {
            Trigger::After(d) => run_started.elapsed() >= d,
            Trigger::AtStage(stage, d) => {
                if self.stage_seen.is_none()
                    && self.last_poll.elapsed() >= Duration::from_millis(200)
                {
                    self.last_poll = Instant::now();
                    if stage_started(&self.home.db(), stage) {
                        self.stage_seen = Some(Instant::now());
                    }
                }
                self.stage_seen.is_some_and(|t| t.elapsed() >= d)
            }
        };
        if due {
            self.fire(plan, run);
        }
    }

    /// `run` ended before the trigger: a fault that does not need `run` fires now, between
    /// runs; one aimed at `run` or its workers is counted as not fired.
    fn fire_if_pending(&mut self, run: &Proc) {
        if let Some(plan) = self.plan
            && self.fired.is_none()
            && matches!(
                plan.fault,
                Fault::DiskFull
                    | Fault::DbLocked
                    | Fault::ChunkDeleted
                    | Fault::ChunkTruncated
                    | Fault::KillDaemon
            )
        {
            self.fire(plan, run);
        }
    }

    fn fire(&mut self, plan: &Plan, run: &Proc) {
        let home = self.home.env.home();
        self.fed_at_fault =
            Some(self.rec_fed.load(Ordering::SeqCst) as f64 / home::REC_RATE as f64);
        let what = match plan.fault {
            Fault::KillRun => {
                run.signal(libc::SIGKILL);
                "run killed".to_string()
            }
            Fault::TermRun => {
                run.signal(libc::SIGTERM);
                "run sent SIGTERM".to_string()
            }
            Fault::KillWorker => {
                let workers = home::workers_of(run.pid());
                if workers.is_empty() {
                    return; // wait for one to start
                }
                let (pid, name) = &workers[(plan.chunk % workers.len() as u64) as usize];
                // SAFETY: kill(2) on a child of our child, seen alive just now.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
                format!("{name} killed")
            }
            Fault::DiskFull => {
                let d = DiskFiller::fill(&home);
                self.held = Some((Instant::now() + plan.hold, Held::Disk(d)));
                "disk filled".to_string()
            }
            Fault::DbLocked => {
                let hold = Duration::from_millis(BUSY_TIMEOUT_MS) + plan.hold;
                let until = Instant::now() + hold;
                let h = home::hold_exclusive_lock(&self.home.db(), until);
                self.held = Some((until, Held::Lock(h)));
                "database locked".to_string()
            }
            Fault::ChunkDeleted | Fault::ChunkTruncated => self.damage_chunk(plan),
            Fault::KillDaemon => {
                let (home, clip, want, hold) = (
                    home.clone(),
                    home::inputs().clip.clone(),
                    self.clip_text.to_string(),
                    plan.hold,
                );
                self.daemon = Some(std::thread::spawn(move || {
                    daemon_killed(&home, &clip, &want, hold)
                }));
                "daemon killed mid-request".to_string()
            }
            // Armed when `run` started; fired when a worker took the once-file.
            Fault::WorkerHang | Fault::WorkerGarbage | Fault::WorkerAbort | Fault::KillRecord => {
                return;
            }
        };
        self.fired = Some(what);
    }

    fn damage_chunk(&mut self, plan: &Plan) -> String {
        let chunks: Vec<checks::JobRow> = checks::jobs(&self.home.db())
            .unwrap_or_default()
            .into_iter()
            .filter(|j| j.is_chunk() && j.chunk_path.is_some())
            .collect();
        if chunks.is_empty() {
            return "no chunk to damage".into();
        }
        let j = &chunks[(plan.chunk % chunks.len() as u64) as usize];
        let path = PathBuf::from(j.chunk_path.clone().unwrap());
        let how = if plan.fault == Fault::ChunkDeleted {
            let _ = std::fs::remove_file(&path);
            "deleted".to_string()
        } else {
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let at = (len as f64 * plan.truncate_at) as u64;
            if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) {
                let _ = file.set_len(at);
            }
            format!("truncated to {at} of {len} bytes")
        };
        self.damage
            .chunks
            .push((j.job_id, path.display().to_string()));
        format!(
            "chunk of job {} ({}, {}) {how} while {}",
            j.job_id, j.title, j.seq, j.status
        )
    }
}

fn stage_started(db: &Path, stage: plan::Stage) -> bool {
    let (task, model) = stage.jobs();
    checks::jobs(db).is_ok_and(|jobs| {
        jobs.iter().any(|j| {
            j.task_type == task
                && model.is_none_or(|m| j.model_key.as_deref() == Some(m))
                && j.status != "PENDING"
        })
    })
}

/// The daemon (started by `transcribe`, as a user's client does) killed with a request in
/// flight; the next `transcribe` must start a new one and get the same text.
fn daemon_killed(home: &Path, clip: &Path, want: &str, hold: Duration) -> Vec<String> {
    let mut bad = Vec::new();
    let transcribe = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nightshift"));
        c.arg("--home")
            .arg(home)
            .env("NIGHTSHIFT_MODELS", common::shared().join("models"))
            .env_remove("NIGHTSHIFT_HOME")
            .env("NIGHTSHIFT_LOG", "warn")
            .arg("transcribe")
            .arg(clip);
        c
    };
    let check = |what: &str, out: &std::process::Output, bad: &mut Vec<String>| {
        if !out.status.success() {
            bad.push(format!(
                "{what}: transcribe failed: {}",
                common::stderr(out)
            ));
        } else if common::stdout(out).trim() != want {
            bad.push(format!(
                "{what}: transcribe gave {:?}, the fault-free run {want:?}",
                common::stdout(out).trim()
            ));
        }
    };
    let first = transcribe().output().unwrap();
    check("before the kill", &first, &mut bad);
    let client = transcribe()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(hold);
    match home::daemon_pid(home) {
        // SAFETY: kill(2) on the daemon's pid as it published it.
        Some(pid) => unsafe {
            libc::kill(pid, libc::SIGKILL);
        },
        None => bad.push("no daemon.json while the daemon serves".into()),
    }
    let during = client.wait_with_output().unwrap();
    if during.status.success() {
        check("the request in flight", &during, &mut bad);
    } else if !checks::error_line(&common::stderr(&during)).starts_with("error:") {
        bad.push(format!(
            "the request in flight failed without a clear error: {}",
            common::stderr(&during)
        ));
    }
    let after = transcribe().output().unwrap();
    check("after the kill", &after, &mut bad);
    bad
}
