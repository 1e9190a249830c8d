//! SRT and WebVTT writers. Both carry only the transcript.
//!
//! Validity rules kept here: cues sorted by start and numbered from 1 (SRT), `end > start`
//! strictly, no empty text line (it would end the cue early), no `-->` inside cue text.

use nightshift_core::{AudioEvent, Segment};

use crate::timefmt::{cue_span, cue_time, one_line};

/// The transcript with each non-speech event as a cue of its own (`[music]`), for `show
/// --events`: subtitles carry speech only unless asked, since most players show every cue.
pub fn with_event_cues(segments: &[Segment], events: &[AudioEvent]) -> Vec<Segment> {
    let mut all = segments.to_vec();
    all.extend(events.iter().map(|e| Segment {
        start: e.start,
        end: e.end,
        speaker: None,
        text: format!("[{}]", one_line(&e.label)),
        words: Vec::new(),
    }));
    all.sort_by(|a, b| a.start.total_cmp(&b.start));
    all
}

/// Longest cue line, in characters (speaker name included), and lines per cue.
const MAX_LINE_CHARS: usize = 42;
const MAX_LINES: usize = 2;
/// Longest cue, seconds.
const MAX_CUE_S: f64 = 7.0;

/// Cues as `(start_ms, end_ms, speaker, lines)`, sorted by start: a segment too long to read
/// as one cue (more than two lines of 42 characters, or longer than 7 s) becomes several,
/// cut between words — at the words' own times when the segment has them, else at times in
/// proportion to the characters before the cut.
fn cues(segments: &[Segment]) -> Vec<(u64, u64, Option<&str>, Vec<String>)> {
    let mut cues: Vec<_> = Vec::new();
    for s in segments {
        let speaker = s
            .speaker
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let prefix = speaker.map_or(0, |n| one_line(n).chars().count() + 2);
        for (a, b, lines) in split_segment(s, prefix) {
            let (start, end) = cue_span(a, b);
            cues.push((start, end, speaker, lines));
        }
    }
    cues.sort_by_key(|c| c.0);
    cues
}

/// One segment's cues as `(start, end, lines)`; `prefix` characters of the first line go to
/// the speaker's name.
fn split_segment(s: &Segment, prefix: usize) -> Vec<(f64, f64, Vec<String>)> {
    let words: Vec<String> = one_line(&s.text)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    let timed = s.words.len() == words.len();
    let total_chars: usize = words.iter().map(|w| w.chars().count() + 1).sum();
    // Where word i starts and ends: its own times, or in proportion to the characters.
    let at = |i: usize, end: bool| -> f64 {
        if timed {
            let w = &s.words[i];
            return if end { w.end } else { w.start };
        }
        let before: usize = words[..i + usize::from(end)]
            .iter()
            .map(|w| w.chars().count() + 1)
            .sum();
        s.start + (s.end - s.start) * before as f64 / total_chars.max(1) as f64
    };
    let mut out = Vec::new();
    let mut first = 0;
    while first < words.len() {
        let mut last = first;
        while last + 1 < words.len() {
            let fits = wrap(&words[first..=last + 1], prefix).len() <= MAX_LINES;
            let short = at(last + 1, true) - at(first, false) <= MAX_CUE_S;
            if !(fits && short) {
                break;
            }
            last += 1;
        }
        let start = if first == 0 {
            s.start
        } else {
            at(first, false)
        };
        let end = if last + 1 == words.len() {
            s.end
        } else {
            at(last, true)
        };
        out.push((start, end.max(start), wrap(&words[first..=last], prefix)));
        first = last + 1;
    }
    out
}

/// Words into lines of at most `MAX_LINE_CHARS` (a longer word stands alone), the first line
/// `prefix` characters shorter.
fn wrap(words: &[String], prefix: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut room = MAX_LINE_CHARS.saturating_sub(prefix);
    for w in words {
        let n = w.chars().count();
        let used = line.chars().count();
        if !line.is_empty() && used + 1 + n > room {
            lines.push(std::mem::take(&mut line));
            room = MAX_LINE_CHARS;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

pub fn render_srt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, (start, end, speaker, lines)) in cues(segments).into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // An arrow in the text would read as a timing line to some parsers.
        let text = lines.join("\n").replace("-->", "->");
        let line = match speaker {
            Some(name) => format!("{}: {text}", one_line(name)),
            None => text,
        };
        out.push_str(&format!(
            "{}\n{} --> {}\n{line}\n",
            i + 1,
            cue_time(start, ','),
            cue_time(end, ',')
        ));
    }
    out
}

/// WebVTT cue text escapes: `&`, `<`, `>` (which also breaks any `-->`).
fn vtt_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn render_vtt(segments: &[Segment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for (i, (start, end, speaker, lines)) in cues(segments).into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let text = vtt_escape(&lines.join("\n"));
        let line = match speaker {
            Some(name) => format!("<v {}>{text}", vtt_escape(&one_line(name))),
            None => text,
        };
        out.push_str(&format!(
            "{} --> {}\n{line}\n",
            cue_time(start, '.'),
            cue_time(end, '.')
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f64, end: f64, speaker: Option<&str>, text: &str) -> Segment {
        Segment {
            start,
            end,
            speaker: speaker.map(str::to_string),
            text: text.to_string(),
            words: Vec::new(),
        }
    }

    fn sample() -> Vec<Segment> {
        vec![
            seg(62.5, 65.25, Some("Ben"), "Second <line> & more -->"),
            seg(1.0, 2.5, Some("Anna"), "Good morning everyone."),
            seg(3.0, 3.0, None, "Zero length."),
            seg(4.0, 5.0, None, "   "),
            seg(3661.001, 3662.0, None, "Split\n\nacross lines."),
        ]
    }

    /// `HH:MM:SS<sep>mmm` → ms, or None when the shape is wrong.
    fn parse_time(s: &str, sep: char) -> Option<u64> {
        let (hms, ms) = s.split_once(sep)?;
        let parts: Vec<&str> = hms.split(':').collect();
        let ok = parts.len() == 3
            && parts[0].len() >= 2
            && parts[1].len() == 2
            && parts[2].len() == 2
            && ms.len() == 3
            && parts
                .iter()
                .chain([&ms])
                .all(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return None;
        }
        let n = |p: &str| p.parse::<u64>().ok();
        let (h, m, sec, frac) = (n(parts[0])?, n(parts[1])?, n(parts[2])?, n(ms)?);
        (m < 60 && sec < 60).then_some(((h * 60 + m) * 60 + sec) * 1000 + frac)
    }

    /// Parse cue blocks (`[id]`, timing line, text lines) strictly; returns (start, end, text).
    fn parse_blocks(body: &str, sep: char, numbered: bool) -> Vec<(u64, u64, String)> {
        assert!(body.ends_with('\n') && !body.ends_with("\n\n"), "{body:?}");
        let mut cues = Vec::new();
        for (i, block) in body.trim_end_matches('\n').split("\n\n").enumerate() {
            let mut lines = block.lines();
            if numbered {
                assert_eq!(
                    lines.next(),
                    Some((i + 1).to_string().as_str()),
                    "{block:?}"
                );
            }
            let timing = lines.next().expect("timing line");
            let (a, b) = timing.split_once(" --> ").expect("arrow");
            let start = parse_time(a, sep).unwrap_or_else(|| panic!("bad start {a:?}"));
            let end = parse_time(b, sep).unwrap_or_else(|| panic!("bad end {b:?}"));
            assert!(end > start, "{timing}");
            let text: Vec<&str> = lines.collect();
            assert!(!text.is_empty(), "cue without text: {block:?}");
            assert!(
                text.iter()
                    .all(|l| !l.trim().is_empty() && !l.contains("-->"))
            );
            cues.push((start, end, text.join("\n")));
        }
        assert!(
            cues.windows(2).all(|w| w[0].0 <= w[1].0),
            "cues out of order"
        );
        cues
    }

    #[test]
    fn long_segments_become_readable_cues_cut_at_word_times() {
        let text = "We agreed that the production migration happens on Saturday the twenty second and Ben writes the rollback plan by Friday so that everyone can review it";
        let n = text.split_whitespace().count();
        let mut s = seg(10.0, 10.0 + n as f64 * 0.5, Some("Anna"), text);
        s.words = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| nightshift_core::Word {
                start: 10.0 + i as f64 * 0.5,
                end: 10.4 + i as f64 * 0.5,
                text: w.to_string(),
                p: 0.9,
            })
            .collect();
        let srt = render_srt(std::slice::from_ref(&s));
        let cues = parse_blocks(&srt, ',', true);
        assert!(cues.len() >= 3, "{srt}");
        let mut said = Vec::new();
        for (a, b, t) in &cues {
            assert!(b - a <= 7_000, "{srt}");
            let lines: Vec<&str> = t.lines().collect();
            assert!(
                lines.len() <= 2 && lines.iter().all(|l| l.chars().count() <= 42),
                "{srt}"
            );
            assert!(t.starts_with("Anna: "));
            said.extend(
                t.trim_start_matches("Anna: ")
                    .split_whitespace()
                    .map(str::to_string),
            );
            // Cuts fall on word times (multiples of 0.5 s from 10 s, or a word's end).
            assert_eq!((a - 10_000) % 500, 0, "{srt}");
        }
        assert_eq!(said.join(" "), text);
        // Without word times the same cut rules hold, at proportional times.
        s.words.clear();
        let vtt = render_vtt(&[s]);
        let cues = parse_blocks(vtt.trim_start_matches("WEBVTT\n\n"), '.', false);
        assert!(cues.len() >= 3);
        assert!(cues.iter().all(|(a, b, _)| b - a <= 7_000));
    }

    #[test]
    fn srt_is_valid_and_complete() {
        let srt = render_srt(&sample());
        let cues = parse_blocks(&srt, ',', true);
        let want = [
            (1000, 2500, "Anna: Good morning everyone."),
            (3000, 3001, "Zero length."),
            (62500, 65250, "Ben: Second <line> & more ->"),
            (3661001, 3662000, "Split across lines."),
        ];
        let got: Vec<(u64, u64, &str)> =
            cues.iter().map(|(a, b, t)| (*a, *b, t.as_str())).collect();
        assert_eq!(got, want);
        assert!(srt.starts_with("1\n00:00:01,000 --> 00:00:02,500\n"));
    }

    #[test]
    fn vtt_is_valid_escaped_and_voiced() {
        let vtt = render_vtt(&sample());
        let body = vtt
            .strip_prefix("WEBVTT\n\n")
            .expect("WEBVTT header then a blank line");
        let cues = parse_blocks(body, '.', false);
        let texts: Vec<&str> = cues.iter().map(|c| c.2.as_str()).collect();
        assert_eq!(
            texts,
            [
                "<v Anna>Good morning everyone.",
                "Zero length.",
                "<v Ben>Second &lt;line&gt; &amp; more --&gt;",
                "Split across lines.",
            ]
        );
        assert_eq!((cues[2].0, cues[2].1), (62500, 65250));
    }

    #[test]
    fn no_segments_still_make_valid_files() {
        assert_eq!(render_srt(&[]), "");
        assert_eq!(render_vtt(&[]), "WEBVTT\n\n");
        let only_blank = [seg(0.0, 1.0, None, " ")];
        assert_eq!(render_srt(&only_blank), "");
    }
}
