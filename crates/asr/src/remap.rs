//! Map segments decoded in a packed window back to chunk time.
//!
//! Times inside one piece shift by that piece's offset. A segment whose words come from two
//! pieces (whisper happily runs on across the joint) is split at the joint using the token
//! timestamps, so each part gets the times of the audio it was heard in, not a span covering
//! the silence that was cut out between them. Each part carries its words: tokens joined into
//! words (a token that does not start with a space continues the word before it), with the
//! times of their first and last tokens and the mean token probability.

use nightshift_core::Word;
use nightshift_worker_protocol::LocalSegment;

use crate::RawSegment;
use crate::pack::Window;

pub fn remap(window: &Window, segs: &[RawSegment]) -> Vec<LocalSegment> {
    let mut out = Vec::new();
    for seg in segs {
        for (piece, run) in runs_by_piece(window, seg) {
            let first = run.first().copied();
            let last = run.last().copied();
            let is_first = first.is_none_or(|i| i == 0);
            let is_last = last.is_none_or(|i| i + 1 == seg.tokens.len());
            let t_start = match (is_first, first) {
                (false, Some(i)) => seg.tokens[i].t0,
                _ => seg.start,
            };
            let t_end = match (is_last, last) {
                (false, Some(i)) => seg.tokens[i].t1,
                _ => seg.end,
            };
            let start = window.to_source_in(piece, t_start);
            let end = window.to_source_in(piece, t_end).max(start);
            let text = if is_first && is_last {
                seg.text.clone()
            } else {
                let bytes: Vec<u8> = run
                    .iter()
                    .flat_map(|&i| seg.tokens[i].bytes.iter().copied())
                    .collect();
                String::from_utf8_lossy(&bytes).trim().to_owned()
            };
            if text.is_empty() {
                continue;
            }
            let words = words_of(window, piece, seg, &run, start, end);
            out.push(LocalSegment {
                start,
                end,
                text,
                no_speech_prob: seg.no_speech_prob,
                words,
            });
        }
    }
    out
}

/// The words of one run of a segment's tokens (all of them when `run` is empty) in chunk time,
/// kept inside `start..end`. Empty when the tokens carry no usable times or do not spell the
/// segment's words.
fn words_of(
    window: &Window,
    piece: usize,
    seg: &RawSegment,
    run: &[usize],
    start: f64,
    end: f64,
) -> Vec<Word> {
    let all: Vec<usize>;
    let run = if run.is_empty() {
        all = (0..seg.tokens.len()).collect();
        &all
    } else {
        run
    };
    let timed = run
        .iter()
        .all(|&i| seg.tokens[i].t0 >= 0.0 && seg.tokens[i].t1 >= seg.tokens[i].t0);
    if run.is_empty() || !timed {
        return Vec::new();
    }
    // (bytes, t0, t1, sum of p, tokens)
    let mut groups: Vec<(Vec<u8>, f64, f64, f32, usize)> = Vec::new();
    for &i in run {
        let tok = &seg.tokens[i];
        match groups.last_mut() {
            Some(g) if tok.bytes.first() != Some(&b' ') => {
                g.0.extend_from_slice(&tok.bytes);
                g.2 = tok.t1;
                g.3 += tok.p;
                g.4 += 1;
            }
            _ => groups.push((tok.bytes.clone(), tok.t0, tok.t1, tok.p, 1)),
        }
    }
    let mut words: Vec<Word> = Vec::with_capacity(groups.len());
    for (bytes, t0, t1, p_sum, n) in groups {
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        if text.is_empty() {
            continue;
        }
        let w_start = window.to_source_in(piece, t0).clamp(start, end);
        let w_end = window.to_source_in(piece, t1).clamp(w_start, end);
        words.push(Word {
            start: w_start,
            end: w_end,
            text,
            p: p_sum / n as f32,
        });
    }
    words
}

/// Group a segment's tokens into consecutive runs that lie in the same piece. A token that does
/// not begin a word stays with the word it continues, so no word is ever cut in two.
fn runs_by_piece(window: &Window, seg: &RawSegment) -> Vec<(usize, Vec<usize>)> {
    let timed = seg.tokens.iter().all(|t| t.t0 >= 0.0 && t.t1 >= t.t0);
    if seg.tokens.is_empty() || !timed {
        // No usable token times: the segment stays whole, placed where it starts.
        return vec![(window.piece_at(seg.start), Vec::new())];
    }
    let mut runs: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, tok) in seg.tokens.iter().enumerate() {
        let starts_word = i == 0 || tok.bytes.first() == Some(&b' ');
        let piece = match runs.last() {
            Some((p, _)) if !starts_word => *p,
            _ => {
                let mid = ((tok.t0 + tok.t1) / 2.0).clamp(seg.start, seg.end.max(seg.start));
                window.piece_at(mid)
            }
        };
        match runs.last_mut() {
            Some((p, run)) if *p == piece => run.push(i),
            _ => runs.push((piece, vec![i])),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RawToken;
    use crate::pack::{PackOptions, plan_windows, secs_to_samples};

    fn tok(text: &str, t0: f64, t1: f64) -> RawToken {
        RawToken {
            bytes: text.as_bytes().to_vec(),
            t0,
            t1,
            p: 0.9,
        }
    }

    fn window() -> Window {
        // pieces: chunk 10.0–12.2 at packed 0.0, chunk 50.0–52.2 at packed 2.2
        let samples = vec![0.1f32; secs_to_samples(100.0)];
        plan_windows(
            &[(10.2, 12.0), (50.2, 52.0)],
            &samples,
            &PackOptions::default(),
        )
        .remove(0)
    }

    #[test]
    fn a_segment_inside_one_piece_shifts() {
        let seg = RawSegment {
            start: 2.5,
            end: 4.0,
            text: "Hello there.".into(),
            no_speech_prob: 0.1,
            avg_logprob: -0.2,
            tokens: vec![
                tok(" Hello", 2.5, 3.0),
                tok(" there", 3.0, 3.8),
                tok(".", 3.8, 4.0),
            ],
        };
        let out = remap(&window(), &[seg]);
        assert_eq!(out.len(), 1);
        assert!((out[0].start - 50.3).abs() < 1e-6);
        assert!((out[0].end - 51.8).abs() < 1e-6);
        assert_eq!(out[0].text, "Hello there.");
        let words: Vec<(&str, f64, f64)> = out[0]
            .words
            .iter()
            .map(|w| (w.text.as_str(), w.start, w.end))
            .collect();
        assert_eq!(words.len(), 2);
        assert_eq!(words[0].0, "Hello");
        assert!((words[0].1 - 50.3).abs() < 1e-6 && (words[0].2 - 50.8).abs() < 1e-6);
        assert_eq!(words[1].0, "there.");
        assert!((words[1].1 - 50.8).abs() < 1e-6 && (words[1].2 - 51.8).abs() < 1e-6);
    }

    #[test]
    fn a_segment_across_the_joint_is_split() {
        let seg = RawSegment {
            start: 1.0,
            end: 3.5,
            text: "We agreed. Next item.".into(),
            no_speech_prob: 0.1,
            avg_logprob: -0.2,
            tokens: vec![
                tok(" We", 1.0, 1.3),
                tok(" agreed", 1.3, 1.9),
                tok(".", 1.9, 2.0),
                tok(" Next", 2.4, 2.8),
                tok(" it", 2.8, 3.0),
                tok("em", 3.0, 3.3),
                tok(".", 3.3, 3.5),
            ],
        };
        let out = remap(&window(), &[seg]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].text, "We agreed.");
        assert!((out[0].start - 11.0).abs() < 1e-6);
        assert!((out[0].end - 12.0).abs() < 1e-6);
        assert_eq!(out[1].text, "Next item.");
        assert!((out[1].start - 50.2).abs() < 1e-6);
        assert!((out[1].end - 51.3).abs() < 1e-6);
    }

    #[test]
    fn untimed_tokens_keep_the_segment_whole() {
        let seg = RawSegment {
            start: 0.5,
            end: 3.0,
            text: "Hi.".into(),
            no_speech_prob: 0.0,
            avg_logprob: 0.0,
            tokens: vec![tok(" Hi", -0.01, -0.01)],
        };
        let out = remap(&window(), &[seg]);
        assert_eq!(out.len(), 1);
        assert!((out[0].start - 10.5).abs() < 1e-6);
        // clamped to the end of the piece it started in
        assert!((out[0].end - 12.2).abs() < 1e-6);
    }
}
