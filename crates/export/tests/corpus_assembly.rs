//! Assembly over the corpus's own truth: each meeting and video speech track is cut into chunks
//! in its pauses (as ingest does), every sentence becomes a chunk-local segment, and whisper's
//! known failure modes are injected (echoed prompt at a join, "Thank you." / invented text /
//! "[BLANK_AUDIO]" in pauses, a segment emitted over and over, a word loop inside a segment).
//! The assembled transcript must hold every spoken word exactly once (WER 0 after the DESIGN §4
//! normalisation) with each segment at its true start.

use nightshift_eval::{Sentence, load_corpus, normalize, wer_counts};
use nightshift_export::{AssembleOptions, ChunkTranscript, assemble};
use nightshift_worker_protocol::LocalSegment;

/// Shortest chunk before a cut is made in the next pause (ingest cuts ~1–2 min chunks; shorter
/// here gives more joins to test).
const MIN_CHUNK_S: f64 = 30.0;

fn local(start: f64, end: f64, text: String) -> LocalSegment {
    LocalSegment {
        start,
        end,
        text,
        no_speech_prob: 0.0,
        words: Vec::new(),
    }
}

/// Chunk boundaries at pause midpoints, at least `MIN_CHUNK_S` apart.
fn cuts(regions: &[(f64, f64)], duration: f64) -> Vec<f64> {
    let mut cuts = vec![0.0];
    for pair in regions.windows(2) {
        let mid = (pair[0].1 + pair[1].0) / 2.0;
        if pair[1].0 > pair[0].1 && mid - cuts[cuts.len() - 1] >= MIN_CHUNK_S {
            cuts.push(mid);
        }
    }
    cuts.push(duration);
    cuts
}

/// Chunk-local speech spans and the longest pause inside them (start, end), if any.
fn spans_in(regions: &[(f64, f64)], a: f64, b: f64) -> Vec<(f64, f64)> {
    regions
        .iter()
        .filter(|(s, e)| *e > a && *s < b)
        .map(|(s, e)| (s.max(a) - a, e.min(b) - a))
        .collect()
}

fn longest_pause(spans: &[(f64, f64)], len: f64) -> Option<(f64, f64)> {
    let mut edges = vec![0.0];
    for (s, e) in spans {
        edges.push(*s);
        edges.push(*e);
    }
    edges.push(len);
    edges
        .chunks(2)
        .map(|p| (p[0], p[1]))
        .max_by(|x, y| (x.1 - x.0).total_cmp(&(y.1 - y.0)))
        .filter(|(s, e)| e - s >= 2.0)
}

fn build(
    sentences: &[Sentence],
    regions: &[(f64, f64)],
    duration: f64,
    inject: bool,
) -> Vec<ChunkTranscript> {
    let cuts = cuts(regions, duration);
    let mut chunks: Vec<ChunkTranscript> = Vec::new();
    let mut prev_tail: Option<String> = None;
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let spans = spans_in(regions, a, b);
        let mut segments: Vec<LocalSegment> = sentences
            .iter()
            .filter(|s| s.start_s >= a && s.start_s < b)
            .map(|s| local(s.start_s - a, s.end_s - a, s.text.clone()))
            .collect();
        let last_words = segments.last().map(|s| {
            let words: Vec<&str> = s.text.split_whitespace().collect();
            words[words.len().saturating_sub(3)..].join(" ")
        });
        if inject && !segments.is_empty() {
            if let Some(tail) = &prev_tail {
                segments[0].text = format!("{tail} {}", segments[0].text);
            }
            let first = &mut segments[0];
            if let Some(word) = first.text.split_whitespace().last().map(str::to_string) {
                first.text = format!("{} {word} {word} {word} {word}", first.text);
            }
            let last = segments[segments.len() - 1].clone();
            segments.extend(std::iter::repeat_n(last, 3));
            if let Some((ps, pe)) = longest_pause(&spans, b - a) {
                let mid = (ps + pe) / 2.0;
                segments.push(local(mid - 0.5, mid + 0.5, "Thank you.".into()));
                segments.push(local(ps, pe, "[BLANK_AUDIO]".into()));
                // not a known phrase: only the no-speech rule can catch it
                let invented = "I'll see you in the next video.";
                segments.push(local(mid + 0.5, mid + 0.9, invented.into()));
            }
            segments.sort_by(|x, y| x.start.total_cmp(&y.start));
        }
        if last_words.is_some() {
            prev_tail = last_words;
        }
        chunks.push(ChunkTranscript {
            offset_s: a,
            duration_s: b - a,
            speech_spans: spans,
            segments,
        });
    }
    chunks
}

#[test]
fn corpus_speech_survives_assembly_and_hallucinations_do_not() {
    let manifest = load_corpus().unwrap_or_else(|e| panic!("{e}"));
    let mut checked = 0;
    for case in manifest.cases.iter().filter(|c| !c.turns().is_empty()) {
        let mut sentences: Vec<Sentence> =
            case.turns().into_iter().flat_map(|t| t.sentences).collect();
        if sentences.is_empty() {
            continue; // the AMI excerpt has turn times only
        }
        sentences.sort_by(|x, y| x.start_s.total_cmp(&y.start_s));
        let regions = case.speech_regions().expect("speech regions");
        let duration = case.duration_s().expect("duration");
        let truth: Vec<String> = sentences.iter().flat_map(|s| normalize(&s.text)).collect();

        for inject in [false, true] {
            let chunks = build(&sentences, &regions, duration, inject);
            assert!(
                chunks.len() >= 2 || duration < 2.0 * MIN_CHUNK_S,
                "{}",
                case.id
            );
            let out = assemble(&chunks, &AssembleOptions::default());
            let hyp: Vec<String> = out.iter().flat_map(|s| normalize(&s.text)).collect();
            let c = wer_counts(&truth, &hyp);
            assert_eq!(
                c.errors(),
                0,
                "{} (injected: {inject}): {c:?}\n  got: {}",
                case.id,
                hyp.join(" ")
            );
            assert_eq!(out.len(), sentences.len(), "{}", case.id);
            for (seg, truth) in out.iter().zip(&sentences) {
                assert!(
                    (seg.start - truth.start_s).abs() < 0.5,
                    "{}: {:?} starts at {} instead of {}",
                    case.id,
                    seg.text,
                    seg.start,
                    truth.start_s
                );
            }
            assert!(out.windows(2).all(|w| w[0].end <= w[1].start + 1e-9));
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} cases with sentence timings");
}
