//! SRT and WebVTT writers. Both carry only the transcript.
//!
//! Validity rules kept here: cues sorted by start and numbered from 1 (SRT), `end > start`
//! strictly, no empty text line (it would end the cue early), no `-->` inside cue text.

use nightshift_core::Segment;

use crate::timefmt::{cue_span, cue_time, one_line};

/// Segments with text, as `(start_ms, end_ms, speaker, text)`, sorted by start.
fn cues(segments: &[Segment]) -> Vec<(u64, u64, Option<&str>, String)> {
    let mut cues: Vec<_> = segments
        .iter()
        .filter_map(|s| {
            let text = one_line(&s.text);
            if text.is_empty() {
                return None;
            }
            let (start, end) = cue_span(s.start, s.end);
            let speaker = s
                .speaker
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty());
            Some((start, end, speaker, text))
        })
        .collect();
    cues.sort_by_key(|c| c.0);
    cues
}

pub fn render_srt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, (start, end, speaker, text)) in cues(segments).into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // An arrow in the text would read as a timing line to some parsers.
        let text = text.replace("-->", "->");
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
    for (i, (start, end, speaker, text)) in cues(segments).into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let text = vtt_escape(&text);
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
