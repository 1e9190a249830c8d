//! The daemon's spool directory, for scripts that prefer files to HTTP:
//! `requests/<id>.json` (`{"id"?, "file": PATH}` or `{"files": [PATH, ...]}`, written by the
//! client via temp file + rename) → `responses/<id>.json` (`id, results, timestamp, device,
//! session_active`, written atomically), and `status.json`. A request is claimed by renaming it
//! into `processing/`; claims left by a daemon that died are answered again at start. Requests
//! older than an hour and responses older than a day are removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::model::{Job, Reply};

const STALE_REQUEST: Duration = Duration::from_secs(3600);
const OLD_RESPONSE: Duration = Duration::from_secs(24 * 3600);

pub struct Spool {
    root: PathBuf,
}

impl Spool {
    pub fn open(root: &Path) -> Result<Spool> {
        for d in ["requests", "responses", "processing"] {
            std::fs::create_dir_all(root.join(d))
                .with_context(|| format!("{}: cannot create", root.join(d).display()))?;
        }
        // Claims of a daemon that died mid-request: answer them again.
        for f in list(&root.join("processing"), "json") {
            let _ = std::fs::rename(
                &f,
                root.join("requests")
                    .join(f.file_name().unwrap_or_default()),
            );
        }
        Ok(Spool {
            root: root.to_path_buf(),
        })
    }

    /// Claim every waiting request, oldest name first; malformed or stale ones are answered
    /// with an error at once.
    pub fn take_requests(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        let mut files = list(&self.root.join("requests"), "json");
        files.sort();
        for f in files {
            let stem = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let claimed = self
                .root
                .join("processing")
                .join(f.file_name().unwrap_or_default());
            if std::fs::rename(&f, &claimed).is_err() {
                continue; // another reader, or it vanished
            }
            let text = std::fs::read_to_string(&claimed).unwrap_or_default();
            let _ = std::fs::remove_file(&claimed);
            let parsed: Option<Value> = serde_json::from_str(&text).ok();
            let id = parsed
                .as_ref()
                .and_then(|v| v["id"].as_str().map(str::to_string))
                .unwrap_or(stem);
            let out = self
                .root
                .join("responses")
                .join(format!("{}.json", safe(&id)));
            if age(&claimed).is_some_and(|a| a > STALE_REQUEST) {
                self.answer_error(&out, &id, "stale request (waited more than an hour)");
                continue;
            }
            let Some(v) = parsed else {
                self.answer_error(&out, &id, "request is not JSON");
                continue;
            };
            let files: Vec<PathBuf> = match (&v["file"], &v["files"]) {
                (Value::String(f), _) => vec![PathBuf::from(f)],
                (_, Value::Array(fs)) => fs
                    .iter()
                    .filter_map(|f| f.as_str())
                    .map(PathBuf::from)
                    .collect(),
                _ => Vec::new(),
            };
            if files.is_empty() {
                self.answer_error(&out, &id, "request names no `file` or `files`");
                continue;
            }
            jobs.push(Job {
                reply: Reply::Spool { id, out },
                files,
                owned: false,
                response_format: "verbose_json".into(),
                prompt: v["prompt"].as_str().map(str::to_string),
                received: Instant::now(),
            });
        }
        for f in list(&self.root.join("responses"), "json") {
            if age(&f).is_some_and(|a| a > OLD_RESPONSE) {
                let _ = std::fs::remove_file(f);
            }
        }
        jobs
    }

    pub fn write_status(&self, status: &Value) {
        let _ = crate::fsutil::write_atomic(
            &self.root.join("status.json"),
            status.to_string().as_bytes(),
        );
    }

    fn answer_error(&self, out: &Path, id: &str, message: &str) {
        let doc = json!({"id": id, "results": [], "error": message, "timestamp": now()});
        let _ = crate::fsutil::write_atomic(out, doc.to_string().as_bytes());
    }
}

fn list(dir: &Path, ext: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default()
}

fn age(p: &Path) -> Option<Duration> {
    std::fs::metadata(p).ok()?.modified().ok()?.elapsed().ok()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An id usable as a file name.
fn safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
