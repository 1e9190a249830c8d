//! Names people call each other by, for speakers the diarization only knows as `SPEAKER_n`.
//!
//! Meetings name their participants in passing: "Thanks, Grace." (the one who just spoke),
//! "Go ahead, Henry." / "Diana, please write the copy…" (the one who speaks next), "I'm Tom"
//! (the one speaking). Each such address is a vote for a label → name; the best-supported pairs
//! win, one name per label and one label per name. The result is a proposal, shown as such and
//! overridden by a name given by hand or an enrolled voice.
//!
//! Pure: works on the transcript's turns (speaker label + text, in order).

use std::collections::BTreeMap;

/// Words that start sentences or follow a greeting and are not names.
const NOT_NAMES: &[&str] = &[
    "I",
    "I'm",
    "I'll",
    "I've",
    "I'd",
    "OK",
    "Okay",
    "Yes",
    "Yeah",
    "No",
    "Right",
    "Sure",
    "Thanks",
    "Thank",
    "Great",
    "Good",
    "Fine",
    "Well",
    "So",
    "And",
    "But",
    "Then",
    "Now",
    "Also",
    "Please",
    "Sorry",
    "Hi",
    "Hello",
    "Hey",
    "Welcome",
    "Everyone",
    "Everybody",
    "All",
    "Team",
    "Folks",
    "Guys",
    "Agreed",
    "Perfect",
    "Alright",
    "Let's",
    "We",
    "You",
    "They",
    "It",
    "That",
    "This",
    "There",
    "Here",
    "What",
    "When",
    "Where",
    "Why",
    "How",
    "Who",
    "Which",
    "Do",
    "Does",
    "Did",
    "Can",
    "Could",
    "Would",
    "Will",
    "Should",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Today",
    "Tomorrow",
    "Decision",
    "Question",
    "Note",
    "Speaker",
    "Both",
    "Go",
    "Ahead",
];

/// Openers after which a comma and a name address someone ("Thanks, Grace.").
const THANKS: &[&str] = &["thanks", "thank you", "cheers"];
const HANDOVER: &[&str] = &[
    "go ahead",
    "over to you",
    "your turn",
    "please go on",
    "what do you think",
    "any thoughts",
];
/// Words after "Name," that make it a request to that person ("Diana, please …").
const REQUEST: &[&str] = &[
    "please", "could", "can", "would", "will", "you", "what", "do", "are", "how", "any",
];

/// A proposed name for a speaker label and how many addresses support it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposed {
    pub name: String,
    pub votes: usize,
}

/// One turn: consecutive speech of one speaker.
struct Turn<'a> {
    speaker: &'a str,
    text: String,
}

fn turns<'a>(lines: &[(Option<&'a str>, &'a str)]) -> Vec<Turn<'a>> {
    let mut out: Vec<Turn<'a>> = Vec::new();
    for (speaker, text) in lines {
        let Some(speaker) = speaker else { continue };
        match out.last_mut() {
            Some(t) if t.speaker == *speaker => {
                t.text.push(' ');
                t.text.push_str(text.trim());
            }
            _ => out.push(Turn {
                speaker,
                text: text.trim().to_string(),
            }),
        }
    }
    out
}

/// A capitalised word that is not a common sentence word: a name candidate.
pub(crate) fn as_name(word: &str) -> Option<String> {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
    let mut chars = w.chars();
    let first = chars.next()?;
    let ok = first.is_uppercase()
        && w.len() >= 2
        && chars.all(|c| c.is_alphabetic() || c == '-' || c == '\'')
        && !NOT_NAMES.iter().any(|n| n.eq_ignore_ascii_case(w));
    ok.then(|| w.to_string())
}

/// Who a sentence addresses, and whether that person spoke before (`Thanks, X`) or speaks next.
#[derive(Debug, PartialEq)]
pub(crate) enum Address {
    Previous(String),
    Next(String),
    Itself(String),
}

pub(crate) fn address(sentence: &str) -> Option<Address> {
    let lower = sentence.to_lowercase();
    for (openers, make) in [
        (THANKS, Address::Previous as fn(String) -> Address),
        (HANDOVER, Address::Next as fn(String) -> Address),
    ] {
        for o in openers {
            if let Some(rest) = lower.strip_prefix(o)
                && rest.starts_with([',', ' '])
            {
                // "Thanks, Grace" but not "Thanks, everyone" or "Thanks for …".
                let original = &sentence[o.len()..];
                let first = original
                    .trim_start_matches([',', ' '])
                    .split([' ', ','])
                    .next()?;
                if let Some(name) = as_name(first) {
                    return Some(make(name));
                }
            }
        }
    }
    for intro in ["i'm ", "i am ", "my name is ", "this is "] {
        if let Some(pos) = lower.find(intro)
            && (pos == 0 || lower[..pos].ends_with(' '))
        {
            let after = &sentence[pos + intro.len()..];
            if let Some(name) = after.split([' ', ',']).next().and_then(as_name) {
                return Some(Address::Itself(name));
            }
        }
    }
    // "Diana, please write …", "Great, Carlos, please add …": a comma-separated single name
    // followed by a request.
    let parts: Vec<&str> = sentence.split(',').collect();
    parts.windows(2).find_map(|w| {
        let head = w[0].trim();
        let name = as_name(head).filter(|_| !head.contains(' '))?;
        let next = w[1].split_whitespace().next()?.to_lowercase();
        REQUEST
            .contains(&next.as_str())
            .then_some(Address::Next(name))
    })
}

/// A comma-separated part of a sentence that is one name and nothing else ("Tom" in "Please
/// order it, Tom, by Friday"): one word, not a weekday or month, a name as written.
pub(crate) fn lone_name(part: &str) -> Option<String> {
    let word = part.trim();
    if word.contains(' ') || crate::dates::is_calendar_word(word) {
        return None;
    }
    as_name(word).filter(|n| n == word)
}

/// Words that make a sentence hand the word to someone: a request or a change of topic.
const HANDING_OVER: &[&str] = &[
    "please",
    "could you",
    "can you",
    "would you",
    "next",
    "item",
    "topic",
    "your turn",
    "update",
    "thoughts",
    "over to",
];

/// A name said last in a question, a request or a change of topic, set off by a comma, hands
/// the word to that person ("Next item, the travel budget, Sofia." / "What do you think,
/// Tom?"); so does one set off by commas inside a request ("Please order it this week, Tom, by
/// Friday."). A statement that ends on a name ("We met in Berlin, Germany.") or a list of names
/// ("offices in London, Paris, Berlin") is not an address.
fn vocative(sentence: &str, question: bool) -> Option<String> {
    let lower = sentence.to_lowercase();
    if !question && !HANDING_OVER.iter().any(|w| lower.contains(w)) {
        return None;
    }
    let parts: Vec<&str> = sentence.split(',').map(str::trim).collect();
    let is_list = |k: usize| k > 0 && lone_name(parts[k - 1]).is_some();
    let last = parts.len() - 1;
    if last >= 1
        && let Some(name) = lone_name(parts[last]).filter(|_| !is_list(last))
    {
        return Some(name);
    }
    if !lower.contains("please") {
        return None;
    }
    (1..last).find_map(|k| {
        lone_name(parts[k]).filter(|_| !is_list(k) && lone_name(parts[k + 1]).is_none())
    })
}

/// Proposed names per speaker label, from how the speakers address each other.
pub fn propose(lines: &[(Option<&str>, &str)]) -> BTreeMap<String, Proposed> {
    let turns = turns(lines);
    let mut votes: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, t) in turns.iter().enumerate() {
        for said_as in t.text.split_inclusive(['.', '!', '?']) {
            let question = said_as.trim_end().ends_with('?');
            let sentence = said_as.trim().trim_end_matches(['.', '!', '?']).trim();
            if sentence.is_empty() {
                continue;
            }
            // Nobody addresses themselves by name ("Thanks, Grace" said by Grace is about
            // someone else's turn order, not a name for her): only an introduction names the
            // speaker.
            let said = address(sentence);
            // "Thank you, Marcus, next item, the travel budget, Sofia": thanks to one, and
            // the word to the next.
            if let Some(n) = vocative(sentence, question)
                && !matches!(&said, Some(Address::Previous(p) | Address::Next(p) | Address::Itself(p)) if *p == n)
                && let Some(next) = turns.get(i + 1)
                && next.speaker != t.speaker
            {
                *votes.entry((next.speaker.to_string(), n)).or_default() += 1;
            }
            let (who, name) = match said {
                Some(Address::Previous(n)) if i > 0 => (turns[i - 1].speaker, n),
                Some(Address::Next(n)) => match turns.get(i + 1) {
                    Some(next) => (next.speaker, n),
                    None => continue,
                },
                Some(Address::Itself(n)) => {
                    *votes.entry((t.speaker.to_string(), n)).or_default() += 1;
                    continue;
                }
                _ => continue,
            };
            if who == t.speaker {
                continue;
            }
            *votes.entry((who.to_string(), name)).or_default() += 1;
        }
    }
    let mut ranked: Vec<((String, String), usize)> = votes.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out: BTreeMap<String, Proposed> = BTreeMap::new();
    for ((label, name), n) in ranked {
        if out.contains_key(&label) || out.values().any(|p| p.name == name) {
            continue;
        }
        out.insert(label, Proposed { name, votes: n });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_the_previous_or_next_speaker() {
        let lines = [
            (
                Some("SPEAKER_1"),
                "Welcome to the design review. Today is Thursday, April third.",
            ),
            (
                Some("SPEAKER_2"),
                "Thanks, Grace. I have the new onboarding screens.",
            ),
            (Some("SPEAKER_3"), "Yes, we can see it."),
            (Some("SPEAKER_1"), "Sorry, can I jump in? Go ahead, Henry."),
            (Some("SPEAKER_3"), "The color tokens are finished."),
            (
                Some("SPEAKER_1"),
                "Diana, please write the copy for the three screens.",
            ),
            (Some("SPEAKER_2"), "I can do that."),
            (Some("SPEAKER_2"), "Thanks, everyone."),
        ];
        let p = propose(&lines);
        let name = |l: &str| p.get(l).map(|x| x.name.as_str());
        assert_eq!(name("SPEAKER_1"), Some("Grace"));
        assert_eq!(name("SPEAKER_2"), Some("Diana"));
        assert_eq!(name("SPEAKER_3"), Some("Henry"));
    }

    #[test]
    fn introductions_name_the_speaker_and_common_words_are_not_names() {
        let lines = [
            (Some("SPEAKER_1"), "Hi, I'm Tom, I run the data team."),
            (Some("SPEAKER_2"), "Thanks, Okay. Thanks for joining."),
            (Some("SPEAKER_1"), "Friday, please."),
        ];
        let p = propose(&lines);
        assert_eq!(p.get("SPEAKER_1").map(|x| x.name.as_str()), Some("Tom"));
        assert!(!p.contains_key("SPEAKER_2"), "{p:?}");
    }

    #[test]
    fn a_name_said_last_or_inside_a_request_hands_over_to_the_next_speaker() {
        let lines = [
            (
                Some("SPEAKER_1"),
                "Thank you, Marcus, next item, the travel budget, Sofia.",
            ),
            (Some("SPEAKER_3"), "We spent most of it."),
            (
                Some("SPEAKER_1"),
                "Please order it this week, Tom, by Friday.",
            ),
            (Some("SPEAKER_4"), "Okay, I will."),
            (
                Some("SPEAKER_1"),
                "We have offices in London, Paris, Berlin.",
            ),
            (Some("SPEAKER_2"), "And the last topic, Friday."),
            (Some("SPEAKER_5"), "We met them in Berlin, Germany."),
            (Some("SPEAKER_6"), "What do you think, Omar?"),
            (Some("SPEAKER_7"), "It works."),
        ];
        let p = propose(&lines);
        let name = |l: &str| p.get(l).map(|x| x.name.as_str());
        assert_eq!(name("SPEAKER_3"), Some("Sofia"));
        assert_eq!(name("SPEAKER_4"), Some("Tom"));
        assert_eq!(name("SPEAKER_2"), None, "a list of places names nobody");
        assert_eq!(name("SPEAKER_5"), None, "a weekday is not a name");
        assert_eq!(
            name("SPEAKER_6"),
            None,
            "a statement ending on a place names nobody"
        );
        assert_eq!(name("SPEAKER_7"), Some("Omar"));
    }

    #[test]
    fn one_name_per_label_and_one_label_per_name_by_votes() {
        let lines = [
            (Some("A"), "Thanks, Ravi."),
            (Some("B"), "Ravi, could you check?"),
            (Some("A"), "Sure."),
            (Some("B"), "Thanks, Ravi."),
            (Some("A"), "Go ahead, Mia."),
            (Some("B"), "Okay."),
        ];
        let p = propose(&lines);
        assert_eq!(
            p.get("A").map(|x| (x.name.as_str(), x.votes)),
            Some(("Ravi", 2))
        );
        assert_eq!(p.get("B").map(|x| x.name.as_str()), Some("Mia"));
    }
}
