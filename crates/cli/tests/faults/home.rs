//! The trial home and what runs in it: the inputs (short cuts of corpus meetings, a video and a
//! recording), a tmpfs mounted for the home, the processes a user would start, and the
//! fault-makers (disk filler, database lock holder, process finder).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{Env, corpus, sha256};

/// Bytes of 16 kHz mono s16le a second.
pub const REC_RATE: usize = 32_000;

/// The inputs every trial adds, cut once per test process.
pub struct Inputs {
    _dir: tempfile::TempDir,
    /// Audio meetings and the video, with their titles.
    pub files: Vec<(String, PathBuf)>,
    /// What `record --source -` is fed (s16le, 16 kHz, mono).
    pub recording: Vec<u8>,
    /// A clip the daemon transcribes.
    pub clip: PathBuf,
    /// sha256 of every input file, checked unchanged after each trial.
    pub hashes: Vec<(PathBuf, String)>,
}

pub fn inputs() -> &'static Inputs {
    static INPUTS: OnceLock<Inputs> = OnceLock::new();
    INPUTS.get_or_init(cut_inputs)
}

fn cut_inputs() -> Inputs {
    let dir = tempfile::TempDir::new().unwrap();
    let d = dir.path();
    let pcm = ["-ac", "1", "-ar", "16000"];
    let mut files = Vec::new();
    // A summarised meeting (enough words for the model, two chunks), a short MP3 one, a video
    // (two scenes); with the live recording, three audio meetings. Each more costs every trial
    // its whisper, diarization and events work: 200 trials are to fit in an hour on two cores.
    let cuts: [(&str, &str, &str, &[&str], &str); 3] = [
        ("m1", "meetings/meeting_01.wav", "0", &pcm, "m1.wav"),
        (
            "m3",
            "meetings/meeting_03.mp3",
            "10",
            &["-c:a", "libmp3lame", "-b:a", "64k"],
            "m3.mp3",
        ),
        (
            "v1",
            "video/video_01_slides.mp4",
            "0",
            &["-c", "copy"],
            "v1.mp4",
        ),
    ];
    for (title, src, start, codec, name) in cuts {
        let len = if title == "m1" { "20" } else { "9" };
        let out = d.join(name);
        let len = if title == "v1" { "10" } else { len };
        let mut args = vec!["-ss", start, "-t", len];
        args.extend_from_slice(codec);
        // -ss/-t before -i seek the input; the codec options apply to the output.
        ffmpeg_cut(&args, &corpus(src), &out);
        files.push((title.to_string(), out));
    }
    let raw = d.join("rec.raw");
    ffmpeg_cut(
        &[
            "-ss", "60", "-t", "12", "-f", "s16le", "-ac", "1", "-ar", "16000",
        ],
        &corpus("meetings/meeting_01.wav"),
        &raw,
    );
    let recording = std::fs::read(&raw).unwrap();
    let clip = corpus("tts/tts_01_en-us_s150.wav");
    let mut hashes: Vec<(PathBuf, String)> =
        files.iter().map(|(_, p)| (p.clone(), sha256(p))).collect();
    hashes.push((clip.clone(), sha256(&clip)));
    Inputs {
        _dir: dir,
        files,
        recording,
        clip,
        hashes,
    }
}

fn ffmpeg_cut(args: &[&str], input: &Path, out: &Path) {
    // args[..4] are the input's -ss/-t.
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y"])
        .args(&args[..4])
        .arg("-i")
        .arg(input)
        .args(&args[4..])
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success(), "cutting {}", input.display());
}

/// A tmpfs mounted at the home, unmounted (lazily) when dropped.
pub struct SmallDisk(PathBuf);

impl SmallDisk {
    pub fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "the fault harness mounts a small tmpfs for each trial's home (needs root, as CI runs)"
        );
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A child process killed and reaped when dropped, so a failed trial leaves nothing running.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, which is not yet reaped.
        unsafe { libc::kill(self.pid(), sig) };
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// One trial's home on its own tmpfs.
pub struct TrialHome {
    // Unmounted before the temp dir under it is removed (fields drop in order).
    _disk: SmallDisk,
    pub env: Env,
}

impl TrialHome {
    pub fn new() -> TrialHome {
        let env = Env::new();
        let disk = SmallDisk::mount(&env.home(), "48m");
        // Greedy summaries: the same output every run, and the llama worker then checks the
        // grammar on the chosen token only (half the generation time of sampling).
        std::fs::write(
            env.home().join("config.toml"),
            "[profiles.dev.summary]\ntemperature = 0.0\n",
        )
        .unwrap();
        TrialHome { env, _disk: disk }
    }

    pub fn db(&self) -> PathBuf {
        self.env.home().join("nightshift.db")
    }

    /// The audit trigger: every transition to COMPLETED leaves a row, so a job completed twice
    /// shows even when its second result overwrote the first. Installed once the database
    /// exists, before `run` starts.
    pub fn install_audit(&self) {
        let c = rusqlite::Connection::open(self.db()).unwrap();
        c.busy_timeout(Duration::from_secs(30)).unwrap();
        c.execute_batch(
            "CREATE TABLE fault_audit (job_id INTEGER NOT NULL, at REAL NOT NULL);
             CREATE TRIGGER fault_audit_completed AFTER UPDATE OF status ON jobs
             WHEN new.status = 'COMPLETED' AND old.status <> 'COMPLETED'
             BEGIN INSERT INTO fault_audit VALUES (new.job_id, unixepoch('subsec')); END;
             CREATE TRIGGER fault_audit_inserted AFTER INSERT ON jobs
             WHEN new.status = 'COMPLETED'
             BEGIN INSERT INTO fault_audit VALUES (new.job_id, unixepoch('subsec')); END;",
        )
        .unwrap();
    }
}

/// `nightshift record --source -` fed from a thread at 4× real time.
pub struct Recorder {
    pub proc: Proc,
    /// Bytes written into the pipe so far.
    pub fed: Arc<AtomicUsize>,
    pub feeder: Option<JoinHandle<()>>,
}

impl Recorder {
    pub fn start(
        home: &TrialHome,
        audio: &'static [u8],
        env: Option<(String, String)>,
    ) -> Recorder {
        let mut cmd = home.env.cmd();
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .args(["record", "--source", "-", "--format", "s16le:16000:1"])
            .args(["--chunk", "4s", "--title", "rec"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start record");
        let mut stdin = child.stdin.take().unwrap();
        let fed = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&fed);
        // A quarter second of audio every 1/16 s.
        let feeder = std::thread::spawn(move || {
            for piece in audio.chunks(REC_RATE / 4) {
                if stdin.write_all(piece).is_err() {
                    return;
                }
                count.fetch_add(piece.len(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_micros(62_500));
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim().len(),
            12,
            "record prints the meeting id: {line:?}"
        );
        Recorder {
            proc: Proc { child },
            fed,
            feeder: Some(feeder),
        }
    }
}

/// The home's filesystem filled to the last byte; [`DiskFiller::free`] gives it back.
pub struct DiskFiller(PathBuf);

impl DiskFiller {
    pub fn fill(home: &Path) -> DiskFiller {
        let path = home.join("fault-filler");
        let mut f = std::fs::File::create(&path).unwrap();
        for size in [1 << 20, 4096, 1] {
            let block = vec![0u8; size];
            while f.write_all(&block).is_ok() {}
        }
        let _ = f.sync_all();
        DiskFiller(path)
    }

    pub fn free(self) {
        std::fs::remove_file(&self.0).unwrap();
    }
}

/// A connection from the test process holding `BEGIN EXCLUSIVE` until `until`.
pub fn hold_exclusive_lock(db: &Path, until: Instant) -> JoinHandle<Result<(), String>> {
    let db = db.to_path_buf();
    std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&db).map_err(|e| e.to_string())?;
        c.busy_timeout(Duration::from_secs(60))
            .map_err(|e| e.to_string())?;
        c.execute_batch("BEGIN EXCLUSIVE")
            .map_err(|e| e.to_string())?;
        let left = until.saturating_duration_since(Instant::now());
        std::thread::sleep(left);
        c.execute_batch("COMMIT").map_err(|e| e.to_string())
    })
}

/// The worker processes of `run` (its children named `nightshift-*`), by pid.
pub fn workers_of(run_pid: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // comm is in parentheses and may hold spaces; the fields after it are plain.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let ppid = stat[close + 2..]
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(run_pid) && comm.starts_with("nightshift-") {
            out.push((pid, comm.to_string()));
        }
    }
    out.sort();
    out
}

/// The pid in `<home>/run/daemon.json`, if a daemon wrote one.
pub fn daemon_pid(home: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(home.join("run/daemon.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["pid"].as_i64().map(|p| p as i32)
}

/// Whether process `pid` exists (and is not a zombie we could still reap).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rfind(')')
            .is_some_and(|c| stat[c + 2..].starts_with('Z')),
        Err(_) => false,
    }
}

/// Stop the home's daemon, if one runs, and wait until it is gone.
pub fn stop_daemon(home: &Path) {
    let Some(pid) = daemon_pid(home) else { return };
    // SAFETY: plain kill(2); the pid is the daemon's, which the home's lock makes unique.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let t0 = Instant::now();
    while alive(pid) && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}
