//! Many machines, one queue: three Foremen with separate homes (separate caches, their own
//! host names where the kernel lets the test give them one), sharing nothing but a PostgreSQL
//! URL, drain the corpus meetings and a video that a fourth home added; one Foreman is
//! SIGKILLed mid-batch. Every meeting's `show --format json` must equal a single-host SQLite
//! run's, and every chunk job must be completed exactly once. `db migrate` then moves both
//! queues between the backends (SQLite → PostgreSQL → SQLite, PostgreSQL → SQLite) without
//! changing any meeting's `show`.
//!
//! The inputs are cuts of the corpus meetings (CI time); `NIGHTSHIFT_MULTIHOST_FULL=1` runs
//! the whole meetings.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, corpus, stderr, stdout};
use serde_json::Value;

const RUN_ARGS: [&str; 6] = ["run", "--until-idle", "--threads", "1", "--batch", "2"];
/// Short chunks: more jobs to spread over the hosts.
const ADD_ARGS: [&str; 5] = ["add", "--min-chunk", "4", "--max-chunk", "10"];
/// A dead host's leases expire this fast (its jobs go to the others).
const LEASE_S: &str = "6";
const DRAIN_LIMIT: Duration = Duration::from_secs(1200);

/// The tests' PostgreSQL server; the test fails (never skips) without one.
fn pg_admin_url() -> String {
    std::env::var("NIGHTSHIFT_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "NIGHTSHIFT_TEST_PG is not set: this test needs a PostgreSQL server. Run \
             ./scripts/test.sh (it starts a throwaway cluster), or \
             `eval \"$(./scripts/test-postgres.sh start)\"` first."
        )
    })
}

/// A database created for the test and dropped after it.
struct ScratchDb {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDb {
    fn new(tag: &str) -> ScratchDb {
        let admin = pg_admin_url();
        let name = format!("ns_{tag}_{}", std::process::id());
        psql(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = nightshift_queue::DbUrl::Postgres(admin.clone())
            .with_database(&name)
            .unwrap()
            .to_secret_string();
        ScratchDb { admin, name, url }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn psql(url: &str, sql: &str) {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("{url}: cannot connect: {e}"))
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn query(url: &str, sql: &str) -> Vec<postgres::Row> {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap()
        .query(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Cuts of the three corpus meetings and a video.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let full = std::env::var_os("NIGHTSHIFT_MULTIHOST_FULL").is_some();
    let cuts: [(&str, &str, &[&str], &str); 4] = [
        ("meetings/meeting_01.wav", "40", &[], "m1.wav"),
        ("meetings/meeting_02.wav", "30", &[], "m2.wav"),
        (
            "meetings/meeting_03.mp3",
            "30",
            &["-c:a", "libmp3lame"],
            "m3.mp3",
        ),
        ("video/video_01_slides.mp4", "14", &["-c", "copy"], "v1.mp4"),
    ];
    cuts.iter()
        .map(|(src, len, codec, name)| {
            let out = dir.join(name);
            let mut cmd = Command::new("ffmpeg");
            cmd.args(["-nostdin", "-loglevel", "error", "-y"]);
            if !full {
                cmd.args(["-t", len]);
            }
            let st = cmd
                .arg("-i")
                .arg(corpus(src))
                .args(*codec)
                .arg(&out)
                .status()
                .expect("ffmpeg runs");
            assert!(st.success(), "cutting {src}");
            out
        })
        .collect()
}

/// A home of its own (its own caches; models from the shared test assets).
fn host_env() -> Env {
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    env
}

fn cmd(env: &Env, db: Option<&str>) -> Command {
    let mut c = env.cmd();
    if let Some(db) = db {
        c.arg("--db").arg(db);
    }
    c.env("NIGHTSHIFT_LEASE_S", LEASE_S);
    c
}

/// Every meeting's `show --format json` by title, with what differs between homes taken out
/// (ids, input and keyframe paths, timings).
fn documents(env: &Env, db: Option<&str>) -> BTreeMap<String, Value> {
    let status = run_ok(cmd(env, db).args(["status", "--json"]));
    let status: Value = serde_json::from_str(&status).unwrap();
    let mut docs = BTreeMap::new();
    for m in status["meetings"].as_array().unwrap() {
        let id = m["meeting_id"].as_str().unwrap();
        let doc: Value =
            serde_json::from_str(&run_ok(cmd(env, db).args(["show", id, "--format", "json"])))
                .unwrap();
        docs.insert(doc["title"].as_str().unwrap().to_string(), normalized(doc));
    }
    docs
}

fn normalized(mut doc: Value) -> Value {
    fn file_name(v: &Value) -> Value {
        v.as_str()
            .and_then(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .into()
    }
    if let Some(o) = doc.as_object_mut() {
        o.remove("meeting_id");
        let src = o.get("source").map(file_name).unwrap_or(Value::Null);
        o.insert("source".into(), src);
    }
    if let Some(scenes) = doc["scenes"].as_array_mut() {
        for s in scenes {
            if let Some(keys) = s["keyframes"].as_array_mut() {
                for k in keys {
                    *k = file_name(k);
                }
            }
        }
    }
    doc
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().expect("run nightshift");
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}

/// Whether this process may give a child its own host name (a UTS namespace: root on Linux).
fn can_name_hosts() -> bool {
    Command::new("unshare")
        .args(["-u", "hostname", "nightshift-probe"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// `run` on the shared queue, as host `name` when host names can be given.
fn spawn_runner(env: &Env, db: &str, name: &str, named: bool) -> Child {
    let base = cmd(env, Some(db));
    let mut c = if named {
        let mut c = Command::new("unshare");
        c.args(["-u", "sh", "-c", "hostname \"$0\" && exec \"$@\"", name]);
        c.arg(base.get_program());
        c.args(base.get_args());
        for (k, v) in base.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    } else {
        base
    };
    c.args(RUN_ARGS)
        .env("NIGHTSHIFT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.dir.path().join("run.log")).unwrap())
        .spawn()
        .expect("spawn run")
}

#[test]
fn three_hosts_drain_one_postgres_queue_through_a_kill_and_match_a_single_host_run() {
    let db = ScratchDb::new("multihost");
    let work = tempfile::TempDir::new().unwrap();
    let inputs_dir = work.path().join("inputs");
    std::fs::create_dir_all(&inputs_dir).unwrap();
    let files = inputs(&inputs_dir);

    // The single-host SQLite run every host's result must equal.
    let single = Env::new();
    let t0 = Instant::now();
    for f in &files {
        run_ok(cmd(&single, None).args(ADD_ARGS).arg(f));
    }
    run_ok(cmd(&single, None).args(RUN_ARGS));
    let single_s = t0.elapsed().as_secs_f64();
    let expected = documents(&single, None);
    assert_eq!(expected.len(), 4);

    // Host A adds; then its home and the inputs disappear from where the runners could see
    // them: the runners get everything through the database.
    let adder = host_env();
    for f in &files {
        run_ok(cmd(&adder, Some(&db.url)).args(ADD_ARGS).arg(f));
    }
    // Every completion is logged, so a job completed twice would show.
    psql(
        &db.url,
        "CREATE TABLE completions (job_id bigint, at timestamptz DEFAULT clock_timestamp());
         CREATE FUNCTION log_completion() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO completions (job_id) VALUES (NEW.job_id); RETURN NULL; END $$;
         CREATE TRIGGER jobs_completion AFTER UPDATE OF status ON jobs FOR EACH ROW
             WHEN (NEW.status = 'COMPLETED' AND OLD.status <> 'COMPLETED')
             EXECUTE FUNCTION log_completion();",
    );
    let hidden_home = work.path().join("adder-home-gone");
    let hidden_inputs = work.path().join("inputs-gone");
    std::fs::rename(adder.home(), &hidden_home).unwrap();
    std::fs::rename(&inputs_dir, &hidden_inputs).unwrap();

    let named = can_name_hosts();
    eprintln!("separate host names: {named}");
    let hosts: Vec<Env> = (0..3).map(|_| host_env()).collect();
    let t0 = Instant::now();
    let mut runners: Vec<Child> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            spawn_runner(
                h,
                &db.url,
                &format!("host-{}", (b'b' + i as u8) as char),
                named,
            )
        })
        .collect();

    // Kill the first host's Foreman once it holds a job (mid-batch).
    let victim_pid = runners[0].id();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let held = query(
            &db.url,
            &format!(
                "SELECT count(*) FROM jobs WHERE status = 'PROCESSING'
                 AND lease_owner LIKE '%:{victim_pid}:%'"
            ),
        )[0]
        .get::<_, i64>(0);
        if held > 0 {
            break;
        }
        assert!(
            runners[0].try_wait().unwrap().is_none(),
            "the first host finished before it held a job"
        );
        assert!(
            Instant::now() < deadline,
            "the first host never claimed a job"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(victim_pid as i32, libc::SIGKILL) };
    runners[0].wait().unwrap();
    eprintln!("killed host-b's Foreman mid-batch");

    for (i, r) in runners.iter_mut().enumerate().skip(1) {
        let deadline = Instant::now() + DRAIN_LIMIT;
        loop {
            if let Some(st) = r.try_wait().unwrap() {
                let log = std::fs::read_to_string(hosts[i].dir.path().join("run.log"))
                    .unwrap_or_default();
                assert!(st.success(), "host {i} failed:\n{log}");
                break;
            }
            assert!(Instant::now() < deadline, "host {i} did not drain");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let multi_s = t0.elapsed().as_secs_f64();
    eprintln!(
        "single host (SQLite) {single_s:.1} s; three hosts (PostgreSQL, one killed) {multi_s:.1} s"
    );

    // Every chunk job done exactly once; nothing left behind.
    let left: i64 = query(
        &db.url,
        "SELECT count(*) FROM jobs WHERE status NOT IN ('COMPLETED')",
    )[0]
    .get(0);
    assert_eq!(left, 0, "jobs not completed");
    let twice: i64 = query(
        &db.url,
        "SELECT count(*) FROM (SELECT job_id FROM completions GROUP BY job_id HAVING count(*) > 1) d",
    )[0]
    .get(0);
    assert_eq!(twice, 0, "a job was completed twice");
    let dup_chunks: i64 = query(
        &db.url,
        "SELECT count(*) FROM (SELECT meeting_id, seq FROM jobs WHERE model_key = 'whisper'
                                GROUP BY meeting_id, seq HAVING count(*) > 1) d",
    )[0]
    .get(0);
    assert_eq!(dup_chunks, 0, "a chunk has two jobs");
    // `show` anywhere (here: the last host) equals the single-host run, meeting by meeting.
    let got = documents(&hosts[2], Some(&db.url));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (title, doc) in &expected {
        assert_eq!(
            &got[title], doc,
            "{title}: the three-host result differs from the single-host one"
        );
    }

    // `doctor` on a host says the shared database is reachable, and what to fix when not.
    let doctor = cmd(&hosts[2], Some(&db.url))
        .arg("doctor")
        .output()
        .unwrap();
    let report = stdout(&doctor);
    assert!(report.contains("reachable, schema v"), "{report}");
    assert!(
        !report.contains(&pg_admin_url()),
        "the password is shown: {report}"
    );
    let down = cmd(&hosts[2], Some("postgres://nightshift:pw@127.0.0.1:1/x"))
        .arg("doctor")
        .output()
        .unwrap();
    let report = stdout(&down) + &stderr(&down);
    assert!(!down.status.success(), "{report}");
    assert!(
        report.contains("cannot reach the database") && report.contains("NIGHTSHIFT_DB"),
        "{report}"
    );

    // `db migrate`: the three-host queue back to a SQLite file, and the single host's SQLite
    // home through PostgreSQL and back; a re-run copies nothing twice.
    let back = work.path().join("from-postgres.db");
    let back_url = format!("sqlite:{}", back.display());
    migrate(&hosts[2], &db.url, &back_url);
    assert_eq!(documents(&hosts[2], Some(&back_url)), expected);
    let via = ScratchDb::new("migrate");
    let single_url = format!("sqlite:{}", single.home().join("nightshift.db").display());
    let first = migrate(&single, &single_url, &via.url);
    assert!(first.contains("4 meetings copied"), "{first}");
    let again = migrate(&single, &single_url, &via.url);
    assert!(
        again.contains("0 meetings copied") && again.contains("4 already there"),
        "{again}"
    );
    let round = work.path().join("round-trip.db");
    let round_url = format!("sqlite:{}", round.display());
    migrate(&single, &via.url, &round_url);
    assert_eq!(documents(&single, Some(&round_url)), expected);
    assert_eq!(documents(&single, Some(&via.url)), expected);

    // `rm` on any host drops the meeting's stored media too.
    let media = |url: &str| query(url, "SELECT count(*) FROM media_files")[0].get::<_, i64>(0);
    let before = media(&db.url);
    let status: Value = serde_json::from_str(&run_ok(
        cmd(&hosts[1], Some(&db.url)).args(["status", "--json"]),
    ))
    .unwrap();
    let m2 = status["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["title"] == "m2")
        .expect("meeting m2")["meeting_id"]
        .as_str()
        .unwrap()
        .to_string();
    run_ok(cmd(&hosts[1], Some(&db.url)).args(["rm", &m2]));
    let after = media(&db.url);
    assert!(
        after < before,
        "rm left the media store at {after} of {before} files"
    );
}

fn migrate(env: &Env, from: &str, to: &str) -> String {
    let out = run_ok(cmd(env, None).args(["db", "migrate", "--from", from, "--to", to]));
    eprintln!("{}", out.trim());
    out
}
