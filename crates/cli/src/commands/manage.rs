//! `retry`, `cancel`, `rm`: queue management.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::RetryArgs;
use nightshift_pipeline::home::Home;

pub fn retry(home: &Home, args: &RetryArgs) -> Result<ExitCode> {
    let mut queue = super::open_existing(home)?;
    let n = match &args.meeting {
        Some(m) => {
            let id = queue.resolve_meeting(m)?.meeting_id;
            queue.retry_meeting(&id)?
        }
        None => queue.retry_failed()?,
    };
    eprintln!("{n} job(s) queued again");
    Ok(ExitCode::SUCCESS)
}

pub fn cancel(home: &Home, meeting: &str) -> Result<ExitCode> {
    let mut queue = super::open_existing(home)?;
    let id = queue.resolve_meeting(meeting)?.meeting_id;
    let n = queue.cancel_meeting(&id)?;
    eprintln!("{n} job(s) of meeting {id} cancelled");
    Ok(ExitCode::SUCCESS)
}

pub fn rm(home: &Home, meeting: &str) -> Result<ExitCode> {
    let mut queue = super::open_existing(home)?;
    let m = queue.resolve_meeting(meeting)?;
    let id = m.meeting_id;
    let orphans = queue.remove_meeting(&id)?;
    // The media store's copies (hosts sharing a database): the chunks no other meeting uses,
    // and the source unless another meeting was made from the same path.
    let mut stored = orphans.clone();
    if !queue
        .meetings()?
        .iter()
        .any(|o| o.source_path == m.source_path)
    {
        stored.push(m.source_path);
    }
    queue.forget_media(&stored)?;
    let chunks_dir = home.chunks_dir();
    let mut removed = 0;
    for path in orphans {
        let path = std::path::PathBuf::from(path);
        // Only files nightshift derived into its own media dir; never the user's input.
        if path.starts_with(&chunks_dir) && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    eprintln!("meeting {id} removed ({removed} derived file(s) deleted)");
    Ok(ExitCode::SUCCESS)
}
