//! Text and time heuristics behind the hallucination guards. Each one only decides whether to
//! keep text; none changes a word the model wrote (DESIGN §4: never "improve" the transcript).

/// A word reduced for comparison: lower-case letters, digits and apostrophes. Punctuation and
/// case differ between a chunk's tail and its repetition ("Friday." / "Friday,").
pub fn word_key(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The comparison keys of a text's words, empty keys (a lone "—") left out.
pub fn text_keys(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(word_key)
        .filter(|k| !k.is_empty())
        .collect()
}

/// Whether the text has anything a person could have said (a letter or digit in any script).
pub fn has_words(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// Text made only of non-speech annotations: "[BLANK_AUDIO]", "(music)", "[Music]",
/// "*laughs*", "♪ ♪". These are labels, not words anyone said, so they never belong in the
/// transcript wherever they fall.
pub fn is_annotation(text: &str) -> bool {
    let mut rest = String::with_capacity(text.len());
    let mut closer: Option<char> = None;
    let mut tagged = false;
    for c in text.chars() {
        match closer {
            Some(end) if c == end => closer = None,
            Some(_) => {}
            None => match c {
                '[' => closer = Some(']'),
                '(' => closer = Some(')'),
                '*' => closer = Some('*'),
                '♪' | '♫' | '♬' => tagged = true,
                _ => rest.push(c),
            },
        }
        if closer.is_some() {
            tagged = true;
        }
    }
    tagged && !has_words(&rest)
}

/// What whisper says into silence. Matched on whole segments only (one of these phrases,
/// possibly repeated), and acted on only where there is no speech, because people do say
/// "Thank you." in meetings.
const SILENCE_PHRASES: &[&str] = &[
    "you",
    "thank you",
    "thank you very much",
    "thank you so much",
    "thanks",
    "thanks for watching",
    "thank you for watching",
    "thanks for listening",
    "thank you for listening",
    "thanks for watching and see you next time",
    "bye",
    "bye bye",
    "please subscribe",
    "like and subscribe",
    "subtitles by the amara org community",
];

/// Whether the whole text is a known silence hallucination (or several in a row).
pub fn is_silence_phrase(text: &str) -> bool {
    let keys = text_keys(text);
    !keys.is_empty()
        && SILENCE_PHRASES.iter().any(|phrase| {
            let p: Vec<&str> = phrase.split(' ').collect();
            keys.len().is_multiple_of(p.len())
                && keys
                    .chunks(p.len())
                    .all(|c| c.iter().map(String::as_str).eq(p.iter().copied()))
        })
}

/// Longest n-gram considered a loop unit inside one segment; longer loops show up as repeated
/// segments instead, which the segment-level rule catches.
const MAX_LOOP_NGRAM: usize = 32;

/// Collapse every run of one n-gram repeated at least `min_repeats` times in a row into a
/// single copy ("I think I think I think I think we" → "I think we"). Returns `None` when
/// nothing changed, so untouched text keeps its exact spacing.
pub fn collapse_loops(text: &str, min_repeats: usize) -> Option<String> {
    let min_repeats = min_repeats.max(2);
    let words: Vec<&str> = text.split_whitespace().collect();
    let keys: Vec<String> = words.iter().map(|w| word_key(w)).collect();
    let mut kept: Vec<&str> = Vec::with_capacity(words.len());
    let mut changed = false;
    let mut i = 0;
    while i < words.len() {
        let max_n = ((words.len() - i) / min_repeats).min(MAX_LOOP_NGRAM);
        let found = (1..=max_n).find_map(|n| {
            let unit = &keys[i..i + n];
            let reps = keys[i..].chunks_exact(n).take_while(|c| *c == unit).count();
            (reps >= min_repeats).then_some((n, reps))
        });
        match found {
            Some((n, reps)) => {
                kept.extend_from_slice(&words[i..i + n]);
                i += n * reps;
                changed = true;
            }
            None => {
                kept.push(words[i]);
                i += 1;
            }
        }
    }
    changed.then(|| kept.join(" "))
}

/// Speech spans widened by `pad` on each side, sorted and merged.
pub fn padded_spans(spans: &[(f64, f64)], pad: f64) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = spans
        .iter()
        .filter(|(s, e)| s.is_finite() && e.is_finite() && e >= s)
        .map(|&(s, e)| (s - pad, e + pad))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// Fraction of `[start, end]` covered by `spans` (sorted, merged). A zero-length segment
/// counts as fully inside or fully outside.
pub fn inside_fraction(start: f64, end: f64, spans: &[(f64, f64)]) -> f64 {
    if end <= start {
        let inside = spans.iter().any(|&(s, e)| s <= start && start <= e);
        return if inside { 1.0 } else { 0.0 };
    }
    let covered: f64 = spans
        .iter()
        .map(|&(s, e)| (end.min(e) - start.max(s)).max(0.0))
        .sum();
    (covered / (end - start)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations() {
        let cases = [
            ("[BLANK_AUDIO]", true),
            ("(music)", true),
            ("[Music] (applause)", true),
            ("♪ ♪", true),
            ("*laughs*", true),
            ("(laughs) Yes.", false),
            ("Hello.", false),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(is_annotation(text), want, "{text:?}");
        }
    }

    #[test]
    fn silence_phrases() {
        let cases = [
            ("Thank you.", true),
            (" you", true),
            ("Thank you. Thank you.", true),
            ("Thanks for watching!", true),
            ("Thank you all for joining.", false),
            ("You know what?", false),
            ("...", false),
        ];
        for (text, want) in cases {
            assert_eq!(is_silence_phrase(text), want, "{text:?}");
        }
    }

    #[test]
    fn loops() {
        let cases = [
            (
                "I think I think I think I think we should",
                Some("I think we should"),
            ),
            ("no no no", None),
            ("the end. the end. The end, the end.", Some("the end.")),
            ("a a a a a a b", Some("a b")),
            ("Agreed. Agreed.", None),
            ("one two three", None),
        ];
        for (text, want) in cases {
            assert_eq!(collapse_loops(text, 4).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn span_fractions() {
        let spans = padded_spans(&[(3.0, 4.0), (1.0, 2.0), (1.5, 2.5)], 0.0);
        assert_eq!(spans, vec![(1.0, 2.5), (3.0, 4.0)]);
        assert_eq!(inside_fraction(1.0, 2.0, &spans), 1.0);
        assert_eq!(inside_fraction(2.0, 3.0, &spans), 0.5);
        assert_eq!(inside_fraction(5.0, 6.0, &spans), 0.0);
        assert_eq!(inside_fraction(3.5, 3.5, &spans), 1.0);
    }
}
