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
}

const L1_SYSTEM: &str = "You take notes of one part of a meeting transcript. Lines look like \
`[mm:ss] Speaker: text`. Write `notes`: the content of this part in clean sentences (drop fillers \
and false starts, keep names, numbers and dates). List every decision stated explicitly, every \
task explicitly assigned to someone (owner = the person who will do it, due = the deadline as \
said), and open questions, each with the `time` of the line it comes from. Use only what the \
transcript says; do not invent anything. Answer with JSON only.";

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
                "Meeting: {} ({:.0} min). Part {} ({}–{} s):\n\n{}",
                meta.title,
                meta.duration_s / 60.0,
                window.index + 1,
                window.start.round(),
                window.end.round(),
                window.text
            ),
        ),
    ]
}

/// `inputs` are L1 notes or intermediate reduce outputs as JSON text, in meeting order;
/// `visual_notes` are per-scene notes of a video meeting, if any.
pub fn l2_messages(
    meta: &MeetingMeta,
    inputs: &[String],
    visual_notes: Option<&str>,
) -> Vec<Message> {
    let mut body = format!(
        "Meeting: {} ({:.0} min).\n\n",
        meta.title,
        meta.duration_s / 60.0
    );
    for (i, input) in inputs.iter().enumerate() {
        body.push_str(&format!("Part {}:\n{}\n\n", i + 1, input.trim()));
    }
    if let Some(v) = visual_notes.filter(|v| !v.trim().is_empty()) {
        body.push_str(&format!("What was shown on screen:\n{}\n", v.trim()));
    }
    vec![msg("system", L2_SYSTEM.to_string()), msg("user", body)]
}
