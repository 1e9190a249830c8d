//! `nightshift speakers`: voice profiles (enroll, list, rm) and naming a meeting's speakers
//! after the fact (rename).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use nightshift_queue::Queue;
use nightshift_supervisor::{BatchOptions, DIARIZE_WORKER, Diarize};
use nightshift_worker_protocol::{DiarizeRequest, DiarizeResponse, EmbedItem};

use crate::args::SpeakersAction;
use nightshift_pipeline::config::Config;
use nightshift_pipeline::home::Home;

/// Least speech an enrolment clip must hold, seconds.
const MIN_ENROL_SPEECH_S: f64 = 3.0;

pub fn run(home: &Home, action: &SpeakersAction) -> Result<ExitCode> {
    match action {
        SpeakersAction::Enroll { name, clip } => enroll(home, name, clip),
        SpeakersAction::List => list(home),
        SpeakersAction::Rm { name } => {
            let mut queue = super::open_existing(home)?;
            if !queue.remove_voice_profile(name)? {
                bail!("no voice profile named {name:?} (see `nightshift speakers list`)");
            }
            println!("removed {name}");
            Ok(ExitCode::SUCCESS)
        }
        SpeakersAction::Rename {
            meeting,
            label,
            name,
        } => rename(home, meeting, label, name),
    }
}

fn enroll(home: &Home, name: &str, clip: &Path) -> Result<ExitCode> {
    nightshift_pipeline::transcript::check_speaker_name(name)?;
    let shown = clip.display().to_string();
    std::fs::File::open(clip).map_err(|e| anyhow!("{shown}: cannot read: {e}"))?;
    home.ensure()?;
    let config = Config::load(home)?;
    let mut queue = Queue::open(home.db_url()?)?;
    let tmp = tempfile::tempdir_in(&home.root).context("creating a temporary directory")?;
    let prepared =
        nightshift_media::prepare_clip(clip, tmp.path()).map_err(|e| anyhow!("{shown}: {e}"))?;
    if let Some(reason) = prepared.skip_reason {
        bail!("{shown}: no voice to enroll ({reason})");
    }
    let load = nightshift_pipeline::speakers::load_message(home, &config.speakers, 2)?;
    let bin = nightshift_supervisor::find_worker_binary(DIARIZE_WORKER)?;
    let item = DiarizeRequest::Embed(EmbedItem {
        job_id: 0,
        audio_path: prepared.path.to_string_lossy().into_owned(),
    });
    let mut answer: Option<DiarizeResponse> = None;
    let opts = BatchOptions {
        timeout: Duration::from_secs(600),
        ..BatchOptions::default()
    };
    let report = nightshift_supervisor::run_worker_batch::<Diarize>(
        &bin,
        &load,
        &[(0, item)],
        &opts,
        &mut |resp| {
            if !matches!(resp, DiarizeResponse::Ready { .. }) {
                answer = Some(resp);
            }
            std::ops::ControlFlow::Continue(())
        },
    )?;
    let (embedding, speech_s, found) = match answer {
        Some(DiarizeResponse::Embedded {
            embedding,
            speech_s,
            speakers_found,
            ..
        }) => (embedding, speech_s, speakers_found),
        Some(DiarizeResponse::JobError { message, .. }) => bail!("{shown}: {message}"),
        _ => bail!(
            "{shown}: the diarization worker gave no answer: {}",
            report
                .failure_message()
                .unwrap_or_else(|| "no reason given".into())
        ),
    };
    if speech_s < MIN_ENROL_SPEECH_S {
        bail!(
            "{shown}: only {speech_s:.1} s of clear speech; a voice profile needs at least {MIN_ENROL_SPEECH_S} s"
        );
    }
    if found > 1 {
        eprintln!(
            "notice: {shown}: {found} voices heard; enrolled the one that speaks most ({speech_s:.1} s)"
        );
    }
    let source = std::fs::canonicalize(clip).unwrap_or_else(|_| clip.to_path_buf());
    queue.put_voice_profile(name, &embedding, &source.to_string_lossy(), speech_s)?;
    println!("enrolled {name} ({speech_s:.1} s of speech)");
    Ok(ExitCode::SUCCESS)
}

fn list(home: &Home) -> Result<ExitCode> {
    let queue = super::open_existing(home)?;
    let profiles = queue.voice_profiles()?;
    if profiles.is_empty() {
        println!("no voice profiles (add one with `nightshift speakers enroll NAME CLIP`)");
    }
    for p in profiles {
        println!("{}\t{:.1} s\t{}", p.name, p.speech_s, p.source);
    }
    Ok(ExitCode::SUCCESS)
}

fn rename(home: &Home, meeting: &str, label: &str, name: &str) -> Result<ExitCode> {
    nightshift_pipeline::transcript::check_speaker_name(name)?;
    let mut queue = super::open_existing(home)?;
    let meeting = queue.resolve_meeting(meeting)?;
    let config = Config::load(home)?;
    let found = nightshift_pipeline::transcript::rename_speaker(
        &mut queue,
        &meeting,
        &config.speakers,
        label,
        name,
    )?;
    println!("{}: {found} is now {}", meeting.meeting_id, name.trim());
    Ok(ExitCode::SUCCESS)
}
