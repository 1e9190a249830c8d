//! `nightshift add FILE...`: validate, chunk, and queue; one meeting id per line on stdout.

use std::process::ExitCode;

use anyhow::Result;
use nightshift_core::MediaKind;
use nightshift_pipeline::meetings::{self, AddOptions};
use nightshift_pipeline::{Config, Home};
use nightshift_queue::Queue;
use nightshift_worker_protocol::SpeakerHints;

use crate::args::{AddArgs, KindArg};

pub fn run(home: &Home, args: &AddArgs) -> Result<ExitCode> {
    // Check every input before touching the home, so one bad name fails fast.
    for file in &args.files {
        meetings::check_readable(file)?;
    }
    if let (Some(min), Some(max)) = (args.min_speakers, args.max_speakers)
        && min > max
    {
        anyhow::bail!("--min-speakers {min} is more than --max-speakers {max}");
    }
    home.ensure()?;
    let config = Config::load(home)?;
    let mut queue = Queue::open(home.db_url()?)?;
    let date = match args.date.as_deref() {
        Some(d) => Some(
            nightshift_summarize::dates::Date::parse_iso(d)
                .ok_or_else(|| anyhow::anyhow!("--date {d:?}: expected YYYY-MM-DD"))?,
        ),
        None => None,
    };
    let opts = AddOptions {
        title: args.title.clone(),
        date: date.map(|d| d.to_string()),
        kind: match args.kind {
            KindArg::Auto => None,
            KindArg::Audio => Some(MediaKind::Audio),
            KindArg::Video => Some(MediaKind::Video),
        },
        min_chunk_s: args.min_chunk,
        max_chunk_s: args.max_chunk,
        speakers: SpeakerHints {
            num_speakers: args.speakers.map(usize::from),
            min_speakers: args.min_speakers.map(usize::from),
            max_speakers: args.max_speakers.map(usize::from),
            threshold: None,
            timbre: None,
        },
    };
    let mut failed = 0;
    for file in &args.files {
        match meetings::add_file(home, &config, &mut queue, file, &opts) {
            Ok(added) => {
                let name = file.display();
                for w in &added.warnings {
                    eprintln!("warning: {name}: {w}");
                }
                if added.existing {
                    eprintln!(
                        "notice: {name}: already added as meeting {}",
                        added.meeting_id
                    );
                }
                println!("{}", added.meeting_id);
            }
            Err(e) => {
                // Each bad file gets its own line; the good ones are still added.
                let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                eprintln!("error: {}", chain.join(": "));
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
