//! From what the model wrote to notes a person can trust: every decision and action item is
//! checked against the transcript (an item whose words cannot be found there is dropped and
//! counted), carries the time and speaker of its evidence, owners become the names of people
//! in the meeting, deadlines become ISO dates, duplicates across map windows are merged, and
//! markup or template junk is cleaned away.
//!
//! Pure: the transcript lines, the meeting date and the participants' names come in; nothing
//! is read from the model that the transcript does not support.

use nightshift_core::{ActionItem, Decision, Summary};

use crate::dates::{self, Date};
use crate::explicit::capitalized;
use crate::names::{Address, address};
use crate::schema::{SummaryOut, TimedAction, TimedItem, parse_time};

/// Share of an item's content words that must appear in one stretch of transcript (a line and
/// the two after it) for the item to count as said. Calibrated on the corpus meetings with the
/// default model: true items score 0.67–1.0, invented ones ≤ 0.4.
pub const EVIDENCE_MIN: f64 = 0.5;
/// Two items whose content words overlap this much (Jaccard) say the same thing.
pub const DUPLICATE_MIN: f64 = 0.6;
/// Two action items on one evidence line are one task, and a stated decision replaces the
/// model's decision from a line that decides nothing, when this share of the shorter's
/// content words is in the longer.
pub const OVERLAP_MIN: f64 = 0.6;

/// One transcript line: meeting seconds, speaker name (or label), text.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    pub start: f64,
    pub end: f64,
    pub speaker: Option<&'a str>,
    pub text: &'a str,
}

/// What the refinement knows about the meeting.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// Deadlines resolve against it; without it they stay as said.
    pub meeting_date: Option<Date>,
    /// Participants' names (hand-given, enrolled, or proposed from speech), for owners.
    pub names: &'a [String],
    /// Speaker label → name, for owners the model gave as `SPEAKER_n`.
    pub labels: &'a [(String, String)],
}

/// The refined summary and what was dropped for lack of evidence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refined {
    pub summary: Summary,
    /// Items the transcript does not support, as the model wrote them.
    pub unsupported: Vec<String>,
}

/// Lower-case content words, lightly stemmed, without stop words.
fn content_words(text: &str) -> Vec<String> {
    const STOP: &[&str] = &[
        "the", "and", "for", "with", "that", "this", "will", "would", "should", "can", "could",
        "are", "was", "were", "has", "have", "had", "not", "but", "from", "our", "your", "their",
        "its", "into", "onto", "then", "than", "them", "they", "you", "she", "him", "her", "his",
        "all", "any", "also", "just", "now", "there", "here", "what", "which", "who", "whom",
        "been", "being", "let", "lets", "please", "okay", "yes", "meeting", "team", "decide",
        "decided", "decision", "agreed", "made",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.len() >= 3 && !STOP.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

fn stem(w: &str) -> String {
    for suffix in ["ing", "ed", "es", "s"] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.len() >= 3
        {
            return base.to_string();
        }
    }
    w.to_string()
}

/// Markup, template tokens and stray punctuation out; whitespace collapsed.
pub fn clean(text: &str) -> String {
    let text = without_time_refs(text);
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            '*' | '`' | '#' | '|' | '{' | '}' | '[' | ']' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .trim_matches(|c: char| c == ',' || c == ';' || c == ':' || c == '-' || c == '—')
        .trim()
        .to_string()
}

/// The text without the transcript's time references the model copies into items ("… to
/// everyone. (00:54)", "[01:02:03]"): the item's time is kept separately and `show` links it.
/// A time said in the text ("at 10:30") has no brackets and stays.
fn without_time_refs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['(', '[']) {
        let close = if rest[i..].starts_with('(') { ')' } else { ']' };
        let inner_end = rest[i + 1..].find(close).map(|j| i + 1 + j);
        let is_time = inner_end.is_some_and(|e| {
            let inner = &rest[i + 1..e];
            let parts: Vec<&str> = inner.split(':').collect();
            (2..=3).contains(&parts.len())
                && parts
                    .iter()
                    .all(|p| (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()))
        });
        match inner_end {
            Some(e) if is_time => {
                out.push_str(&rest[..i]);
                rest = &rest[e + 1..];
            }
            _ => {
                out.push_str(&rest[..=i]);
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The stretch of transcript (a line and the next two) that best supports `words`, with its
/// score; lines near `near_s` (the model's time) win ties.
fn evidence(lines: &[Line<'_>], words: &[String], near_s: Option<f64>) -> Option<(usize, f64)> {
    if words.is_empty() {
        return None;
    }
    let mut best: Option<(usize, f64)> = None;
    for i in 0..lines.len() {
        let stretch: Vec<String> = lines[i..(i + 3).min(lines.len())]
            .iter()
            .flat_map(|l| content_words(l.text))
            .collect();
        let hits = words.iter().filter(|w| stretch.contains(w)).count();
        let mut score = hits as f64 / words.len() as f64;
        if near_s.is_some_and(|t| (lines[i].start - t).abs() <= 45.0) {
            score += 0.01;
        }
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((i, score));
        }
    }
    // The line within the stretch that holds most of the words is the evidence itself.
    best.map(|(i, s)| {
        let own = |j: usize| {
            let lw = content_words(lines[j].text);
            words.iter().filter(|w| lw.contains(w)).count()
        };
        let j = (i..(i + 3).min(lines.len()))
            .max_by_key(|&j| (own(j), std::cmp::Reverse(j)))
            .unwrap_or(i);
        (j, s.min(1.0))
    })
}

/// Whether a transcript line sounds like a decision or an assignment: the prompts list these
/// lines so a small model checks each instead of stopping after the first few it notices.
pub fn is_cue_line(text: &str) -> bool {
    const CUES: &[&str] = &[
        "we will ",
        "we'll ",
        "is frozen",
        "from now on",
        "no longer",
        "decide",
        "decision",
        "agreed",
        "we'll go with",
        "let's go with",
        "let's drop",
        "let's do",
        "let's move",
        "let's ship",
        "we will ship",
        "we'll ship",
        "is removed",
        "please",
        "could you",
        "can you",
        "would you",
        "will you",
        "i will ",
        "i'll ",
        "i can do",
        "action item",
        "take care of",
        "is on it",
        "owner",
    ];
    let lower = text.to_lowercase();
    let dated = [
        "by monday",
        "by tuesday",
        "by wednesday",
        "by thursday",
        "by friday",
        "by saturday",
        "by sunday",
        "by the ",
        "by next",
        "by tomorrow",
        "by end of",
        "by the end",
    ];
    CUES.iter().any(|c| lower.contains(c)) || dated.iter().any(|c| lower.contains(c))
}

fn jaccard(a: &[String], b: &[String]) -> f64 {
    let inter = a.iter().filter(|w| b.contains(w)).count();
    let union = a.len() + b.iter().filter(|w| !a.contains(w)).count();
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A speaker label or a name as a person: the participant it refers to, else as it is.
fn person(raw: &str, ctx: &Context<'_>) -> String {
    known_name(raw, ctx).unwrap_or_else(|| raw.to_string())
}

/// The participant a name (or label, or mis-heard name) refers to, if any.
fn known_name(raw: &str, ctx: &Context<'_>) -> Option<String> {
    let raw = raw.trim();
    if let Some((_, name)) = ctx.labels.iter().find(|(l, _)| l.eq_ignore_ascii_case(raw)) {
        return Some(name.clone());
    }
    let lower = raw.to_lowercase();
    if let Some(n) = ctx.names.iter().find(|n| n.to_lowercase() == lower) {
        return Some(n.clone());
    }
    // A mis-heard name: one edit for short names, two for longer ones.
    ctx.names
        .iter()
        .map(|n| (edit_distance(&n.to_lowercase(), &lower), n))
        .filter(|(d, n)| *d <= if n.len() > 5 { 2 } else { 1 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.clone())
}

/// Who will do it: the person the evidence addresses ("Diana, please …"), the speaker when
/// they volunteer ("I will …"), the person a recap names for the task ("Sophia sends the
/// travel freeze note by July 7th"), else the model's owner as a participant's name.
fn owner(
    model_owner: &str,
    task_words: &[String],
    lines: &[Line<'_>],
    i: usize,
    ctx: &Context<'_>,
) -> Option<String> {
    let line = &lines[i];
    if let Some(said) = said_owner(line, ctx) {
        return Some(said);
    }
    if let Some(named) = recap_owner(task_words, lines, i, ctx) {
        return Some(named);
    }
    let owner = model_owner_name(model_owner, line, ctx);
    // Whoever asks is not the one asked: a request whose addressee went unheard ("I earn a,
    // please write …") belongs to the one who answers it, the next other speaker.
    let asker = line.speaker.map(|s| person(s, ctx));
    if owner.is_some() && owner == asker && is_request(line.text) {
        let answer = lines[i + 1..(i + 3).min(lines.len())]
            .iter()
            .filter_map(|l| l.speaker)
            .find(|s| Some(*s) != line.speaker);
        if let Some(s) = answer {
            return Some(person(s, ctx));
        }
    }
    owner
}

fn is_request(text: &str) -> bool {
    let lower = text.to_lowercase();
    ["please", "could you", "can you", "would you", "will you"]
        .iter()
        .any(|r| lower.contains(r))
}

/// The speaker commits to it: "I will …" at the start of a sentence or after a comma ("The
/// conference will be at a hotel, I will ask for quotes").
fn volunteers(text: &str) -> bool {
    let said = text.trim_start().to_lowercase();
    [
        "i will ",
        "i'll ",
        "i can ",
        "i am going to ",
        "i'm going to ",
        "let me ",
    ]
    .iter()
    .any(|v| {
        said.starts_with(v) || said.contains(&format!(". {v}")) || said.contains(&format!(", {v}"))
    })
}

/// The owner as said on the evidence line: the person addressed, or the speaker volunteering.
fn said_owner(line: &Line<'_>, ctx: &Context<'_>) -> Option<String> {
    for sentence in line.text.split(['.', '!', '?']) {
        if let Some(Address::Next(name)) = address(sentence.trim())
            && let Some(n) = known_name(&name, ctx).or(Some(name))
        {
            return Some(n);
        }
    }
    let speaker = line.speaker.filter(|_| volunteers(line.text))?;
    Some(person(speaker, ctx))
}

/// A recap elsewhere in the meeting that names who does this task: a clause "<Name> <verb>s
/// …" ("Tom orders the internet by July 4th and sends the packing instructions …": both
/// Tom's) sharing at least half of the task's content words, two at least. "I" is the recap's
/// speaker.
fn recap_owner(
    task_words: &[String],
    lines: &[Line<'_>],
    i: usize,
    ctx: &Context<'_>,
) -> Option<String> {
    const NOT_NAMES: &[&str] = &[
        "the", "this", "that", "it", "he", "she", "we", "they", "and", "but", "so", "then",
        "everyone", "nobody", "someone", "who", "what", "there", "here", "one", "let's",
    ];
    let need = (task_words.len().div_ceil(2)).max(2);
    let mut best: Option<(usize, String)> = None;
    for (j, line) in lines.iter().enumerate() {
        if j == i {
            continue;
        }
        for sentence in line.text.split(['.', '!', '?', ';']) {
            let mut subject: Option<String> = None;
            for clause in sentence
                .split([',', ';'])
                .flat_map(|part| part.split(" and "))
            {
                let words: Vec<&str> = clause
                    .split_whitespace()
                    .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\''))
                    .filter(|w| !w.is_empty())
                    .skip_while(|w| ["And", "So", "Then", "Also"].contains(w))
                    .collect();
                let (Some(first), Some(verb)) = (words.first(), words.get(1)) else {
                    continue;
                };
                let third_person =
                    verb.len() > 2 && verb.ends_with('s') && verb.chars().all(|c| c.is_lowercase());
                if *first == "I" && verb.chars().all(|c| c.is_lowercase()) {
                    subject = line.speaker.map(|s| person(s, ctx));
                } else if third_person
                    && first.chars().next().is_some_and(char::is_uppercase)
                    && first.chars().all(char::is_alphabetic)
                    && !NOT_NAMES.contains(&first.to_lowercase().as_str())
                {
                    subject = Some(person(first, ctx));
                } else if !(first.ends_with('s') && first.chars().all(|c| c.is_lowercase())) {
                    continue; // a clause of its own that names nobody
                }
                let Some(who) = &subject else { continue };
                let clause_words = content_words(clause);
                let shared = task_words
                    .iter()
                    .filter(|w| clause_words.contains(w))
                    .count();
                if shared >= need && best.as_ref().is_none_or(|(n, _)| shared > *n) {
                    best = Some((shared, who.clone()));
                }
            }
        }
    }
    best.map(|(_, who)| who)
}

/// The model's owner as a participant's name, a plain name, or the speaker for "I".
fn model_owner_name(model_owner: &str, line: &Line<'_>, ctx: &Context<'_>) -> Option<String> {
    let o = clean(model_owner);
    if o.is_empty() {
        return None;
    }
    if matches!(o.to_lowercase().as_str(), "i" | "me" | "myself") {
        return line.speaker.map(str::to_string);
    }
    known_name(&o, ctx).or_else(|| {
        // Someone not in the meeting: keep a plain name, never a pronoun or a phrase.
        let plain = o.split_whitespace().count() <= 2
            && o.chars().next().is_some_and(char::is_uppercase)
            && !o.to_lowercase().starts_with("speaker");
        plain.then_some(o)
    })
}

/// The deadline as an ISO date and as said: the date said in the evidence line (what was
/// actually said wins over the model's retelling), else the model's `due`, resolved against
/// the meeting date.
fn due(model_due: &str, line: &Line<'_>, ctx: &Context<'_>) -> (Option<String>, Option<String>) {
    let said = clean(model_due);
    let Some(meeting) = ctx.meeting_date else {
        if let Some(d) = Date::parse_iso(&said) {
            return (Some(d.to_string()), None);
        }
        return (None, (!said.is_empty()).then_some(said));
    };
    if let Some(d) = dates::resolve(line.text, meeting) {
        return (Some(d.to_string()), None);
    }
    if let Some(d) = Date::parse_iso(&said).or_else(|| dates::resolve(&said, meeting)) {
        return (Some(d.to_string()), None);
    }
    (None, (!said.is_empty()).then_some(said))
}

/// How many lines apart one task can be asked for and taken on ("Please order it, Tom." /
/// "Okay, I will order it by Friday.").
const NEARBY_LINES: usize = 3;

/// Refine the model's summary against the transcript, and add what was said explicitly that
/// the model left out (see [`crate::explicit`]).
pub fn refine(out: SummaryOut, lines: &[Line<'_>], ctx: &Context<'_>) -> Refined {
    let mut refined = Refined {
        summary: Summary {
            overview: clean(&out.overview),
            ..Summary::default()
        },
        ..Refined::default()
    };
    let texts: Vec<&str> = lines.iter().map(|l| l.text).collect();
    let assigned = crate::explicit::assignments(&texts);
    let stated = crate::explicit::decisions(&texts);
    let mut decisions = model_decisions(out.decisions, lines, &assigned, &stated, &mut refined);
    for d in stated {
        let words = content_words(&d.text);
        if decisions.iter().any(|(i, _)| *i == d.line) {
            continue; // the model found this line too: its wording stays
        }
        // What was said as a decision outranks the model's retelling of the same topic from
        // a line that decides nothing ("Our plan wants to ship it in the summer release, but
        // …" beside "Decision: dark mode ships in the May release").
        decisions.retain(|(i, kept)| {
            is_cue_line(lines[*i].text) || overlap(&content_words(&kept.text), &words) < OVERLAP_MIN
        });
        let known = decisions
            .iter()
            .any(|(_, kept)| jaccard(&content_words(&kept.text), &words) >= DUPLICATE_MIN);
        if !known {
            decisions.push((d.line, decision_at(lines, d.line, d.text)));
        }
    }
    let mut actions: Vec<(usize, ActionItem)> = Vec::new();
    let mut seen: Vec<Vec<String>> = Vec::new();
    for a in out.action_items {
        if let Some(item) = action(a, lines, ctx, &mut seen, &mut refined.unsupported)
            && !actions.iter().any(|kept| same_task(kept, &item))
            && !is_a_decision(&item, &decisions, lines, ctx)
        {
            actions.push(item);
        }
    }
    for a in assigned {
        let owner = match &a.addressee {
            Some(name) => Some(person(name, ctx)),
            None => lines[a.line].speaker.map(|s| person(s, ctx)),
        };
        let due = ctx
            .meeting_date
            .filter(|_| !a.deadline_text.is_empty())
            .and_then(|m| dates::resolve(&a.deadline_text, m))
            .map(|d| d.to_string());
        // The model found it too (on this line, the same task said on another, or a task
        // for the same person and deadline a few lines away: "… I have to order it very
        // soon." / "Please order it this week, Tom, by Friday."): its wording, the explicit
        // owner, deadline and line.
        let words = content_words(&a.task);
        let found = actions.iter_mut().find(|(i, item)| {
            *i == a.line
                || jaccard(&content_words(&item.task), &words) >= DUPLICATE_MIN
                || (due.is_some()
                    && item.due == due
                    && item.owner == owner
                    && i.abs_diff(a.line) <= NEARBY_LINES)
        });
        match found {
            Some((i, item)) => {
                *i = a.line;
                item.time = Some(lines[a.line].start);
                item.owner = owner.or(item.owner.take());
                if due.is_some() {
                    item.due = due;
                    item.due_spoken = None;
                }
            }
            None => actions.push((
                a.line,
                ActionItem {
                    task: a.task,
                    owner,
                    due_spoken: (due.is_none() && !a.deadline_text.is_empty())
                        .then(|| a.deadline_text.clone()),
                    due,
                    time: Some(lines[a.line].start),
                },
            )),
        }
    }
    decisions.sort_by_key(|(i, _)| *i);
    actions.sort_by_key(|(i, _)| *i);
    refined.summary.decisions = decisions.into_iter().map(|(_, d)| d).collect();
    refined.summary.action_items = actions.into_iter().map(|(_, a)| a).collect();
    refined.summary.open_questions = questions(&out.open_questions);
    refined
}

fn decision_at(lines: &[Line<'_>], i: usize, text: String) -> Decision {
    Decision {
        text,
        time: Some(lines[i].start),
        speaker: lines[i].speaker.map(str::to_string),
    }
}

/// The model's decisions with evidence, without duplicates, and without the assignments a
/// small model also lists as decisions (a line that assigns a task and says no decision).
fn model_decisions(
    items: Vec<TimedItem>,
    lines: &[Line<'_>],
    assigned: &[crate::explicit::Assignment],
    stated: &[crate::explicit::Stated],
    refined: &mut Refined,
) -> Vec<(usize, Decision)> {
    let mut seen: Vec<Vec<String>> = Vec::new();
    let mut kept = Vec::new();
    for TimedItem { text, time } in items {
        let text = clean(&text);
        let words = content_words(&text);
        match supported(lines, &words, &time) {
            // A request worded as a decision ("Robert, please publish …") is a task: the
            // action items carry it.
            Some(_) if crate::explicit::is_request(&text) => {}
            Some(i)
                if assigned.iter().any(|a| a.line == i) && !stated.iter().any(|d| d.line == i) => {}
            Some(i) if !duplicate(&mut seen, &words) => kept.push((i, decision_at(lines, i, text))),
            Some(_) => {}
            None if !text.is_empty() => refined.unsupported.push(text),
            None => {}
        }
    }
    kept
}

fn questions(items: &[String]) -> Vec<String> {
    items
        .iter()
        .map(|q| clean(q))
        .filter(|q| content_words(q).len() >= 2)
        .fold(Vec::new(), |mut acc: Vec<String>, q| {
            if !acc
                .iter()
                .any(|p| jaccard(&content_words(p), &content_words(&q)) >= DUPLICATE_MIN)
            {
                acc.push(q);
            }
            acc
        })
}

fn action(
    a: TimedAction,
    lines: &[Line<'_>],
    ctx: &Context<'_>,
    seen: &mut Vec<Vec<String>>,
    unsupported: &mut Vec<String>,
) -> Option<(usize, ActionItem)> {
    // The deadline is kept apart from the task ("Email the team by Monday" → "Email the team").
    let task = crate::explicit::without_deadline(&clean(&a.task));
    let task = capitalized(crate::explicit::strip_address(&task));
    let words = content_words(&task);
    let Some(i) = supported(lines, &words, &a.time) else {
        if !task.is_empty() {
            unsupported.push(task);
        }
        return None;
    };
    if duplicate(seen, &words) {
        return None;
    }
    let line = &lines[i];
    let (due, due_spoken) = due(&a.due, line, ctx);
    Some((
        i,
        ActionItem {
            task,
            owner: owner(&a.owner, &words, lines, i, ctx),
            due,
            due_spoken,
            time: Some(line.start),
        },
    ))
}

/// Whether two action items are one task: the same evidence line, and the words of the
/// shorter mostly inside the longer ("Send the note to all staff about the freeze" and "Send
/// the travel freeze note to all staff"). Two tasks said in one line share few words.
fn same_task(a: &(usize, ActionItem), b: &(usize, ActionItem)) -> bool {
    if a.0 != b.0 {
        return false;
    }
    overlap(&content_words(&a.1.task), &content_words(&b.1.task)) >= OVERLAP_MIN
}

/// A decision the model also listed as a task ("We will record it with the customer's
/// permission, that is decided." → "Record the demo"): the same line as a kept decision, mostly
/// its words, and nobody asked or volunteering on it.
fn is_a_decision(
    item: &(usize, ActionItem),
    decisions: &[(usize, Decision)],
    lines: &[Line<'_>],
    ctx: &Context<'_>,
) -> bool {
    let words = content_words(&item.1.task);
    decisions
        .iter()
        .any(|(i, d)| *i == item.0 && overlap(&words, &content_words(&d.text)) >= OVERLAP_MIN)
        && said_owner(&lines[item.0], ctx).is_none()
}

/// Share of the shorter word list's words that are in the other.
fn overlap(a: &[String], b: &[String]) -> f64 {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return 0.0;
    }
    short.iter().filter(|w| long.contains(w)).count() as f64 / short.len() as f64
}

/// The evidence line of an item with at least two content words, if the transcript holds it.
fn supported(lines: &[Line<'_>], words: &[String], time: &str) -> Option<usize> {
    if words.len() < 2 {
        return None;
    }
    evidence(lines, words, parse_time(time)).and_then(|(i, s)| (s >= EVIDENCE_MIN).then_some(i))
}

/// Whether `words` repeat an item already kept (then not kept again); records it otherwise.
fn duplicate(seen: &mut Vec<Vec<String>>, words: &[String]) -> bool {
    if seen.iter().any(|s| jaccard(s, words) >= DUPLICATE_MIN) {
        return true;
    }
    seen.push(words.to_vec());
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Vec<Line<'static>> {
        let raw: [(f64, &str, &str); 6] = [
            (
                0.0,
                "Grace",
                "Welcome to the design review. Today is Thursday, April third.",
            ),
            (
                60.0,
                "Grace",
                "Then let's decide: the onboarding flow will have three steps, and the survey moves to day seven.",
            ),
            (
                66.0,
                "Grace",
                "Diana, please write the copy for the three screens by Wednesday, April ninth.",
            ),
            (70.0, "Diana", "I can do that."),
            (
                120.0,
                "Henry",
                "I will email the support team by Monday, April seventh.",
            ),
            (
                130.0,
                "Grace",
                "Decision made: the old tablet layout is removed in the May release.",
            ),
        ];
        timed(&raw)
    }

    /// Transcript lines from (start, speaker, text), each 3 s long.
    fn timed<'a>(raw: &[(f64, &'a str, &'a str)]) -> Vec<Line<'a>> {
        raw.iter()
            .map(|&(start, speaker, text)| Line {
                start,
                end: start + 3.0,
                speaker: Some(speaker),
                text,
            })
            .collect()
    }

    fn item(text: &str, time: &str) -> TimedItem {
        TimedItem {
            text: text.into(),
            time: time.into(),
        }
    }

    fn act(task: &str, owner: &str, due: &str) -> TimedAction {
        TimedAction {
            task: task.into(),
            owner: owner.into(),
            due: due.into(),
            time: String::new(),
        }
    }

    #[test]
    fn a_request_whose_addressee_went_unheard_belongs_to_who_answers() {
        let names = vec!["Grace".to_string()];
        let ctx = Context {
            meeting_date: None,
            names: &names,
            labels: &[],
        };
        let raw = [
            (
                0.0,
                "Grace",
                "My owner, could you also update the help center articles?",
            ),
            (5.0, "Grace", "And the release notes."),
            (8.0, "SPEAKER_3", "Yes, by Wednesday the 16th."),
            (
                12.0,
                "Grace",
                "Could you also check the logs, I will do it myself.",
            ),
        ];
        let lines = timed(&raw);
        let out = SummaryOut {
            action_items: vec![
                act("Update the help center articles", "Grace", ""),
                act("Check the logs", "Grace", ""),
            ],
            ..SummaryOut::default()
        };
        let r = refine(out, &lines, &ctx);
        let owners: Vec<Option<&str>> = r
            .summary
            .action_items
            .iter()
            .map(|a| a.owner.as_deref())
            .collect();
        assert_eq!(owners, [Some("SPEAKER_3"), Some("Grace")]);
    }

    #[test]
    fn a_task_asked_for_again_a_line_later_is_one_item_in_the_models_words() {
        let names = vec!["Olivia".to_string(), "Tom".to_string()];
        let ctx = Context {
            meeting_date: Date::new(2025, 7, 1),
            names: &names,
            labels: &[],
        };
        let raw = [
            (
                0.0,
                "Olivia",
                "And what about the internet at the new place?",
            ),
            (
                3.0,
                "Tom",
                "The provider needs three weeks, so I have to order the internet very soon.",
            ),
            (
                9.0,
                "Olivia",
                "Please order it this week, Tom, by Friday, July fourth at the latest.",
            ),
            (13.0, "Tom", "Okay, I will order it by Friday."),
        ];
        let lines = timed(&raw);
        let mut a = act(
            "Order the internet for the new office",
            "Tom",
            "Friday, July fourth",
        );
        a.time = "00:03".into();
        let out = SummaryOut {
            action_items: vec![a],
            ..SummaryOut::default()
        };
        let r = refine(out, &lines, &ctx);
        let got: Vec<(&str, Option<&str>, Option<&str>)> = r
            .summary
            .action_items
            .iter()
            .map(|a| (a.task.as_str(), a.owner.as_deref(), a.due.as_deref()))
            .collect();
        assert_eq!(
            got,
            [(
                "Order the internet for the new office",
                Some("Tom"),
                Some("2025-07-04")
            )]
        );
    }

    #[test]
    fn a_stated_decision_replaces_the_models_retelling_from_a_discussion_line() {
        let raw = [
            (
                0.0,
                "Grace",
                "Our plan wants to ship dark mode in the summer release, but I think sooner.",
            ),
            (9.0, "Henry", "The chart colours still need work."),
            (
                20.0,
                "Grace",
                "Decision: dark mode ships in the May release, not in the summer release.",
            ),
            (30.0, "Grace", "We keep the weekly sync on Tuesdays."),
        ];
        let lines = timed(&raw);
        let out = SummaryOut {
            decisions: vec![
                item("Dark mode ships in the summer release", "00:00"),
                item("The weekly sync stays on Tuesdays", "00:30"),
            ],
            // The same decision listed as a task too: left out.
            action_items: vec![act("Keep the weekly sync on Tuesdays", "Grace", "")],
            ..SummaryOut::default()
        };
        let r = refine(out, &lines, &Context::default());
        let got: Vec<(&str, Option<f64>)> = r
            .summary
            .decisions
            .iter()
            .map(|d| (d.text.as_str(), d.time))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "Dark mode ships in the May release, not in the summer release",
                    Some(20.0)
                ),
                ("The weekly sync stays on Tuesdays", Some(30.0)),
            ]
        );
        assert!(
            r.summary.action_items.is_empty(),
            "{:?}",
            r.summary.action_items
        );
    }

    #[test]
    fn a_recap_names_the_owner_the_model_got_wrong() {
        let names = vec!["Tom".to_string(), "Marcus".to_string()];
        let ctx = Context {
            meeting_date: None,
            names: &names,
            labels: &[],
        };
        let raw = [
            (
                0.0,
                "SPEAKER_1",
                "So fear, please send a note to all staff about the freeze.",
            ),
            (
                5.0,
                "Tom",
                "The internet needs three weeks, so it has to be ordered soon.",
            ),
            (9.0, "SPEAKER_1", "Then publish the rotation by Friday."),
            (
                20.0,
                "SPEAKER_1",
                "To recap, Marcus sends the letters, Sophia sends the freeze note to all staff.",
            ),
            (
                25.0,
                "SPEAKER_1",
                "Tom orders the internet and sends the packing labels. And I publish the rotation.",
            ),
        ];
        let lines = timed(&raw);
        let out = SummaryOut {
            action_items: vec![
                act("Send a note to all staff about the freeze", "Tom", ""),
                act("Order the internet", "Marcus", ""),
                act("Publish the rotation", "Marcus", ""),
            ],
            ..SummaryOut::default()
        };
        let r = refine(out, &lines, &ctx);
        let owners: Vec<(&str, Option<&str>)> = r
            .summary
            .action_items
            .iter()
            .map(|a| (a.task.as_str(), a.owner.as_deref()))
            .collect();
        assert_eq!(
            owners,
            [
                ("Send a note to all staff about the freeze", Some("Sophia")),
                ("Order the internet", Some("Tom")),
                ("Publish the rotation", Some("SPEAKER_1")),
            ]
        );
    }

    #[test]
    fn one_task_said_or_listed_twice_is_one_item() {
        let names = vec!["Grace".to_string(), "Henry".to_string()];
        let ctx = Context {
            meeting_date: Date::new(2025, 4, 3),
            names: &names,
            labels: &[],
        };
        let raw = [
            (
                10.0,
                "Henry",
                "I will finish the chart colors, two weeks should be enough.",
            ),
            (
                20.0,
                "Grace",
                "Henry, please finish the chart colors by Friday, April 18th.",
            ),
            (
                30.0,
                "Grace",
                "Tom, please send a note to all staff about the travel freeze by Monday.",
            ),
            (
                40.0,
                "Grace",
                "Tom, order the internet and send the packing labels by Friday.",
            ),
        ];
        let lines = timed(&raw);
        let out = SummaryOut {
            action_items: vec![
                act("Finish chart colors", "Henry", ""),
                act("Send the travel freeze note to all staff", "Tom", "Monday"),
                act(
                    "Send the note to all staff about the freeze",
                    "Tom",
                    "Monday",
                ),
                act("Order the internet", "Tom", "Friday"),
                act("Send the packing labels", "Tom", "Friday"),
            ],
            ..SummaryOut::default()
        };
        let r = refine(out, &lines, &ctx);
        let got: Vec<(&str, Option<f64>, Option<&str>)> = r
            .summary
            .action_items
            .iter()
            .map(|a| (a.task.as_str(), a.time, a.due.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                // The model's wording, the assignment's line and deadline.
                ("Finish chart colors", Some(20.0), Some("2025-04-18")),
                (
                    "Send the travel freeze note to all staff",
                    Some(30.0),
                    Some("2025-04-07")
                ),
                // Two tasks in one line stay two.
                ("Order the internet", Some(40.0), Some("2025-04-04")),
                ("Send the packing labels", Some(40.0), Some("2025-04-04")),
            ]
        );
    }

    #[test]
    fn supported_items_get_evidence_times_owners_and_iso_dues() {
        let names = vec![
            "Grace".to_string(),
            "Henry".to_string(),
            "Diana".to_string(),
        ];
        let ctx = Context {
            meeting_date: Date::new(2025, 4, 3),
            names: &names,
            labels: &[],
        };
        let out = SummaryOut {
            overview: "Design <b>review</b> of the app.".into(),
            decisions: vec![
                item("The onboarding flow will have three steps", "01:00"),
                item("Onboarding flow has three steps", "01:02"),
                item("The old tablet layout is removed in the May release", ""),
                item("The company will move to a new office in June", "00:10"),
            ],
            action_items: vec![
                act(
                    "Write the copy for the three screens",
                    "Grace",
                    "Wednesday, April ninth",
                ),
                act("Email the support team", "SPEAKER_2", ""),
                act("Buy a new coffee machine", "Henry", "Friday"),
            ],
            open_questions: vec![
                "".into(),
                "Do we still support the old tablet layout?".into(),
            ],
        };
        let r = refine(out, &lines(), &ctx);
        let s = &r.summary;
        assert_eq!(s.overview, "Design review of the app.");
        assert_eq!(s.decisions.len(), 2, "{:?}", s.decisions);
        assert_eq!(s.decisions[0].time, Some(60.0));
        assert_eq!(s.decisions[1].time, Some(130.0));
        assert_eq!(r.unsupported.len(), 2, "{:?}", r.unsupported);
        assert_eq!(s.action_items.len(), 2, "{:?}", s.action_items);
        let copy = &s.action_items[0];
        assert_eq!(
            copy.owner.as_deref(),
            Some("Diana"),
            "the addressee, not the chair"
        );
        assert_eq!(copy.due.as_deref(), Some("2025-04-09"));
        assert_eq!(copy.time, Some(66.0));
        let email = &s.action_items[1];
        assert_eq!(email.owner.as_deref(), Some("Henry"), "who volunteered");
        assert_eq!(
            email.due.as_deref(),
            Some("2025-04-07"),
            "from the evidence line"
        );
        assert_eq!(s.open_questions.len(), 1);
    }

    #[test]
    fn without_a_meeting_date_deadlines_stay_as_said() {
        let ctx = Context::default();
        let out = SummaryOut {
            action_items: vec![act(
                "Write the copy for the screens",
                "Diana",
                "April ninth",
            )],
            ..SummaryOut::default()
        };
        let r = refine(out, &lines(), &ctx);
        let a = &r.summary.action_items[0];
        assert_eq!(a.due, None);
        assert_eq!(a.due_spoken.as_deref(), Some("April ninth"));
    }

    #[test]
    fn cleaning_removes_markup_and_names_match_with_a_typo() {
        assert_eq!(clean("Sterkie<br><span class= — ::"), "Sterkie");
        assert_eq!(clean("  **Ship** it  ,"), "Ship it");
        assert_eq!(
            clean("Send the notes to everyone. (02:26)"),
            "Send the notes to everyone."
        );
        assert_eq!(
            clean("[01:02:03] Meet at 10:30 (room 4)"),
            "Meet at 10:30 (room 4)"
        );
        let names = vec!["Henry".to_string()];
        let ctx = Context {
            names: &names,
            ..Context::default()
        };
        assert_eq!(known_name("henri", &ctx).as_deref(), Some("Henry"));
        assert_eq!(known_name("Harry", &ctx), None);
    }
}
