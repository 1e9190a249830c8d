//! Chat prompts for the map and reduce steps.

use serde::{Deserialize, Serialize};

use crate::plan::MapWindow;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

fn msg(role: &str, content: String) -> Message {
    Message {
        role: role.to_string(),
        content,
    }
}

/// What the prompts say about the meeting.
#[derive(Debug, Clone, Default)]
pub struct MeetingMeta {
    pub title: String,
    pub duration_s: f64,
    /// `YYYY-MM-DD (Weekday)`, when known: the model then knows what "Friday" means.
    pub date: Option<String>,
    /// The participants' names as the transcript shows them.
    pub participants: Vec<String>,
}

impl MeetingMeta {
    /// `Meeting: Title (4 min, 2025-04-03 Thursday). Participants: Grace, Henry.`
    fn header(&self) -> String {
        let mut when = format!("{:.0} min", (self.duration_s / 60.0).max(1.0));
        if let Some(d) = &self.date {
            when.push_str(&format!(", {d}"));
        }
        let mut h = format!("Meeting: {} ({when}).", self.title);
        if !self.participants.is_empty() {
            h.push_str(&format!(" Participants: {}.", self.participants.join(", ")));
        }
        h
    }
}

const L1_SYSTEM: &str = "You take notes of one part of a meeting transcript. Lines look like \
`[mm:ss] Speaker: text`. Write `notes`: the content of this part in clean sentences (drop fillers \
and false starts, keep names, numbers and dates). List every decision stated explicitly, every \
task explicitly assigned to someone (owner = the name of the person who will do it, due = the \
deadline in the words said), and open questions, each with the `time` of the line it comes from. \
Each item once. Use only what the transcript says; do not invent anything; an empty list is \
fine. Answer with JSON only.";

const ONE_STEP_SYSTEM: &str = "You write the notes of a meeting from its transcript. Lines look \
like `[mm:ss] Speaker: text`. Write an `overview` of the meeting in a few sentences. List every \
decision stated explicitly, every task explicitly assigned to someone (`task` in a few words, \
`owner` = the name of the person who will do it, `due` = the deadline in the words said, or \
empty), and open questions; give each the `time` of the line it comes from. Each item once. Use \
only what the transcript says; do not invent anything; an empty list is fine. Answer with JSON \
only.";

const L2_SYSTEM: &str = "You write the final notes of a meeting from notes of its parts, given in \
order. Write an `overview` of the whole meeting, then merge the decisions, the action items \
(task, owner, due) and the open questions of all parts, without duplicates, keeping each item's \
`time`. Use only what the notes say; do not invent anything. Answer with JSON only.";

pub fn l1_messages(meta: &MeetingMeta, window: &MapWindow) -> Vec<Message> {
    vec![
        msg("system", L1_SYSTEM.to_string()),
        msg(
            "user",
            format!(
                "{} Part {} ({}–{} s):\n\n{}\n{}",
                meta.header(),
                window.index + 1,
                window.start.round(),
                window.end.round(),
                window.text,
                checklist(window)
            ),
        ),
    ]
}

/// The window's lines that sound like decisions or assignments, as a checklist for the model
/// (see [`crate::refine::is_cue_line`]); empty when there are none.
fn checklist(window: &MapWindow) -> String {
    let cues: Vec<&str> = window
        .text
        .lines()
        .filter(|l| crate::refine::is_cue_line(l))
        .collect();
    if cues.is_empty() {
        return String::new();
    }
    format!(
        "\nLines that may state a decision or assign a task (check each; list the ones that do):\n{}\n",
        cues.join("\n")
    )
}

/// A meeting whose whole transcript fits one prompt: its notes in one step (no map-reduce).
pub fn one_step_messages(
    meta: &MeetingMeta,
    window: &MapWindow,
    visual_notes: Option<&str>,
) -> Vec<Message> {
    let mut body = format!(
        "{}\n\nTranscript:\n{}\n{}",
        meta.header(),
        window.text,
        checklist(window)
    );
    if let Some(v) = visual_notes.filter(|v| !v.trim().is_empty()) {
        body.push_str(&format!(
            "\nWhat was seen and heard besides the speech (scenes on screen, other sounds):\n{}\n",
            v.trim()
        ));
    }
    vec![
        msg("system", ONE_STEP_SYSTEM.to_string()),
        msg("user", body),
    ]
}

/// `inputs` are L1 notes or intermediate reduce outputs as JSON text, in meeting order;
/// `visual_notes` are per-scene notes of a video meeting and the sounds heard, if any.
pub fn l2_messages(
    meta: &MeetingMeta,
    inputs: &[String],
    visual_notes: Option<&str>,
) -> Vec<Message> {
    let mut body = format!("{}\n\n", meta.header());
    for (i, input) in inputs.iter().enumerate() {
        body.push_str(&format!("Part {}:\n{}\n\n", i + 1, input.trim()));
    }
    if let Some(v) = visual_notes.filter(|v| !v.trim().is_empty()) {
        body.push_str(&format!(
            "What was seen and heard besides the speech (scenes on screen, other sounds):\n{}\n",
            v.trim()
        ));
    }
    vec![msg("system", L2_SYSTEM.to_string()), msg("user", body)]
}
