//! Recordings whose recorder died (SIGKILL, power cut, disk full): their open chunk's part file
//! holds the audio up to the last flush. `run` turns it into a chunk and a job and marks the
//! recording finished, so the meeting completes.

use anyhow::Result;
use nightshift_queue::{Queue, process_alive};
use serde_json::json;

use crate::commands::record::{audio_job, is_recording, parts_dir};
use crate::home::Home;

/// Whether the recorder named in a meeting's info is still running on this machine.
fn recorder_alive(info: &serde_json::Value) -> bool {
    let r = &info["recorder"];
    let (Some(pid), Some(start)) = (r["pid"].as_u64(), r["proc_start"].as_u64()) else {
        return false;
    };
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    r["boot_id"].as_str() == Some(boot.as_str()) && process_alive(pid as u32, start)
}

/// Finish every recording whose recorder is gone. Returns how many were finished.
pub fn recover(home: &Home, queue: &mut Queue) -> Result<usize> {
    let mut finished = 0;
    for m in queue.meetings()? {
        if !is_recording(&m.info) || recorder_alive(&m.info) {
            continue;
        }
        let jobs = queue.jobs_of(&m.meeting_id)?;
        let audio: Vec<_> = jobs
            .iter()
            .filter(|j| crate::speakers::is_chunk_job(j))
            .collect();
        let dir = parts_dir(home, &m.meeting_id);
        let mut parts: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let index = name.strip_suffix(".wav.part")?.parse().ok()?;
                        Some((index, e.path()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        parts.sort();
        let mut new_jobs = Vec::new();
        let mut end_samples: u64 = audio
            .iter()
            .filter_map(|j| {
                Some(j.payload["offset_samples"].as_u64()? + j.payload["len_samples"].as_u64()?)
            })
            .max()
            .unwrap_or(0);
        for (index, path) in &parts {
            if audio.iter().any(|j| j.seq == *index as i64) {
                // Closed and queued just before the crash: the part is a duplicate.
                let _ = std::fs::remove_file(path);
                continue;
            }
            match nightshift_capture::recover_part(path, *index, end_samples, &home.chunks_dir()) {
                Ok(Some(chunk)) => {
                    end_samples = chunk.offset_samples + chunk.len_samples;
                    tracing::info!(
                        meeting = %m.meeting_id,
                        "recovered {:.1} s of an interrupted recording",
                        chunk.duration_s()
                    );
                    new_jobs.push(audio_job(&chunk));
                }
                Ok(None) => {}
                Err(e) => {
                    // Still no space, say: leave it for the next run.
                    tracing::warn!("{}: cannot recover yet: {e}", path.display());
                    return Ok(finished);
                }
            }
        }
        let mut info = m.info.clone();
        info["recording"] = json!(false);
        info["interrupted"] = json!(true);
        let duration = end_samples as f64 / f64::from(nightshift_capture::RATE);
        let config = crate::config::Config::load(home)?;
        new_jobs.extend(crate::speakers::diarize_jobs(
            &config.speakers,
            &Default::default(),
        ));
        queue.add_jobs_and_update(&m.meeting_id, &new_jobs, duration.max(m.duration_s), &info)?;
        for (_, path) in &parts {
            let _ = std::fs::remove_file(path);
        }
        let _ = std::fs::remove_dir(&dir);
        finished += 1;
    }
    Ok(finished)
}
