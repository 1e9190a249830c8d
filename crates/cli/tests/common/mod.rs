#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `../shared` beside the repo; a test that needs it fails (never skips) when it is missing.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("NIGHTSHIFT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"));
    assert!(
        dir.join("models").is_dir() && dir.join("corpus").is_dir(),
        "{}: shared test assets (models/, corpus/) not found; they must sit beside the repo",
        dir.display()
    );
    dir
}

pub fn corpus(rel: &str) -> PathBuf {
    let p = shared().join("corpus").join(rel);
    assert!(p.exists(), "{}: corpus file missing", p.display());
    p
}

/// A nightshift home in a temp dir, with the shared models.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::TempDir::new().unwrap(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nightshift"));
        c.arg("--home").arg(self.home());
        c.env("NIGHTSHIFT_MODELS", shared().join("models"));
        c.env_remove("NIGHTSHIFT_HOME");
        c.env("NIGHTSHIFT_LOG", "warn");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run nightshift")
    }

    pub fn add(&self, file: &Path) -> String {
        let out = self.cmd().arg("add").arg(file).output().unwrap();
        assert!(
            out.status.success(),
            "add {} failed: {}",
            file.display(),
            stderr(&out)
        );
        stdout(&out).trim().to_string()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", stdout(&out)))
    }

    /// Transcription only: tests that judge transcripts skip the summary stage's LLM work.
    pub fn run_audio_until_idle(&self) {
        let out = self.run(&["run", "--until-idle", "--only", "audio"]);
        assert!(out.status.success(), "run failed: {}", stderr(&out));
    }

    pub fn run_until_idle(&self) {
        let out = self.run(&["run", "--until-idle"]);
        assert!(out.status.success(), "run failed: {}", stderr(&out));
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn sha256(path: &Path) -> String {
    nightshift_media::sha256_file(path).unwrap()
}

/// The statuses of a meeting's AUDIO jobs from `status --json`.
pub fn job_statuses(status: &serde_json::Value) -> Vec<String> {
    status["meetings"][0]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| is_chunk_job(j))
        .map(|j| j["status"].as_str().unwrap().to_string())
        .collect()
}

/// An AUDIO job that transcribes a chunk (not the meeting's diarization job).
pub fn is_chunk_job(job: &serde_json::Value) -> bool {
    job["task_type"] == "AUDIO" && job["model_key"] == "whisper"
}

/// Run `cmd` to completion with its output captured; a command still running after `limit`
/// is killed and the test fails (a hang is the defect being tested for).
pub fn output_within(mut cmd: Command, limit: std::time::Duration) -> Output {
    use std::process::Stdio;
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{cmd:?} still running after {limit:?}");
        }
    }
}

/// Corpus clips joined into one WAV in `dir` (16 kHz mono): a recording long enough to be
/// summarised (the single clips are under the summary's minimum word count).
pub fn joined_clips(dir: &Path, rels: &[&str]) -> PathBuf {
    let out = dir.join("joined.wav");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-loglevel", "error", "-y"]);
    for rel in rels {
        cmd.arg("-i").arg(corpus(rel));
    }
    let inputs: String = (0..rels.len()).map(|i| format!("[{i}:a]")).collect();
    cmd.args([
        "-filter_complex",
        &format!("{inputs}concat=n={}:v=0:a=1,aresample=16000", rels.len()),
        "-ac",
        "1",
    ])
    .arg(&out);
    let status = cmd.status().expect("ffmpeg runs");
    assert!(status.success(), "joining {rels:?}");
    out
}

/// Three English corpus clips, about 15 s and 40 words.
pub const THREE_CLIPS: [&str; 3] = [
    "tts/tts_01_en-us_s150.wav",
    "tts/tts_02_en-gb_s175.wav",
    "tts/tts_05_en-gb-scotland_m2_s190.wav",
];
