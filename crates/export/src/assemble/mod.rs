//! Transcript assembly: chunk-local ASR results → one meeting transcript in meeting time.
//!
//! A pure function of its inputs. Per chunk, in order: clamp times to the chunk, drop empty and
//! annotation-only text, collapse decoding loops, drop text that lies in no-speech, drop known
//! silence hallucinations where there is no speech, then shift by the chunk offset and remove a
//! leading repetition of the previous chunk's last words. Words are never rewritten (no number
//! spelling, no case changes): the guards only decide what to keep.

mod guards;
#[cfg(test)]
mod tests;
mod words;

use nightshift_core::Segment;
use nightshift_worker_protocol::LocalSegment;

use guards::{
    collapse_loops, has_words, inside_fraction, is_annotation, is_silence_phrase, padded_spans,
    text_keys, word_key,
};

/// One chunk's ASR result, as the whisper worker returned it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkTranscript {
    /// Where the chunk starts in the meeting, seconds.
    pub offset_s: f64,
    pub duration_s: f64,
    /// Speech found by the VAD, chunk-local seconds. Empty means "not known" (no VAD ran), not
    /// "no speech": a chunk without speech is never sent to the model in the first place.
    pub speech_spans: Vec<(f64, f64)>,
    pub segments: Vec<LocalSegment>,
}

/// Thresholds of the guards. `Default` holds the values the corpus was checked with.
#[derive(Debug, Clone, PartialEq)]
pub struct AssembleOptions {
    /// A segment is dropped when at least this fraction of it lies outside the speech spans.
    pub max_outside_speech: f64,
    /// Speech spans are widened by this much on each side before any check: ASR timestamps
    /// drift by a few hundred milliseconds around the VAD's.
    pub span_pad_s: f64,
    /// One n-gram repeated this many times in a row inside a segment is a decoding loop.
    pub min_loop_repeats: usize,
    /// This many consecutive segments with the same text are a loop. Two are not enough on
    /// their own: people do answer "Agreed." "Agreed."
    pub min_loop_segments: usize,
    /// With spans known, a chunk with less speech than this is "low-speech".
    pub low_speech_s: f64,
    /// Without spans, a chunk whose segments all have at least this `no_speech_prob` is
    /// "low-speech".
    pub no_speech_prob: f32,
    /// Longest word sequence compared at a chunk join.
    pub max_join_words: usize,
    /// A chunk's first segment is "at the join" when it starts at most this long after the
    /// previous chunk's last segment ends, or after the chunk's first speech.
    pub join_touch_s: f64,
}

impl Default for AssembleOptions {
    fn default() -> Self {
        AssembleOptions {
            max_outside_speech: 0.8,
            span_pad_s: 0.3,
            min_loop_repeats: 4,
            min_loop_segments: 3,
            low_speech_s: 1.0,
            no_speech_prob: 0.6,
            max_join_words: 24,
            join_touch_s: 1.5,
        }
    }
}

/// Assemble chunk results into one transcript: sorted by start, overlaps trimmed, times in
/// meeting seconds rounded to the millisecond, `speaker` left `None` (diarization adds it).
pub fn assemble(chunks: &[ChunkTranscript], opts: &AssembleOptions) -> Vec<Segment> {
    let mut order: Vec<&ChunkTranscript> = chunks.iter().collect();
    order.sort_by(|a, b| a.offset_s.total_cmp(&b.offset_s));
    let mut out: Vec<Segment> = Vec::new();
    for chunk in order {
        let segments = clean_chunk(chunk, opts);
        // Unknown spans: speech may start right at the chunk start.
        let first_speech_local = chunk
            .speech_spans
            .iter()
            .map(|s| s.0)
            .filter(|s| s.is_finite())
            .fold(f64::INFINITY, f64::min);
        let first_speech = chunk.offset_s
            + if first_speech_local.is_finite() {
                first_speech_local.max(0.0)
            } else {
                0.0
            };
        let segments = drop_join_repeat(&out, segments, first_speech, opts);
        out.extend(segments);
    }
    out.sort_by(|a, b| a.start.total_cmp(&b.start));
    for i in 1..out.len() {
        if out[i].start < out[i - 1].end {
            out[i - 1].end = out[i].start.max(out[i - 1].start);
            let prev = &mut out[i - 1];
            prev.words = words::reconcile(&prev.text, &prev.words, prev.start, prev.end);
        }
    }
    out
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

fn round_ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One chunk through every guard, in meeting time.
fn clean_chunk(chunk: &ChunkTranscript, opts: &AssembleOptions) -> Vec<Segment> {
    let limit = if chunk.duration_s.is_finite() && chunk.duration_s > 0.0 {
        chunk.duration_s
    } else {
        f64::INFINITY
    };
    let spans = padded_spans(&chunk.speech_spans, opts.span_pad_s);
    let spans_known = !spans.is_empty();
    let speech_s: f64 = chunk
        .speech_spans
        .iter()
        .map(|(s, e)| (e - s).max(0.0))
        .sum();
    let low_speech = if spans_known {
        speech_s < opts.low_speech_s
    } else {
        !chunk.segments.is_empty()
            && chunk
                .segments
                .iter()
                .all(|s| s.no_speech_prob >= opts.no_speech_prob)
    };

    let mut kept: Vec<Segment> = Vec::new();
    for seg in &chunk.segments {
        let start = finite_or_zero(seg.start).clamp(0.0, limit);
        let end = finite_or_zero(seg.end).clamp(start, limit.max(start));
        let mut text = seg.text.trim().to_string();
        if !has_words(&text) || is_annotation(&text) {
            continue;
        }
        if let Some(collapsed) = collapse_loops(&text, opts.min_loop_repeats) {
            text = collapsed;
        }
        if spans_known {
            let inside = inside_fraction(start, end, &spans);
            if 1.0 - inside >= opts.max_outside_speech {
                continue;
            }
            // "Outside speech" for a silence phrase: mostly outside, even if not 80 %.
            if inside < 0.5 && is_silence_phrase(&text) {
                continue;
            }
        }
        let words = words::reconcile(&text, &seg.words, start, end);
        kept.push(Segment {
            start,
            end,
            speaker: None,
            text,
            words,
        });
    }
    if low_speech && kept.iter().all(|s| is_silence_phrase(&s.text)) {
        kept.clear();
    }
    kept.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut kept = drop_repeated_segments(kept, opts.min_loop_segments);
    for s in &mut kept {
        s.start = round_ms(chunk.offset_s + s.start);
        s.end = round_ms(chunk.offset_s + s.end);
        for w in &mut s.words {
            w.start = round_ms(chunk.offset_s + w.start);
            w.end = round_ms(chunk.offset_s + w.end);
        }
    }
    kept
}

/// Runs of segments with the same text: a run of `min_run` or more is a loop and keeps its
/// first segment; a pair keeps both unless the second overlaps the first in time (the same
/// words emitted twice for the same audio).
fn drop_repeated_segments(segments: Vec<Segment>, min_run: usize) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
    let mut i = 0;
    while i < segments.len() {
        let key = text_keys(&segments[i].text);
        let run = segments[i..]
            .iter()
            .take_while(|s| text_keys(&s.text) == key)
            .count();
        if run >= min_run.max(2) {
            out.push(segments[i].clone());
        } else {
            for s in &segments[i..i + run] {
                let duplicate = out.last().is_some_and(|last: &Segment| {
                    text_keys(&last.text) == key && overlaps_mostly(last, s)
                });
                if !duplicate {
                    out.push(s.clone());
                }
            }
        }
        i += run;
    }
    out
}

fn overlaps_mostly(a: &Segment, b: &Segment) -> bool {
    let overlap = a.end.min(b.end) - a.start.max(b.start);
    let shorter = (a.end - a.start).min(b.end - b.start);
    if shorter <= 0.0 {
        return (a.start - b.start).abs() < 1e-6;
    }
    overlap > 0.5 * shorter
}

/// Remove a leading word sequence of `segments` that repeats the last words already in `prev`
/// (whisper re-emitting its prompt, or two chunks both hearing the words at the cut).
///
/// Only at the join: the chunk's first segment must touch the previous chunk's last one, or
/// open the chunk's speech (`first_speech`, meeting time) — an echoed prompt is stamped with
/// the first speech's time, however long the pause before it. A single repeated word counts
/// only when the two overlap or abut, since a lone word said twice across a pause is usually
/// real ("Agreed." "Agreed.").
fn drop_join_repeat(
    prev: &[Segment],
    mut segments: Vec<Segment>,
    first_speech: f64,
    opts: &AssembleOptions,
) -> Vec<Segment> {
    let (Some(last), Some(first)) = (prev.last(), segments.first()) else {
        return segments;
    };
    let touches = first.start <= last.end + opts.join_touch_s;
    let opens_chunk = first.start <= first_speech + opts.join_touch_s;
    if !(touches || opens_chunk) {
        return segments;
    }
    // 10 ms of slack: times are rounded to the millisecond.
    let min_words = if first.start <= last.end + 0.01 { 1 } else { 2 };

    let mut tail: Vec<String> = Vec::new();
    for seg in prev.iter().rev() {
        let mut keys = text_keys(&seg.text);
        keys.extend(tail);
        tail = keys;
        if tail.len() >= opts.max_join_words {
            break;
        }
    }
    let tail = &tail[tail.len().saturating_sub(opts.max_join_words)..];

    // Head words with their (segment, word) position, punctuation-only words skipped.
    let mut head: Vec<(usize, usize, String)> = Vec::new();
    'collect: for (si, seg) in segments.iter().enumerate() {
        for (wi, w) in seg.text.split_whitespace().enumerate() {
            let k = word_key(w);
            if !k.is_empty() {
                head.push((si, wi, k));
                if head.len() >= opts.max_join_words {
                    break 'collect;
                }
            }
        }
    }

    let longest = (min_words..=tail.len().min(head.len())).rev().find(|&n| {
        tail[tail.len() - n..]
            .iter()
            .zip(&head[..n])
            .all(|(t, h)| *t == h.2)
    });
    let Some(n) = longest else {
        return segments;
    };
    let (cut_seg, cut_word, _) = head[n - 1];
    for seg in segments.iter_mut().take(cut_seg) {
        seg.text.clear();
    }
    let rest: Vec<&str> = segments[cut_seg]
        .text
        .split_whitespace()
        .skip(cut_word + 1)
        .collect();
    segments[cut_seg].text = rest.join(" ");
    segments.retain(|s| has_words(&s.text));
    for s in &mut segments {
        s.words = words::reconcile(&s.text, &s.words, s.start, s.end);
    }
    segments
}
