//! VISUAL jobs: scenes, keyframes and OCR of a video meeting (`nightshift-video`), on the CPU —
//! no model is loaded, so no GPU lease. The result is stored whole; `show` fuses it with the
//! transcript and the summary's final reduce receives it as visual notes.

use anyhow::Result;
use nightshift_queue::{ClaimedJob, Queue};
use serde_json::json;

use crate::home::Home;

pub fn run_job(
    home: &Home,
    queue: &mut Queue,
    owner: &str,
    job: &ClaimedJob,
    threads: usize,
) -> Result<()> {
    let Some(meeting) = queue.meeting(&job.meeting_id)? else {
        return Ok(());
    };
    let fps = job.payload["fps"].as_f64().unwrap_or(0.0);
    let started = std::time::Instant::now();
    let input = std::path::Path::new(&meeting.source_path);
    match nightshift_video::analyze(input, fps, &home.keyframes_dir(), threads) {
        Ok(notes) => {
            tracing::info!(
                meeting = %meeting.meeting_id,
                scenes = notes.scenes.len(),
                "visual notes: decode {:.2} s, detect {:.3} s, keyframes {:.2} s, OCR {:.2} s",
                notes.decode_s,
                notes.detect_s,
                notes.keyframes_s,
                notes.ocr_s
            );
            let metrics = json!({
                "wall_s": started.elapsed().as_secs_f64(),
                "frames": notes.frames,
                "frames_per_s": notes.frames as f64 / notes.decode_s.max(1e-9),
                "decode_s": notes.decode_s, "detect_s": notes.detect_s,
                "keyframes_s": notes.keyframes_s, "ocr_s": notes.ocr_s,
                "peak_rss_bytes": peak_rss(),
            });
            queue.complete(job.job_id, owner, &serde_json::to_value(&notes)?, &metrics)?;
        }
        Err(e) => {
            tracing::warn!(meeting = %meeting.meeting_id, "visual notes failed: {e}");
            queue.fail(
                job.job_id,
                owner,
                &format!("{}: {e}", meeting.source_path),
                true,
            )?;
        }
    }
    Ok(())
}

/// This process's peak resident memory (the video work runs in process).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
