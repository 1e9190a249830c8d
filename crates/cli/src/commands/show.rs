//! `nightshift show MEETING`: the result in md, txt, srt, vtt or json.

use std::process::ExitCode;

use anyhow::Result;
use nightshift_export::{Format, Part};

use crate::args::ShowArgs;
use nightshift_pipeline::home::Home;

pub fn run(home: &Home, args: &ShowArgs) -> Result<ExitCode> {
    // Parse the options before touching the database: a usage error changes nothing.
    let format: Format = args.format.parse()?;
    let part: Part = args.part.parse()?;
    let queue = super::open_existing(home)?;
    let meeting = queue.resolve_meeting(&args.meeting)?;
    let config = nightshift_pipeline::config::Config::load(home)?;
    let mut doc = nightshift_pipeline::transcript::build_doc(&queue, &meeting, &config.speakers)?;
    if args.events && matches!(format, Format::Srt | Format::Vtt) {
        doc.segments = nightshift_export::with_event_cues(&doc.segments, &doc.events);
    }
    let text = nightshift_export::render(&doc, format, part)?;
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
