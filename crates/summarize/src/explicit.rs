//! Decisions and assignments stated explicitly, read off the transcript without a model.
//!
//! A small model reads a meeting once and stops after the items it noticed first (on the corpus
//! meetings Qwen2.5-Coder 1.5B listed about half of them). Explicit statements have a shape:
//! an assignment names who ("Diana, please …", "… this week, Tom", "I will …") and when ("by
//! Wednesday, April ninth"); a decision says so ("Decision: …", "So the decision is: …", "We
//! agreed …"). Those lines become items here; the refinement merges them with the model's,
//! keeping the model's wording where both found the same line.

use crate::names::{Address, address, as_name, lone_name};

/// An assignment found in one line: the task as said, who (a name as addressed, or `None`
/// for the speaker when they volunteer) and the sentence holding the deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub line: usize,
    pub task: String,
    pub addressee: Option<String>,
    pub volunteered: bool,
    pub deadline_text: String,
}

/// A decision found in one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Stated {
    pub line: usize,
    pub text: String,
}

fn sentences(text: &str) -> Vec<&str> {
    text.split_inclusive(['.', '!', '?'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Words that start the deadline part of a task ("… by Friday", "… this week").
const DEADLINE_STARTS: &[&str] = &[
    " by ",
    " before ",
    " until ",
    " this week",
    " next week",
    " tomorrow",
    " today",
    " end of ",
    " on monday",
    " on tuesday",
    " on wednesday",
    " on thursday",
    " on friday",
];

fn has_deadline(sentence: &str) -> bool {
    let lower = format!(" {}", sentence.to_lowercase());
    DEADLINE_STARTS.iter().any(|d| lower.contains(d))
}

/// A task without its deadline part ("Email the team by Monday" → "Email the team").
pub fn without_deadline(task: &str) -> String {
    let mut s = task.trim().trim_end_matches(['.', '!', '?']).to_string();
    let lower = format!(" {}", s.to_lowercase());
    let cut = DEADLINE_STARTS
        .iter()
        .filter_map(|d| lower.find(d).map(|i| i.saturating_sub(1)))
        .filter(|&i| i > 0)
        .min();
    if let Some(i) = cut {
        s.truncate(i);
    }
    s.trim().trim_end_matches(',').trim().to_string()
}

/// A task without a leading "Name," and request word ("Myanna, can also update …" → "Also
/// update …"): the person goes in the owner, not in the task.
pub fn strip_address(task: &str) -> &str {
    let mut task = task.trim();
    if let Some((head, rest)) = task.split_once(", ")
        && !head.trim().contains(' ')
        && head.chars().next().is_some_and(char::is_uppercase)
    {
        task = rest.trim();
        for modal in [
            "please ",
            "can you ",
            "could you ",
            "can ",
            "could ",
            "would ",
            "will ",
        ] {
            if let Some(r) = task.strip_prefix(modal) {
                task = r.trim();
                break;
            }
        }
    }
    task
}

/// The task of an assignment sentence: after the request words, before the deadline and the
/// trailing vocative.
fn task_of(sentence: &str) -> String {
    let s = without_deadline(sentence);
    // Cut the request words in front ("Diana, could you also …", "Please …", "I will …").
    let lower = s.to_lowercase();
    let mut start = 0;
    for lead in [
        "please ",
        "could you also ",
        "could you ",
        "can you also ",
        "can you ",
        "would you ",
        "will you ",
        "i will also ",
        "i will ",
        "i'll ",
        "and i will ",
        "i can ",
    ] {
        if let Some(i) = lower.find(lead) {
            start = start.max(i + lead.len());
            break;
        }
    }
    let task = strip_address(s[start..].trim().trim_end_matches(',').trim());
    // A trailing vocative (", Tom") is the addressee, not the task.
    let task = match task.rsplit_once(", ") {
        Some((head, tail)) if tail.split_whitespace().count() == 1 => head,
        _ => task,
    };
    let task = task.trim_end_matches(',').trim();
    capitalized(task)
}

/// The text with its first letter in upper case.
pub fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The addressee of a request with the name after the request, set off by commas ("Please
/// order it this week, Tom." or "Please order it this week, Tom, by Friday at the latest.").
fn vocative_name(sentence: &str) -> Option<String> {
    let s = sentence.trim().trim_end_matches(['.', '!', '?']);
    if !s.to_lowercase().contains("please") {
        return None;
    }
    s.split(',').skip(1).find_map(lone_name)
}

/// An item said as such: "Action item for Kevin: update the contract by Thursday." The
/// announcement makes it an assignment with or without a deadline.
fn action_item_for(line: usize, sentence: &str) -> Option<Assignment> {
    let lower = sentence.to_lowercase();
    let at = lower.find("action item for ")?;
    let rest = &sentence[at + "action item for ".len()..];
    let (name, task) = rest.split_once([':', ','])?;
    let name = as_name(name.trim()).filter(|n| n == name.trim())?;
    let task = task.trim_start_matches([' ', ':']);
    let task = task.strip_prefix("to ").unwrap_or(task);
    let deadline_text = if has_deadline(task) {
        sentence.to_string()
    } else {
        String::new()
    };
    let task = capitalized(&without_deadline(task));
    (task.split_whitespace().count() >= 2).then_some(Assignment {
        line,
        task,
        addressee: Some(name),
        volunteered: false,
        deadline_text,
    })
}

/// Explicit assignments with a deadline, in line order.
pub fn assignments(lines: &[&str]) -> Vec<Assignment> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let sents = sentences(line);
        for (k, sentence) in sents.iter().enumerate() {
            let lower = sentence.to_lowercase();
            if let Some(a) = action_item_for(i, sentence) {
                out.push(a);
                continue;
            }
            let addressee = match address(sentence) {
                Some(Address::Next(n)) => Some(n),
                _ => vocative_name(sentence),
            };
            // A question is an assignment only when it asks someone by name ("Diana, could
            // you also …?").
            if lower.ends_with('?') && addressee.is_none() {
                continue;
            }
            // "I will …", also after a word of assent ("Yes, I will send out the packing
            // instructions by Friday.").
            let said = ASSENT_LEADS
                .iter()
                .chain(&["Sure, ", "Right, ", "Fine, "])
                .find_map(|a| lower.strip_prefix(a.to_lowercase().as_str()))
                .unwrap_or(&lower);
            let volunteered = addressee.is_none()
                && ["i will ", "i'll ", "and i will "]
                    .iter()
                    .any(|v| said.starts_with(v));
            if addressee.is_none() && !volunteered {
                continue;
            }
            // The deadline is in the sentence, or in the one right after ("Yes, by Friday.").
            let deadline_text = if has_deadline(sentence) {
                sentence.to_string()
            } else {
                match sents.get(k + 1).filter(|n| has_deadline(n)) {
                    Some(n) => n.to_string(),
                    // A request to someone by name counts without one ("Carlos, please add …").
                    None if addressee.is_some() && lower.contains("please") => String::new(),
                    None => continue,
                }
            };
            let task = task_of(sentence);
            let least = if deadline_text.is_empty() { 3 } else { 2 };
            if task.split_whitespace().count() < least {
                continue;
            }
            out.push(Assignment {
                line: i,
                task,
                addressee,
                volunteered,
                deadline_text,
            });
        }
    }
    out
}

/// Words of assent that open a decision without being part of it ("Yes, we will record it").
const ASSENT_LEADS: [&str; 6] = ["Yes, ", "Okay, ", "OK, ", "Ok, ", "So, ", "Good, "];

/// "Yes, we will record it, that is decided." → "we will record it": the statement before a
/// closing marker, without a leading "Yes,"/"Okay,".
fn closing_marker_cut(sentence: &str) -> &str {
    let lower = sentence.to_lowercase();
    let mut s = sentence;
    for m in [
        ", that is decided",
        ", that's decided",
        ", it is decided",
        ", it's decided",
        ", that is settled",
        ", that's settled",
        ", it is settled",
        ", it's settled",
    ] {
        if let Some(i) = lower.find(m) {
            s = &sentence[..i];
            break;
        }
    }
    for lead in ASSENT_LEADS {
        if let Some(rest) = s.strip_prefix(lead)
            && s.len() < sentence.len()
        {
            return rest;
        }
    }
    s
}

/// "Then we have a decision, travel is frozen until October." → "travel is frozen until
/// October": what follows an opening clause that only announces the decision.
fn after_announcement(sentence: &str) -> &str {
    for (i, _) in sentence.match_indices(", ") {
        let (head, rest) = (&sentence[..i], &sentence[i + 2..]);
        let lower = head.to_lowercase();
        let announces = ["decision", "decide", "agreed", "official"]
            .iter()
            .any(|m| lower.contains(m));
        if announces {
            if !says_what(head) && rest.split_whitespace().count() >= 3 && says_what(rest) {
                return rest;
            }
            break;
        }
    }
    sentence
}

/// "Okay, then we agree that the survey moves." → "the survey moves": what follows a clause
/// that only says a decision is made.
fn after_that_clause(sentence: &str) -> &str {
    let lower = sentence.to_lowercase();
    for m in [
        "we agree that ",
        "we all agree that ",
        "we agreed that ",
        "we decided that ",
        "we decide that ",
        "it is decided that ",
    ] {
        // `get`: lower-casing can move byte offsets in text that is not ASCII.
        if let Some(rest) = lower.find(m).and_then(|i| sentence.get(i + m.len()..))
            && rest.split_whitespace().count() >= 3
            && says_what(rest)
        {
            return rest;
        }
    }
    sentence
}

/// A request to someone ("Robert, please publish …", "Could you …"): a task, not a decision.
pub(crate) fn is_request(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    lower.contains("please ")
        || ["could you ", "can you ", "would you ", "will you "]
            .iter()
            .any(|r| lower.starts_with(r))
        || matches!(address(sentence), Some(Address::Next(_)))
}

/// A sentence that only closes a decision said just before it ("That is decided.", "So it's
/// settled.").
fn is_closing_only(sentence: &str) -> bool {
    let lower = sentence
        .to_lowercase()
        .trim_end_matches(['.', '!'])
        .trim()
        .to_string();
    let body = ["so ", "okay, ", "ok, ", "good, ", "fine, ", "then "]
        .iter()
        .fold(lower.as_str(), |s, lead| s.strip_prefix(lead).unwrap_or(s));
    [
        "that is decided",
        "that's decided",
        "it is decided",
        "it's decided",
        "that is settled",
        "that's settled",
        "it is settled",
        "it's settled",
    ]
    .contains(&body)
}

/// Whether a decision sentence says what was decided, not only that a decision comes ("Fine,
/// then let's decide."): a few words besides the marker and fillers.
fn says_what(text: &str) -> bool {
    const MARKERS_AND_FILLERS: &[&str] = &[
        "decision", "decided", "decide", "agreed", "agree", "let's", "lets", "we", "then", "so",
        "official", "it's", "fine", "okay", "ok", "good", "great", "well", "now", "the", "is",
        "are", "that", "have", "has", "made", "make", "our", "a", "an", "it", "this", "right",
        "all",
    ];
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !MARKERS_AND_FILLERS.contains(&w.as_str()))
        .count()
        >= 2
}

/// Decisions said as such ("Decision: …", "So the decision is: …", "We agreed that …").
pub fn decisions(lines: &[&str]) -> Vec<Stated> {
    // Every sentence with its line, so an announcement can reach into the next line.
    let all: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .flat_map(|(i, line)| sentences(line).into_iter().map(move |s| (i, s)))
        .collect();
    let mut out: Vec<Stated> = Vec::new();
    for (k, &(i, sentence)) in all.iter().enumerate() {
        let lower = sentence.to_lowercase();
        if lower.ends_with('?') {
            continue;
        }
        let marked = [
            "decision",
            "decided:",
            "we decided",
            "we agreed",
            "let's decide",
            "agreed that",
            "is decided",
            "that's decided",
            "make it official",
            "it is settled",
            "it's settled",
            "that is settled",
            "that's settled",
            "we agree that",
            "we all agree that",
        ]
        .iter()
        .any(|m| lower.contains(m));
        if !marked {
            continue;
        }
        // A closing remark on its own ("… permission. That is decided."): the decision is the
        // statement said right before it, by the same turn or the one before.
        if is_closing_only(sentence) {
            if let Some(&(j, prev)) = k.checked_sub(1).and_then(|p| all.get(p))
                && j + 1 >= i
                && !prev.ends_with('?')
                && says_what(prev)
                && !is_request(prev)
            {
                let prev = ASSENT_LEADS
                    .iter()
                    .find_map(|lead| prev.strip_prefix(lead))
                    .unwrap_or(prev);
                let text = capitalized(prev.trim().trim_end_matches(['.', '!']).trim());
                if text.split_whitespace().count() >= 4
                    && !out.iter().any(|d| d.line == j && d.text == text)
                {
                    out.push(Stated { line: j, text });
                }
            }
            continue;
        }
        // The decision is what follows the marker's colon, when there is one, or what comes
        // before a closing "…, that is decided".
        let text = match sentence.split_once(':') {
            Some((_, rest)) if rest.split_whitespace().count() >= 3 => rest,
            _ => after_that_clause(after_announcement(closing_marker_cut(sentence))),
        };
        let text = text.trim().trim_end_matches(['.', '!']).trim();
        let (line, text) = if says_what(text) {
            (i, text)
        } else {
            // An announcement ("Fine, then let's decide." "Decision made."): the decision is
            // the sentence said right after it, when that one states something.
            match all.get(k + 1) {
                Some(&(j, next))
                    if j <= i + 1
                        && !next.ends_with('?')
                        && says_what(next)
                        && next.split_whitespace().count() >= 4 =>
                {
                    (j, next.trim().trim_end_matches(['.', '!']).trim())
                }
                _ => continue,
            }
        };
        let text = capitalized(text);
        if text.split_whitespace().count() < 4
            || is_request(&text)
            || out.iter().any(|d| d.line == line && d.text == text)
        {
            continue;
        }
        out.push(Stated { line, text });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_need_someone_and_a_deadline() {
        let lines = [
            "Diana, please write the copy for the three screens by Wednesday, April ninth.",
            "Give me a moment to share my screen.",
            "Okay, can everyone see it now?",
            "I will email the support team by Monday, April seventh.",
            "Please order it this week, Tom.",
            "Henry, please finish the chart colors. Yes, by Friday the 18th.",
            "Ben, can you look at it?",
            "Great, Carlos, please add the missing index and rerun the reports.",
            "Myanna, can also update the help center articles by Wednesday, April sixteenth?",
            "Please order it this week, Tom, by Friday, July fourth at the latest.",
            "Please send it on Friday, July fourth.",
            "Yes, I will send out packing instructions and labels by Friday, July eleventh.",
            "Yes, I will.",
            "Action item for Kevin: update the customer contract and send it to legal by Thursday.",
            "Action item for the team, nothing.",
        ];
        let a = assignments(&lines);
        let got: Vec<(usize, &str, Option<&str>, bool)> = a
            .iter()
            .map(|x| {
                (
                    x.line,
                    x.task.as_str(),
                    x.addressee.as_deref(),
                    x.volunteered,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    0,
                    "Write the copy for the three screens",
                    Some("Diana"),
                    false
                ),
                (3, "Email the support team", None, true),
                (4, "Order it", Some("Tom"), false),
                (5, "Finish the chart colors", Some("Henry"), false),
                (
                    7,
                    "Add the missing index and rerun the reports",
                    Some("Carlos"),
                    false
                ),
                (
                    8,
                    "Also update the help center articles",
                    Some("Myanna"),
                    false
                ),
                (9, "Order it", Some("Tom"), false),
                (11, "Send out packing instructions and labels", None, true),
                (
                    13,
                    "Update the customer contract and send it to legal",
                    Some("Kevin"),
                    false
                ),
            ]
        );
        assert!(a[3].deadline_text.contains("Friday"));
    }

    #[test]
    fn decisions_said_as_such() {
        let lines = [
            "Then let's decide: the onboarding flow will have three steps.",
            "Decision: dark mode ships in the May release, not in the summer release.",
            "Do we decide now?",
            "So the decision is: the production migration happens on Saturday the 22nd.",
            "I like it.",
            "Fine, then let's decide.",
            "The survey moves to day seven.",
            "Let's drop it. Decision made.",
            "Okay, decision made?",
            "Yes, we will record it with the customer's permission, that is decided.",
            "Okay, then let's make it official, we will make offers to both candidates.",
            "Then we have a decision, non-customer travel is frozen until October.",
            "Fine, it is settled: the team offsite takes place at the lake hotel.",
            "Okay, then we agree that every new team member gets a mentor.",
            "Yes, we will record the demo, with the customer's permission. That is decided.",
            "We keep the old logo for now.",
            "So it's settled.",
            "Robert, please publish the second job posting by Thursday. That is settled.",
            "Decision: Maria, please book the room.",
        ];
        let d = decisions(&lines);
        let got: Vec<&str> = d.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            got,
            [
                "The onboarding flow will have three steps",
                "Dark mode ships in the May release, not in the summer release",
                "The production migration happens on Saturday the 22nd",
                "The survey moves to day seven",
                "We will record it with the customer's permission",
                "We will make offers to both candidates",
                "Non-customer travel is frozen until October",
                "The team offsite takes place at the lake hotel",
                "Every new team member gets a mentor",
                "We will record the demo, with the customer's permission",
                "We keep the old logo for now",
            ]
        );
    }
}
