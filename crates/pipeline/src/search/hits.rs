//! Reading hits as they are now: speakers from the stored diarization and the current names,
//! meeting dates for `--since`, snippets with their matches marked.

use std::collections::HashMap;

use anyhow::Result;
use nightshift_core::Segment;
use nightshift_queue::{MeetingRow, Queue};
use nightshift_summarize::dates::Date;
use serde::Deserialize;

use crate::config::SpeakersConfig;
use crate::speakers::{DiarizeResult, StoredTurn};

/// Words a snippet keeps around its first match.
pub const SNIPPET_WORDS: usize = 32;

/// The day a meeting took place as far as a filter can tell without its transcript: the date
/// given with `add --date`, else the recording's `creation_time` tag, else the day it was added.
pub fn meeting_day(m: &MeetingRow) -> Date {
    let info = |k: &str| m.info[k].as_str().and_then(Date::parse_iso);
    info("meeting_date")
        .or_else(|| info("creation_time"))
        .unwrap_or_else(|| Date::from_days((m.created_at / 86_400.0).floor() as i64))
}

/// A meeting's speakers as they are named now.
#[derive(Debug, Default)]
pub struct MeetingSpeakers {
    turns: Vec<StoredTurn>,
    /// (label, current name)
    pub names: Vec<(String, String)>,
}

impl MeetingSpeakers {
    /// Who speaks most during `start..end` (by name), if anyone.
    pub fn speaker_at(&self, start: f64, end: f64) -> Option<String> {
        let seg = Segment {
            start,
            end: end.max(start + 0.1),
            text: "x".into(),
            ..blank_segment()
        };
        crate::speakers::label_segments(vec![seg], &self.turns, &self.names)
            .into_iter()
            .max_by(|a, b| (a.end - a.start).total_cmp(&(b.end - b.start)))
            .and_then(|s| s.speaker)
    }

    /// When `label` first speaks.
    pub fn first_turn(&self, label: &str) -> Option<(f64, f64)> {
        self.turns
            .iter()
            .find(|t| t.speaker == label)
            .map(|t| (t.start, t.end))
    }
}

/// Speakers per meeting, loaded once per search.
pub struct SpeakerCache<'a> {
    config: &'a SpeakersConfig,
    loaded: HashMap<String, MeetingSpeakers>,
}

impl<'a> SpeakerCache<'a> {
    pub fn new(config: &'a SpeakersConfig) -> SpeakerCache<'a> {
        SpeakerCache {
            config,
            loaded: HashMap::new(),
        }
    }

    pub fn of(&mut self, queue: &Queue, meeting: &MeetingRow) -> Result<&MeetingSpeakers> {
        let id = meeting.meeting_id.as_str();
        if !self.loaded.contains_key(id) {
            let jobs = queue.diarize_jobs_of(id)?;
            let speakers = match crate::speakers::diarization(&jobs)? {
                Some(d) => load(queue, meeting, d, self.config)?,
                None => MeetingSpeakers::default(),
            };
            self.loaded.insert(id.to_string(), speakers);
        }
        Ok(&self.loaded[id])
    }
}

/// The names `show` gives (hand-given, enrolled, else proposed from how people address each
/// other in the transcript, else the label), with the indexed transcript passages standing in
/// for the assembled segments.
fn load(
    queue: &Queue,
    meeting: &MeetingRow,
    d: DiarizeResult,
    config: &SpeakersConfig,
) -> Result<MeetingSpeakers> {
    let blank = blank_segment();
    let segments: Vec<Segment> = queue
        .passages_of_meeting(&meeting.meeting_id, "transcript")?
        .into_iter()
        .map(|p| Segment {
            start: p.start_s,
            end: p.end_s,
            text: p.text,
            ..blank.clone()
        })
        .collect();
    let labelled = crate::speakers::label_segments(segments, &d.turns, &[]);
    let names = crate::speakers::meeting_names(queue, meeting, &d, config, &labelled)?
        .into_iter()
        .map(|n| (n.label, n.name))
        .collect();
    Ok(MeetingSpeakers {
        turns: d.turns,
        names,
    })
}

/// A segment with no speaker and no word times (whatever else a segment carries: passages
/// have only times and text).
fn blank_segment() -> Segment {
    Segment::deserialize(serde_json::json!({"start": 0.0, "end": 0.0, "text": ""}))
        .unwrap_or_else(|_| unreachable!("start, end and text make a segment"))
}

/// A passage's text with FTS5's marks (`\u{2}` … `\u{3}`) turned into a snippet of at most
/// `max_words` words around the first match, and the marked ranges as char offsets into it.
pub fn snippet(marked: &str, max_words: usize) -> (String, Vec<(usize, usize)>) {
    let mut cs: Vec<(char, bool)> = Vec::with_capacity(marked.len());
    let mut on = false;
    for c in marked.chars() {
        match c {
            '\u{2}' => on = true,
            '\u{3}' => on = false,
            c => cs.push((if c.is_whitespace() { ' ' } else { c }, on)),
        }
    }
    let starts: Vec<usize> = (0..cs.len())
        .filter(|&i| cs[i].0 != ' ' && (i == 0 || cs[i - 1].0 == ' '))
        .collect();
    let mut prefix = "";
    let mut suffix = "";
    if starts.len() > max_words {
        let first_mark = cs.iter().position(|c| c.1).unwrap_or(0);
        let word = starts.iter().rposition(|&s| s <= first_mark).unwrap_or(0);
        let from = word.saturating_sub(8).min(starts.len() - max_words);
        let to = from + max_words;
        let end = if to < starts.len() {
            starts[to]
        } else {
            cs.len()
        };
        if from > 0 {
            prefix = "… ";
        }
        if to < starts.len() {
            suffix = " …";
        }
        cs = cs[starts[from]..end].to_vec();
    }
    while cs.last().is_some_and(|c| c.0 == ' ') {
        cs.pop();
    }
    let skip = cs.iter().take_while(|c| c.0 == ' ').count();
    let cs = &cs[skip..];
    let mut text = String::from(prefix);
    let mut marks = Vec::new();
    let mut at = prefix.chars().count();
    let mut open: Option<usize> = None;
    for &(c, m) in cs {
        match (m, open) {
            (true, None) => open = Some(at),
            (false, Some(a)) => {
                marks.push((a, at));
                open = None;
            }
            _ => {}
        }
        text.push(c);
        at += 1;
    }
    if let Some(a) = open {
        marks.push((a, at));
    }
    text.push_str(suffix);
    (text, marks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_keep_the_match_and_mark_it() {
        let (s, m) = snippet("The \u{2}migration\u{3} is on \u{2}Saturday\u{3}.", 32);
        assert_eq!(s, "The migration is on Saturday.");
        let marked: Vec<String> = m
            .iter()
            .map(|&(a, b)| s.chars().skip(a).take(b - a).collect())
            .collect();
        assert_eq!(marked, vec!["migration", "Saturday"]);
        let long = format!("{} \u{2}needle\u{3} {}", "a ".repeat(50), "b ".repeat(50));
        let (s, m) = snippet(&long, 10);
        assert!(s.starts_with("… ") && s.ends_with(" …"), "{s}");
        assert_eq!(s.split_whitespace().filter(|w| *w != "…").count(), 10);
        let (a, b) = m[0];
        assert_eq!(s.chars().skip(a).take(b - a).collect::<String>(), "needle");
    }
}
