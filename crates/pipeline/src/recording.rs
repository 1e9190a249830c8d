//! A live recording's meeting (`nightshift record`): created first, one AUDIO job per chunk as
//! it closes, `info.recording` until it ends, then its diarization job.
//!
//! Recordings whose recorder died (SIGKILL, power cut, disk full): their open chunk's part file
//! holds the audio up to the last flush. `run` turns it into a chunk and a job and marks the
//! recording finished, so the meeting completes — when it starts, every few seconds while it
//! runs, and before `--until-idle` calls the queue drained.

use std::time::Instant;

use anyhow::Result;
use nightshift_capture::ClosedChunk;
use nightshift_queue::{NewJob, NewMeeting, Queue, RunnerIdentity, process_alive};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::home::Home;

/// `<home>/media/recording/<meeting>`: the open chunk's part file.
pub fn parts_dir(home: &Home, meeting_id: &str) -> std::path::PathBuf {
    home.root.join("media").join("recording").join(meeting_id)
}

/// Whether a meeting is still being recorded (more chunks are coming; no summary yet).
pub fn is_recording(info: &Value) -> bool {
    info["recording"] == true
}

/// The AUDIO job of a closed recording chunk.
pub fn audio_job(c: &ClosedChunk) -> NewJob {
    crate::meetings::chunk_job(
        c.index as i64,
        &c.path,
        c.offset_samples,
        c.len_samples,
        &c.speech_spans,
        c.speech_ratio,
        c.skip_reason.as_deref(),
    )
}

/// A recording in progress, as stored: its meeting row grows with every closed chunk.
pub struct Recording {
    pub meeting_id: String,
    info: Value,
    duration_s: f64,
    /// Each closed chunk also goes to the queue's media store (hosts share no filesystem).
    media_in_db: bool,
}

impl Recording {
    /// Create the recording's meeting (no jobs yet), marked as recording by this process.
    pub fn start(
        home: &Home,
        queue: &mut Queue,
        source: &str,
        system_source: Option<&str>,
        title: Option<&str>,
    ) -> Result<Recording> {
        let me = RunnerIdentity::current();
        let started = now_iso();
        let meeting_id = new_meeting_id(&me, &started);
        let info = json!({
            "recording": true,
            "recorder": {"pid": me.pid, "proc_start": me.proc_start, "boot_id": me.boot_id,
                         "host": me.host},
            "started": started,
            "source": source,
            "system_audio": system_source,
        });
        queue.insert_meeting(
            &NewMeeting {
                meeting_id: meeting_id.clone(),
                title: title
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("Recording {started}")),
                source_path: source.to_string(),
                // Not a file hash: a recording is unique by construction.
                source_sha256: format!("record:{meeting_id}:{}", me.runner_id),
                kind: "audio".into(),
                duration_s: 0.0,
                info: info.clone(),
            },
            &[],
        )?;
        Ok(Recording {
            meeting_id,
            info,
            duration_s: 0.0,
            media_in_db: crate::media_store::in_database(home)?,
        })
    }

    /// Queue a chunk the moment it closes (`run` may work on it while recording goes on).
    pub fn queue_chunk(&mut self, queue: &mut Queue, c: &ClosedChunk) -> Result<()> {
        self.duration_s = c.offset_s() + c.duration_s();
        if self.media_in_db {
            // Stored before its job exists: a host that claims the job finds it.
            queue.put_media(&c.path.to_string_lossy(), &c.path)?;
        }
        queue.add_jobs_and_update(
            &self.meeting_id,
            &[audio_job(c)],
            self.duration_s,
            &self.info,
        )?;
        Ok(())
    }

    /// The recording ended normally: mark it finished and queue its diarization, over the
    /// whole recording.
    pub fn finish(
        mut self,
        home: &Home,
        queue: &mut Queue,
        stats: &nightshift_capture::RecordStats,
    ) -> Result<()> {
        self.info["recording"] = json!(false);
        self.info["overrun_samples"] = json!(stats.overrun_samples);
        let diarize = crate::speakers::diarize_jobs(
            &crate::config::Config::load(home)?.speakers,
            &Default::default(),
        );
        queue.add_jobs_and_update(&self.meeting_id, &diarize, self.duration_s, &self.info)?;
        let _ = std::fs::remove_dir(parts_dir(home, &self.meeting_id));
        Ok(())
    }
}

fn new_meeting_id(me: &RunnerIdentity, started: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "record {started} {} {:?}",
        me.runner_id,
        Instant::now()
    ));
    hex::encode(h.finalize())[..12].to_string()
}

/// UTC now as `YYYY-MM-DDTHH:MM:SSZ`.
fn now_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let date = nightshift_summarize::dates::Date::from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Whether the recorder named in a meeting's info runs on another host (sharing the queue):
/// only its own host has its part files, so only that host may recover it.
fn recorder_elsewhere(info: &serde_json::Value) -> bool {
    match info["recorder"]["host"].as_str() {
        Some(host) => host != nightshift_queue::RunnerIdentity::current().host,
        // Recorded before hosts were named: this host's.
        None => false,
    }
}

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
        if !is_recording(&m.info) || recorder_elsewhere(&m.info) || recorder_alive(&m.info) {
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
            .map(|j| match crate::job::JobKind::of_row(j)? {
                crate::job::JobKind::Chunk(c) => Ok(c.offset_samples + c.len_samples),
                _ => Ok(0),
            })
            .collect::<Result<Vec<u64>, crate::job::CorruptJob>>()?
            .into_iter()
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
                    crate::media_store::publish(home, queue, [chunk.path.as_path()])?;
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
        if !queue.finish_recording(&m.meeting_id, &new_jobs, duration.max(m.duration_s), &info)? {
            continue; // another runner recovered it meanwhile, and removes the parts
        }
        for (_, path) in &parts {
            let _ = std::fs::remove_file(path);
        }
        let _ = std::fs::remove_dir(&dir);
        finished += 1;
    }
    Ok(finished)
}
