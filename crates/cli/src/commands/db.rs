//! `nightshift db migrate --from URL --to URL`: move a queue between SQLite and PostgreSQL.
//!
//! Meeting by meeting, each in one target transaction (`Meetings::copy_meeting`), so a failure
//! leaves whole meetings behind it and a re-run skips them. Then the enrolled voices and the
//! media: blobs the source database holds, and — when the target is shared (PostgreSQL) — the
//! local files the jobs name (chunks, sources, keyframes), so hosts without this filesystem
//! can run and show them.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use nightshift_queue::{DbUrl, Queue};

use crate::args::DbAction;
use nightshift_pipeline::Home;

pub fn run(home: &Home, action: &DbAction) -> Result<ExitCode> {
    match action {
        DbAction::Migrate { from, to } => migrate(home, from, to),
    }
}

#[derive(Default)]
struct Tally {
    meetings: usize,
    jobs: usize,
    already: usize,
    voices: usize,
    media_files: usize,
    media_bytes: u64,
}

fn migrate(home: &Home, from: &str, to: &str) -> Result<ExitCode> {
    let from = DbUrl::parse(from).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let to = DbUrl::parse(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    if from == to {
        bail!("--from and --to are the same database ({from})");
    }
    let src = Queue::open_existing(&from)?;
    let mut dst = Queue::open(&to)?;
    let mut tally = Tally::default();
    let meetings = src.meetings()?;
    // Files the jobs name, for a shared target's media store.
    let mut named = BTreeSet::new();
    for (i, m) in meetings.iter().enumerate() {
        let jobs = src.jobs_of(&m.meeting_id)?;
        named.insert(m.source_path.clone());
        for j in &jobs {
            named.extend(j.chunk_path.clone());
            if let Some(result) = &j.result {
                file_paths(result, &mut named);
            }
        }
        let names = src.speaker_names(&m.meeting_id)?;
        if dst.copy_meeting(m, &jobs, &names)? {
            tally.meetings += 1;
            tally.jobs += jobs.len();
        } else {
            tally.already += 1;
        }
        eprintln!(
            "[{}/{}] {} {}",
            i + 1,
            meetings.len(),
            m.meeting_id,
            m.title
        );
    }
    for v in src.voice_profiles()? {
        // Never overwrite: a voice enrolled in the target under that name stays.
        if dst.voice_profile(&v.name)?.is_none() {
            dst.put_voice_profile(&v.name, &v.embedding, &v.source, v.speech_s)?;
            tally.voices += 1;
        }
    }
    copy_media(home, &src, &mut dst, &mut tally)?;
    if to.is_postgres() {
        publish_local_files(&mut dst, named, &mut tally)?;
    }
    println!(
        "{from} → {to}: {} meetings copied ({} jobs), {} already there; {} voices; media {} files ({:.1} MiB)",
        tally.meetings,
        tally.jobs,
        tally.already,
        tally.voices,
        tally.media_files,
        tally.media_bytes as f64 / (1 << 20) as f64
    );
    Ok(ExitCode::SUCCESS)
}

/// Blobs the source database holds that the target lacks (by name and content).
fn copy_media(home: &Home, src: &Queue, dst: &mut Queue, tally: &mut Tally) -> Result<()> {
    let tmp_dir = home.root.join("cache").join("migrate");
    for media in src.media_list()? {
        if dst
            .media(&media.name)?
            .is_some_and(|d| d.sha256 == media.sha256)
        {
            continue;
        }
        std::fs::create_dir_all(&tmp_dir)
            .with_context(|| format!("{}: cannot create", tmp_dir.display()))?;
        let tmp = tmp_dir.join(&media.sha256);
        src.fetch_media(&media, &tmp)?;
        let stored = dst.put_media(&media.name, &tmp);
        let _ = std::fs::remove_file(&tmp);
        stored?;
        tally.media_files += 1;
        tally.media_bytes += media.size;
    }
    let _ = std::fs::remove_dir(&tmp_dir);
    Ok(())
}

/// Files on this host that the copied meetings name (chunks, sources, and any file path in a
/// stored result: keyframes), stored in the target's media store when it lacks them.
fn publish_local_files(dst: &mut Queue, names: BTreeSet<String>, tally: &mut Tally) -> Result<()> {
    for name in names {
        let path = Path::new(&name);
        if !path.is_file() || dst.media(&name)?.is_some() {
            continue;
        }
        let stored = dst.put_media(&name, path)?;
        tally.media_files += 1;
        tally.media_bytes += stored.size;
    }
    Ok(())
}

/// Every string in `v` that is an absolute path (the keyframes a scenes result names).
fn file_paths(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::String(s) if s.starts_with('/') && s.len() < 4096 => {
            out.insert(s.clone());
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| file_paths(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| file_paths(x, out)),
        _ => {}
    }
}
