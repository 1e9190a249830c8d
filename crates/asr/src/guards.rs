//! Hallucination guards: whisper invents text in silence and loops on small models. These rules
//! only ever *remove* whole segments whisper itself marked unlikely or that are mechanical
//! repetition; they never rewrite words.

use nightshift_worker_protocol::LocalSegment;

use crate::RawSegment;

/// Whether a decoded segment stays: it is not [`is_probable_silence`] and has a letter or a
/// digit (in any script). A segment of punctuation alone ("." twice in 8 s of room noise after
/// a sentence, decoded as a window's tail by the CTranslate2 engine) carries nothing to read.
pub fn worth_keeping(seg: &RawSegment) -> bool {
    !is_probable_silence(seg) && seg.text.chars().any(char::is_alphanumeric)
}

/// whisper's own rule (openai/whisper `transcribe`): a segment the model thinks is probably not
/// speech *and* whose text it is unsure of is silence it talked into.
pub fn is_probable_silence(seg: &RawSegment) -> bool {
    seg.no_speech_prob > 0.6 && seg.avg_logprob < -1.0
}

/// Drop segments that are one short phrase looped ("Thank you. Thank you. Thank you. …"), and
/// collapse a run of three or more identical segments to its first.
pub fn drop_repetition_loops(segs: Vec<LocalSegment>) -> Vec<LocalSegment> {
    let mut out: Vec<LocalSegment> = Vec::with_capacity(segs.len());
    let mut run_len = 0usize;
    let mut run_text: Vec<String> = Vec::new();
    let mut run_start_idx = 0usize;
    for seg in segs {
        let words = words(&seg.text);
        if is_ngram_loop(&words) {
            continue;
        }
        if !words.is_empty() && words == run_text {
            run_len += 1;
        } else {
            run_len = 1;
            run_text = words;
            run_start_idx = out.len();
        }
        out.push(seg);
        if run_len == 3 {
            // Third identical segment in a row: it is a loop, keep only the first.
            out.truncate(run_start_idx + 1);
        } else if run_len > 3 {
            out.pop();
        }
    }
    out
}

/// Lower-case words without punctuation (apostrophes kept), for comparing texts.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// True if `words` is one n-gram (n ≤ 4) repeated at least four times and nothing else (a
/// trailing partial repeat allowed). Needs six words or more, so "no, no, no" survives.
fn is_ngram_loop(words: &[String]) -> bool {
    if words.len() < 6 {
        return false;
    }
    (1..=4)
        .any(|n| words.len() / n >= 4 && words.iter().enumerate().all(|(i, w)| *w == words[i % n]))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A one-second segment of `text` (also used by the pool's tests).
    pub fn seg(text: &str) -> LocalSegment {
        LocalSegment {
            start: 0.0,
            end: 1.0,
            text: text.into(),
            no_speech_prob: 0.0,
            words: Vec::new(),
        }
    }

    fn texts(v: &[LocalSegment]) -> Vec<&str> {
        v.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn looped_phrases_are_dropped() {
        let out = drop_repetition_loops(vec![
            seg("Let's start."),
            seg("Thank you. Thank you. Thank you. Thank you."),
            seg("the the the the the the the"),
            seg("No, no, no."),
        ]);
        assert_eq!(texts(&out), ["Let's start.", "No, no, no."]);
    }

    #[test]
    fn three_identical_segments_collapse_to_one() {
        let out = drop_repetition_loops(vec![
            seg("Yes."),
            seg("Yes."),
            seg("OK, next."),
            seg("I'm sorry."),
            seg("I'm sorry."),
            seg("i'm sorry"),
            seg("I'm sorry."),
            seg("Bye."),
        ]);
        assert_eq!(
            texts(&out),
            ["Yes.", "Yes.", "OK, next.", "I'm sorry.", "Bye."]
        );
    }

    #[test]
    fn ordinary_speech_is_untouched() {
        let v = vec![
            seg("We decided to ship on Friday."),
            seg("Anna will write the release notes, notes, notes and notes."),
        ];
        assert_eq!(drop_repetition_loops(v.clone()), v);
    }

    #[test]
    fn punctuation_alone_is_not_kept() {
        let raw = |text: &str| RawSegment {
            start: 0.0,
            end: 1.0,
            text: text.into(),
            no_speech_prob: 0.0,
            avg_logprob: -0.2,
            tokens: Vec::new(),
        };
        assert!(!worth_keeping(&raw(" .")));
        assert!(!worth_keeping(&raw(" ... -")));
        assert!(worth_keeping(&raw(" 42.")));
        assert!(worth_keeping(&raw(" Yes.")));
        assert!(worth_keeping(&raw(" 好。")));
    }

    #[test]
    fn silence_rule_needs_both_signals() {
        let mut s = RawSegment {
            start: 0.0,
            end: 1.0,
            text: "you".into(),
            no_speech_prob: 0.9,
            avg_logprob: -1.5,
            tokens: vec![],
        };
        assert!(is_probable_silence(&s));
        s.avg_logprob = -0.3;
        assert!(!is_probable_silence(&s));
    }
}
