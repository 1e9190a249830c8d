//! `nightshift doctor`: what is missing and how to fix it, one line per check.

use std::process::{Command, ExitCode, Stdio};

use anyhow::Result;
use nightshift_queue::Queue;

use nightshift_pipeline::home::Home;

struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
    /// Essential checks make `doctor` exit 1 when they fail.
    essential: bool,
}

pub fn run(home: &Home) -> Result<ExitCode> {
    let mut checks = vec![tool("ffmpeg"), tool("ffprobe")];
    // The frames worker is not essential: without it scene detection uses the ffmpeg CLI.
    for (name, bin, essential) in [
        ("whisper worker", "nightshift-whisper-worker", true),
        ("llama worker", "nightshift-llama-worker", true),
        ("diarize worker", "nightshift-diarize-worker", true),
        (
            "frames worker",
            nightshift_video::frames::FRAMES_WORKER,
            false,
        ),
    ] {
        checks.push(match nightshift_supervisor::find_worker_binary(bin) {
            Ok(p) => Check {
                name,
                ok: true,
                detail: p.display().to_string(),
                essential,
            },
            Err(e) => Check {
                name,
                ok: false,
                detail: e.to_string(),
                essential,
            },
        });
    }
    let config = nightshift_pipeline::config::Config::load(home).unwrap_or_default();
    let profile = config.selected_profile(None).unwrap_or_else(|_| {
        nightshift_pipeline::config::Config::default()
            .profile("dev")
            .expect("built-in dev profile")
    });
    let llm = match profile.summary.backend {
        nightshift_pipeline::config::Backend::Local => profile.summary.model.clone(),
        // A server owns its model; nothing to find locally.
        _ => String::new(),
    };
    // A local vision model needs its GGUF and its projector; servers own theirs.
    let local_vision = profile.vision.backend == nightshift_pipeline::config::VisionBackend::Local;
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
        checks.push(match home.find_model(model) {
            Ok(p) => Check {
                name,
                ok: true,
                detail: p.display().to_string(),
                essential,
            },
            Err(e) => Check {
                name,
                ok: false,
                detail: e.to_string(),
                essential,
            },
        });
    }
    if config.speakers.enabled {
        // Without them meetings still get transcripts and summaries, only no speakers.
        checks.push(
            match nightshift_pipeline::speakers::load_message(home, &config.speakers, 1) {
                Ok(l) => Check {
                    name: "speaker models",
                    ok: true,
                    detail: std::path::Path::new(&l.segmentation_path)
                        .parent()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default(),
                    essential: false,
                },
                Err(e) => Check {
                    name: "speaker models",
                    ok: false,
                    detail: e.to_string(),
                    essential: false,
                },
            },
        );
    }
    if let Some(c) = llm_server(&profile.summary) {
        checks.push(c);
    }
    checks.push(gpu());
    checks.push(disk(home));
    checks.push(database(home));
    let mut bad = false;
    for c in &checks {
        let mark = if c.ok {
            "ok"
        } else if c.essential {
            "MISSING"
        } else {
            "note"
        };
        println!("{:<8} {:<15} {}", mark, c.name, c.detail);
        bad |= c.essential && !c.ok;
    }
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
fn llm_server(cfg: &nightshift_pipeline::config::SummaryConfig) -> Option<Check> {
    use nightshift_llm_http::{Api, Client, Endpoint};
    let api = match cfg.backend {
        nightshift_pipeline::config::Backend::Local => return None,
        nightshift_pipeline::config::Backend::Ollama => Api::Ollama,
        nightshift_pipeline::config::Backend::Openai => Api::OpenAi,
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

pub(crate) fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct we pass; the path is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0)
        .then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

fn database(home: &Home) -> Check {
    let path = home.db_path();
    if !path.exists() {
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
    match Queue::open_existing(&path).and_then(|q| q.integrity_check()) {
        Ok(()) => Check {
            name: "database",
            ok: true,
            detail: format!("{}: integrity ok", path.display()),
            essential: true,
        },
        Err(e) => Check {
            name: "database",
            ok: false,
            detail: e.to_string(),
            essential: true,
        },
    }
}
