//! Markdown and plain-text writers: everything `show` knows, for people to read.
//!
//! Markdown always starts with the title and a metadata line, then the requested sections.
//! Plain text prints the header only for `all`; a single part is just that part, so
//! `show M --format txt --part transcript` pipes cleanly into other tools.

use std::fmt::Write;

use nightshift_core::{ActionItem, AudioEvent, Decision, Scene, Segment, Summary};

use crate::doc::{MeetingDoc, Part};
use crate::timefmt::{clock, one_line};

fn metadata(doc: &MeetingDoc) -> String {
    let mut parts = vec![
        format!("Meeting {}", doc.meeting_id),
        format!("source: {}", doc.source),
        format!("duration {}", clock(doc.duration_s)),
    ];
    if let Some(lang) = &doc.language {
        parts.push(format!("language {lang}"));
    }
    if let Some(date) = &doc.meeting_date {
        match &doc.meeting_date_source {
            Some(src) => parts.push(format!("date {date} ({src})")),
            None => parts.push(format!("date {date}")),
        }
    }
    if !doc.speakers.is_empty() {
        // A name proposed from how people address each other is marked as such.
        let who: Vec<String> = doc
            .speakers
            .iter()
            .map(|s| match s.source.as_str() {
                "speech" => format!("{} (named in speech, {})", s.name, s.label),
                _ => s.name.clone(),
            })
            .collect();
        parts.push(format!("speakers: {}", who.join(", ")));
    }
    parts.join(" · ")
}

/// `Task — Owner, due 2025-04-09 [01:06]`: only the parts that are known, so an item
/// without an owner never renders as stray punctuation.
fn action_line(item: &ActionItem) -> String {
    let mut who_when: Vec<String> = Vec::new();
    if let Some(owner) = item.owner.as_deref().filter(|o| !o.trim().is_empty()) {
        who_when.push(one_line(owner));
    }
    let due = item
        .due
        .as_deref()
        .or(item.due_spoken.as_deref())
        .filter(|d| !d.trim().is_empty());
    if let Some(due) = due {
        who_when.push(format!("due {}", one_line(due)));
    }
    let mut line = one_line(&item.task);
    if !who_when.is_empty() {
        line = format!("{line} — {}", who_when.join(", "));
    }
    with_time(line, item.time)
}

/// `text [mm:ss]`: where in the transcript the item was said.
fn with_time(text: String, time: Option<f64>) -> String {
    match time {
        Some(t) => format!("{text} [{}]", clock(t)),
        None => text,
    }
}

fn decision_line(d: &Decision) -> String {
    with_time(one_line(&d.text), d.time)
}

fn transcript_line(seg: &Segment, bold_speaker: bool) -> Option<String> {
    let text = one_line(&seg.text);
    if text.is_empty() {
        return None;
    }
    let time = clock(seg.start);
    Some(
        match seg
            .speaker
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(name) if bold_speaker => format!("[{time}] **{name}:** {text}"),
            Some(name) => format!("[{time}] {name}: {text}"),
            None => format!("[{time}] {text}"),
        },
    )
}

/// The transcript's lines with the non-speech events between them, by time: `[01:02] [music]`.
fn timeline(segments: &[Segment], events: &[AudioEvent], bold_speaker: bool) -> Vec<String> {
    let mut lines: Vec<(f64, String)> = segments
        .iter()
        .filter_map(|s| Some((s.start, transcript_line(s, bold_speaker)?)))
        .collect();
    lines.extend(events.iter().map(|e| {
        (
            e.start,
            format!("[{}] [{}]", clock(e.start), one_line(&e.label)),
        )
    }));
    // Stable: an event and a line that start together keep the line first.
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    lines.into_iter().map(|(_, l)| l).collect()
}

/// `music 00:10–00:42, applause 01:05–01:09`.
fn events_line(events: &[AudioEvent]) -> String {
    events
        .iter()
        .map(|e| format!("{} {}–{}", one_line(&e.label), clock(e.start), clock(e.end)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn scene_heading(i: usize, scene: &Scene) -> String {
    format!(
        "Scene {} · {}–{}",
        i + 1,
        clock(scene.start),
        clock(scene.end)
    )
}

// ---------------------------------------------------------------- markdown

fn md_list(out: &mut String, heading: &str, items: &[String]) {
    let _ = write!(out, "### {heading}\n\n");
    if items.is_empty() {
        out.push_str("_None._\n\n");
    }
    for item in items {
        let _ = writeln!(out, "- {}", one_line(item));
    }
    if !items.is_empty() {
        out.push('\n');
    }
}

fn md_summary(out: &mut String, summary: Option<&Summary>) {
    out.push_str("## Summary\n\n");
    let Some(s) = summary else {
        out.push_str("_No summary yet._\n\n");
        return;
    };
    if !s.overview.trim().is_empty() {
        let _ = write!(out, "{}\n\n", s.overview.trim());
    }
    let decisions: Vec<String> = s.decisions.iter().map(decision_line).collect();
    md_list(out, "Decisions", &decisions);
    out.push_str("### Action items\n\n");
    if s.action_items.is_empty() {
        out.push_str("_None._\n\n");
    } else {
        for item in &s.action_items {
            let _ = writeln!(out, "- [ ] {}", action_line(item));
        }
        out.push('\n');
    }
    md_list(out, "Open questions", &s.open_questions);
}

fn md_scenes(out: &mut String, scenes: &[Scene]) {
    out.push_str("## Scenes\n\n");
    if scenes.is_empty() {
        out.push_str("_No scenes (not a video, or not processed yet)._\n\n");
    }
    for (i, scene) in scenes.iter().enumerate() {
        let _ = write!(out, "### {}\n\n", scene_heading(i, scene));
        if let Some(d) = scene
            .description
            .as_deref()
            .filter(|d| !d.trim().is_empty())
        {
            let _ = write!(out, "{}\n\n", one_line(d));
        }
        let ocr: Vec<&str> = scene
            .ocr_text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if !ocr.is_empty() {
            out.push_str("On screen:\n\n");
            for line in ocr {
                let _ = writeln!(out, "> {line}");
            }
            out.push('\n');
        }
        if !scene.objects.is_empty() {
            let _ = write!(out, "Objects: {}\n\n", one_line(&scene.objects));
        }
        if !scene.events.is_empty() {
            let _ = write!(out, "Heard: {}\n\n", events_line(&scene.events));
        }
        if !scene.transcript.trim().is_empty() {
            let _ = write!(out, "Said: {}\n\n", one_line(&scene.transcript));
        }
        if !scene.keyframes.is_empty() {
            let frames: Vec<String> = scene.keyframes.iter().map(|k| format!("`{k}`")).collect();
            let _ = write!(out, "Keyframes: {}\n\n", frames.join(", "));
        }
    }
}

fn md_transcript(out: &mut String, segments: &[Segment], events: &[AudioEvent]) {
    out.push_str("## Transcript\n\n");
    let lines = timeline(segments, events, true);
    if lines.is_empty() {
        out.push_str("_No speech._\n\n");
    }
    for line in lines {
        let _ = write!(out, "{line}\n\n");
    }
}

pub fn render_md(doc: &MeetingDoc, part: Part) -> String {
    let mut out = String::new();
    let title = one_line(&doc.title);
    let _ = write!(
        out,
        "# {}\n\n{}\n\n",
        if title.is_empty() {
            "Untitled meeting"
        } else {
            &title
        },
        metadata(doc)
    );
    if part.has_summary() {
        md_summary(&mut out, doc.summary.as_ref());
    }
    // An audio meeting has no scenes: `all` leaves the section out rather than print nothing.
    if part == Part::Scenes || (part == Part::All && !doc.scenes.is_empty()) {
        md_scenes(&mut out, &doc.scenes);
    }
    if part.has_transcript() {
        md_transcript(&mut out, &doc.segments, &doc.events);
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

// ---------------------------------------------------------------- plain text

fn txt_list(out: &mut String, heading: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    let _ = writeln!(out, "{heading}:");
    if items.is_empty() {
        out.push_str("  (none)\n");
    }
    for item in items {
        let _ = writeln!(out, "- {item}");
    }
}

fn txt_summary(out: &mut String, summary: Option<&Summary>) {
    let Some(s) = summary else {
        out.push_str("No summary yet.\n");
        return;
    };
    if !s.overview.trim().is_empty() {
        let _ = write!(out, "{}\n\n", s.overview.trim());
    }
    txt_list(out, "Decisions", s.decisions.iter().map(decision_line));
    txt_list(
        out,
        "Action items",
        s.action_items
            .iter()
            .map(|a| format!("[ ] {}", action_line(a))),
    );
    txt_list(
        out,
        "Open questions",
        s.open_questions.iter().map(|q| one_line(q)),
    );
}

fn txt_scenes(out: &mut String, scenes: &[Scene]) {
    if scenes.is_empty() {
        out.push_str("No scenes.\n");
    }
    for (i, scene) in scenes.iter().enumerate() {
        let _ = writeln!(out, "{}", scene_heading(i, scene));
        if let Some(d) = scene
            .description
            .as_deref()
            .filter(|d| !d.trim().is_empty())
        {
            let _ = writeln!(out, "  {}", one_line(d));
        }
        let ocr = one_line(&scene.ocr_text.replace('\n', " / "));
        if !ocr.is_empty() {
            let _ = writeln!(out, "  On screen: {ocr}");
        }
        if !scene.objects.is_empty() {
            let _ = writeln!(out, "  Objects: {}", one_line(&scene.objects));
        }
        if !scene.events.is_empty() {
            let _ = writeln!(out, "  Heard: {}", events_line(&scene.events));
        }
        if !scene.transcript.trim().is_empty() {
            let _ = writeln!(out, "  Said: {}", one_line(&scene.transcript));
        }
    }
}

fn txt_transcript(out: &mut String, segments: &[Segment], events: &[AudioEvent]) {
    for line in timeline(segments, events, false) {
        let _ = writeln!(out, "{line}");
    }
}

pub fn render_txt(doc: &MeetingDoc, part: Part) -> String {
    let mut out = String::new();
    match part {
        Part::Transcript => txt_transcript(&mut out, &doc.segments, &doc.events),
        Part::Summary => txt_summary(&mut out, doc.summary.as_ref()),
        Part::Scenes => txt_scenes(&mut out, &doc.scenes),
        Part::All => {
            let _ = write!(
                out,
                "{}\n{}\n\nSUMMARY\n\n",
                one_line(&doc.title),
                metadata(doc)
            );
            txt_summary(&mut out, doc.summary.as_ref());
            if !doc.scenes.is_empty() {
                out.push_str("\nSCENES\n\n");
                txt_scenes(&mut out, &doc.scenes);
            }
            out.push_str("\nTRANSCRIPT\n\n");
            txt_transcript(&mut out, &doc.segments, &doc.events);
        }
    }
    out
}
