//! `nightshift transcribe FILE`: through the session daemon when one answers, starting it
//! (detached) when none does, replacing it when it does not answer; `--no-daemon` runs a worker
//! for this file alone.

use std::process::ExitCode;

use anyhow::{Context, Result};
use nightshift_pipeline::Home;
use nightshift_pipeline::session::client::{ensure_daemon, request, start_private};

use crate::args::TranscribeArgs;

pub fn transcribe(home: &Home, args: &TranscribeArgs) -> Result<ExitCode> {
    let name = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).with_context(|| format!("{name}: cannot read"))?;
    let addr = if args.no_daemon {
        // A private daemon on a free port for this one file, stopped right after.
        None
    } else {
        Some(ensure_daemon(home)?)
    };
    let (addr, private) = match addr {
        Some(a) => (a, None),
        None => {
            let (a, child) = start_private(home)?;
            (a, Some(child))
        }
    };
    let format = if args.json { "verbose_json" } else { "text" };
    let file_name = args
        .file
        .file_name()
        .map_or("audio".into(), |f| f.to_string_lossy().into_owned());
    let sent = request(&addr, &file_name, &bytes, format, args.timeout);
    if let Some(mut child) = private {
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = sent.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    print!("{text}");
    if args.json {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
