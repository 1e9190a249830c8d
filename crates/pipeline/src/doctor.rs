//! What `nightshift doctor` checks: tools, worker binaries, models, speaker models, an LLM
//! server, the GPU, disk space and the database — each with what to do when it is missing.

use std::process::{Command, Stdio};

use nightshift_queue::Queue;

use crate::config::{Config, Profile};
use crate::home::Home;

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    /// Essential checks make `doctor` exit 1 when they fail.
    pub essential: bool,
}

impl Check {
    /// A check from a lookup: found (its path or value) or not (the reason, with the fix).
    fn found<T: std::fmt::Display, E: std::fmt::Display>(
        name: &'static str,
        essential: bool,
        r: Result<T, E>,
    ) -> Check {
        let (ok, detail) = match r {
            Ok(v) => (true, v.to_string()),
            Err(e) => (false, e.to_string()),
        };
        Check {
            name,
            ok,
            detail,
            essential,
        }
    }
}

/// Every check, in the order `doctor` prints them.
pub fn checks(home: &Home) -> Vec<Check> {
    let mut checks = vec![tool("ffmpeg"), tool("ffprobe")];
    checks.extend(workers());
    let config = Config::load(home).unwrap_or_default();
    let mut profile = config.selected_profile(None).unwrap_or_else(|_| {
        Config::default()
            .profile("dev")
            .expect("built-in dev profile")
    });
    // What `run` would load: an uninstalled CTranslate2 model gives way to whisper.cpp's.
    profile.settle_asr_model(home);
    checks.extend(models(home, &profile));
    if config.speakers.enabled {
        // Without them meetings still get transcripts and summaries, only no speakers.
        let found = crate::speakers::load_message(home, &config.speakers, 1).map(|l| {
            std::path::Path::new(&l.segmentation_path)
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        });
        checks.push(Check::found("speaker models", false, found));
    }
    if let Some(c) = llm_server(&profile.summary) {
        checks.push(c);
    }
    checks.push(gpu());
    checks.push(disk(home));
    checks.push(database(home));
    checks
}

fn workers() -> Vec<Check> {
    let mut checks = Vec::new();
    // The frames worker is not essential: without it scene detection uses the ffmpeg CLI.
    for (name, bin, essential) in [
        ("whisper worker", "nightshift-whisper-worker", true),
        ("llama worker", "nightshift-llama-worker", true),
        ("diarize worker", "nightshift-diarize-worker", true),
        ("frames worker", nightshift_supervisor::FRAMES_WORKER, false),
        // Only for CTranslate2 speech models (asr_engine = "ct2").
        (
            "CTranslate2 worker",
            nightshift_supervisor::CT2_WORKER,
            false,
        ),
    ] {
        let found = nightshift_supervisor::find_worker_binary(bin).map(|p| p.display().to_string());
        checks.push(Check::found(name, essential, found));
    }
    checks
}

/// The profile's model files: ASR, VAD, and a local LLM and vision model when configured.
fn models(home: &Home, profile: &Profile) -> Vec<Check> {
    let mut checks = Vec::new();
    let llm = match profile.summary.backend {
        crate::config::Backend::Local => profile.summary.model.clone(),
        // A server owns its model; nothing to find locally.
        _ => String::new(),
    };
    // A local vision model needs its GGUF and its projector; servers own theirs.
    let local_vision = profile.vision.backend == crate::config::VisionBackend::Local;
    let (vlm, mmproj) = if local_vision {
        (
            profile.vision.model.clone(),
            profile.vision.mmproj.clone().unwrap_or_default(),
        )
    } else {
        (String::new(), String::new())
    };
    if local_vision && mmproj.is_empty() {
        checks.push(Check {
            name: "vision projector",
            ok: false,
            detail: "vision.backend = \"local\" needs vision.mmproj (the model's mmproj GGUF)"
                .into(),
            essential: false,
        });
    }
    for (name, model, essential) in [
        ("ASR model", profile.asr_model.as_str(), true),
        ("VAD model", "silero-vad", false),
        ("LLM model", llm.as_str(), false),
        ("vision model", vlm.as_str(), false),
        ("vision projector", mmproj.as_str(), false),
    ] {
        if model.is_empty() {
            continue;
        }
        let found = home.find_model(model).map(|p| p.display().to_string());
        checks.push(Check::found(name, essential, found));
    }
    checks
}

fn tool(name: &'static str) -> Check {
    let ran = Command::new(name)
        .arg("-version")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output();
    match ran {
        Ok(out) if out.status.success() => {
            let first = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            Check {
                name,
                ok: true,
                detail: first,
                essential: true,
            }
        }
        _ => Check {
            name,
            ok: false,
            detail: format!(
                "{name} not found on PATH: install it (Debian/Ubuntu: apt-get install -y ffmpeg)"
            ),
            essential: true,
        },
    }
}

/// A summary server configured in the profile must answer.
fn llm_server(cfg: &crate::config::SummaryConfig) -> Option<Check> {
    use nightshift_llm_http::{Api, Client, Endpoint};
    let api = match cfg.backend {
        crate::config::Backend::Local => return None,
        crate::config::Backend::Ollama => Api::Ollama,
        crate::config::Backend::Openai => Api::OpenAi,
    };
    let endpoint = Endpoint {
        timeout: std::time::Duration::from_secs(5),
        retries: 0,
        ..Endpoint::new(api, cfg.server_url(), cfg.model.clone())
    };
    let (ok, detail) = match Client::new(endpoint).ping() {
        Ok(()) => (
            true,
            format!("{} answers ({} API)", cfg.server_url(), api.name()),
        ),
        Err(e) => (false, format!("{e}: start the server or fix summary.url")),
    };
    Some(Check {
        name: "LLM server",
        ok,
        detail,
        essential: false,
    })
}

fn gpu() -> Check {
    let detail = match nightshift_gpu::probe() {
        nightshift_gpu::Probe::Gpus(gpus) => gpus
            .iter()
            .map(|g| {
                format!(
                    "GPU {}: {}, {:.1} GiB total, {:.1} GiB free (workers use it when built with --features cuda)",
                    g.index,
                    g.name,
                    g.total_bytes as f64 / (1u64 << 30) as f64,
                    g.free_bytes as f64 / (1u64 << 30) as f64
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        nightshift_gpu::Probe::Unavailable(why) => {
            format!("no GPU: {why}; running on CPU (the budget applies to RAM)")
        }
    };
    Check {
        name: "gpu",
        ok: true,
        detail,
        essential: false,
    }
}

fn disk(home: &Home) -> Check {
    let probe = if home.root.exists() {
        home.root.clone()
    } else {
        std::env::temp_dir()
    };
    let free = free_bytes(&probe);
    match free {
        Some(b) => {
            let gib = b as f64 / (1u64 << 30) as f64;
            Check {
                name: "disk",
                ok: gib >= 1.0,
                detail: format!(
                    "{gib:.1} GiB free at {}{}",
                    probe.display(),
                    if gib < 1.0 {
                        ": free some space (chunks need ~60 MB per hour)"
                    } else {
                        ""
                    }
                ),
                essential: false,
            }
        }
        None => Check {
            name: "disk",
            ok: true,
            detail: "free space unknown".into(),
            essential: false,
        },
    }
}

pub fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct we pass; the path is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0)
        .then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

fn database(home: &Home) -> Check {
    let db = match home.db_url() {
        Ok(db) => db,
        Err(e) => {
            return Check {
                name: "database",
                ok: false,
                detail: format!("{e:#}"),
                essential: true,
            };
        }
    };
    if let Some(path) = db.sqlite_path()
        && !path.exists()
    {
        return Check {
            name: "database",
            ok: true,
            detail: format!(
                "{}: not created yet (first `add` creates it)",
                path.display()
            ),
            essential: false,
        };
    }
    let t0 = std::time::Instant::now();
    let opened = Queue::open_existing(&db);
    let connect_ms = t0.elapsed().as_secs_f64() * 1e3;
    let checked = opened.and_then(|q| {
        let t1 = std::time::Instant::now();
        q.integrity_check()?;
        q.status_counts(None)?;
        Ok(t1.elapsed().as_secs_f64() * 1e3)
    });
    match (checked, db.is_postgres()) {
        (Ok(_), false) => Check {
            name: "database",
            ok: true,
            detail: format!("{db}: integrity ok"),
            essential: true,
        },
        (Ok(query_ms), true) => Check {
            name: "database",
            ok: true,
            detail: format!(
                "{db}: reachable, schema v{} (connect {connect_ms:.0} ms, queries {query_ms:.1} ms)",
                nightshift_queue::PG_SCHEMA_VERSION
            ),
            essential: true,
        },
        (Err(e), pg) => Check {
            name: "database",
            ok: false,
            detail: match (&e, pg) {
                (nightshift_queue::QueueError::Unreachable { .. }, true) => format!(
                    "{e} (is the server running and the URL in --db / NIGHTSHIFT_DB / [queue] url right?)"
                ),
                _ => e.to_string(),
            },
            essential: true,
        },
    }
}
