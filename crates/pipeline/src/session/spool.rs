//! The daemon's spool directory, for scripts that prefer files to HTTP:
//! `requests/<id>.json` (`{"id"?, "file": PATH}` or `{"files": [PATH, ...]}`, written by the
//! client via temp file + rename) → `responses/<id>.json` (`id, results, timestamp, device,
//! session_active`, written atomically), and `status.json`. A request is claimed by renaming it
//! into `processing/`; claims left by a daemon that died are answered again at start. Requests
//! older than an hour and responses older than a day are removed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::model::{Job, Reply};

const STALE_REQUEST: Duration = Duration::from_secs(3600);
const OLD_RESPONSE: Duration = Duration::from_secs(24 * 3600);
/// A request names a few files; anything larger is not one.
const MAX_REQUEST_BYTES: u64 = 1 << 20;
/// Ids longer than this are cut (the response's file name is made from the id).
const MAX_ID_CHARS: usize = 128;

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
            let stale = age(&claimed).is_some_and(|a| a > STALE_REQUEST);
            let text = read_request(&claimed);
            let _ = std::fs::remove_file(&claimed);
            let (id, parsed) = match text {
                Ok(text) => parse_request(&text, &stem),
                Err(why) => (stem, Err(why)),
            };
            let out = self
                .root
                .join("responses")
                .join(format!("{}.json", safe(&id)));
            if stale {
                self.answer_error(&out, &id, "stale request (waited more than an hour)");
                continue;
            }
            let request = match parsed {
                Ok(request) => request,
                Err(why) => {
                    self.answer_error(&out, &id, &why);
                    continue;
                }
            };
            jobs.push(Job {
                reply: Reply::Spool { id, out },
                files: request.files,
                owned: false,
                response_format: "verbose_json".into(),
                prompt: request.prompt,
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

/// What a spooled request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolRequest {
    pub files: Vec<PathBuf>,
    pub prompt: Option<String>,
}

/// A request file's text: a regular file of at most `MAX_REQUEST_BYTES`. Anything else that
/// lands in `requests/` (a named pipe, a link to a device, a huge file) is refused without
/// blocking or reading it whole.
fn read_request(path: &Path) -> Result<String, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read request: {e}"))?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "request is {}, not a regular file",
            nightshift_media::file_kind(meta.file_type())
        ));
    }
    if meta.len() > MAX_REQUEST_BYTES {
        return Err(format!(
            "request is {} bytes (limit {MAX_REQUEST_BYTES})",
            meta.len()
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_REQUEST_BYTES).read_to_string(&mut text))
        .map_err(|e| format!("cannot read request: {e}"))?;
    Ok(text)
}

/// A request's id (its own `id`, else the file's stem) and what it asks for, or why it is
/// refused. Pure; the fuzz target calls it on arbitrary bytes.
pub fn parse_request(text: &str, stem: &str) -> (String, Result<SpoolRequest, String>) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return (stem.to_string(), Err("request is not JSON".into()));
    };
    let id = v["id"].as_str().map_or_else(
        || stem.to_string(),
        |s| s.chars().take(MAX_ID_CHARS).collect(),
    );
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
        return (id, Err("request names no `file` or `files`".into()));
    }
    let prompt = v["prompt"].as_str().map(str::to_string);
    (id, Ok(SpoolRequest { files, prompt }))
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
