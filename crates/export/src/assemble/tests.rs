use super::*;

fn seg(start: f64, end: f64, text: &str) -> LocalSegment {
    LocalSegment {
        start,
        end,
        text: text.to_string(),
        no_speech_prob: 0.0,
        words: Vec::new(),
    }
}

fn chunk(
    offset_s: f64,
    duration_s: f64,
    spans: &[(f64, f64)],
    segs: Vec<LocalSegment>,
) -> ChunkTranscript {
    ChunkTranscript {
        offset_s,
        duration_s,
        speech_spans: spans.to_vec(),
        segments: segs,
    }
}

/// (start, end, text) of one segment, chunk-local.
type Timed = (f64, f64, &'static str);

fn texts(out: &[Segment]) -> Vec<&str> {
    out.iter().map(|s| s.text.as_str()).collect()
}

fn run(chunks: &[ChunkTranscript]) -> Vec<Segment> {
    assemble(chunks, &AssembleOptions::default())
}

#[test]
fn global_time_is_offset_plus_local_and_output_is_sorted() {
    // Chunks arrive out of order; times shift by each chunk's offset.
    let out = run(&[
        chunk(60.0, 60.0, &[], vec![seg(1.25, 3.5, "Second chunk.")]),
        chunk(0.0, 60.0, &[], vec![seg(0.5, 2.0, " First chunk. ")]),
    ]);
    assert_eq!(texts(&out), ["First chunk.", "Second chunk."]);
    assert_eq!((out[0].start, out[0].end), (0.5, 2.0));
    assert_eq!((out[1].start, out[1].end), (61.25, 63.5));
    assert!(out.iter().all(|s| s.speaker.is_none()));
}

#[test]
fn times_are_clamped_to_the_chunk_and_rounded() {
    let out = run(&[
        chunk(
            10.1,
            5.0,
            &[],
            vec![
                seg(-0.4, 1.0, "Early."),
                seg(4.0, 9.0, "Runs past the end."),
            ],
        ),
        chunk(20.0, 5.0, &[], vec![seg(f64::NAN, 0.2, "Not a number.")]),
    ]);
    let times: Vec<(f64, f64)> = out.iter().map(|s| (s.start, s.end)).collect();
    assert_eq!(times, [(10.1, 11.1), (14.1, 15.1), (20.0, 20.2)]);
    assert_eq!(
        texts(&out),
        ["Early.", "Runs past the end.", "Not a number."]
    );
}

#[test]
fn words_are_never_rewritten() {
    let text = "On March 22nd, 2025 we spent $5 — about 70% of it.";
    let out = run(&[chunk(0.0, 30.0, &[], vec![seg(0.0, 5.0, text)])]);
    assert_eq!(texts(&out), [text]);
}

#[test]
fn empty_and_annotation_only_segments_are_removed() {
    let out = run(&[chunk(
        0.0,
        30.0,
        &[(0.0, 30.0)],
        vec![
            seg(0.0, 1.0, "   "),
            seg(1.0, 2.0, "[BLANK_AUDIO]"),
            seg(2.0, 3.0, "(music)"),
            seg(3.0, 4.0, "..."),
            seg(4.0, 5.0, "♪ ♪"),
            seg(5.0, 6.0, "(laughs) Real words."),
        ],
    )]);
    assert_eq!(texts(&out), ["(laughs) Real words."]);
}

#[test]
fn chunk_join_repeats_are_dropped_only_when_they_touch() {
    // (description, previous chunk's last segment, next chunk's first segment (local), where
    // the next chunk's speech starts (local), expected)
    let cases: [(&str, Timed, Timed, f64, &[&str]); 7] = [
        (
            "prompt re-emitted at the start of the next chunk",
            (55.0, 59.5, "Please add the index by Wednesday."),
            (0.1, 3.0, "by Wednesday. Sure, Wednesday works."),
            0.1,
            &[
                "Please add the index by Wednesday.",
                "Sure, Wednesday works.",
            ],
        ),
        (
            "a whole segment repeated is removed entirely",
            (55.0, 59.5, "Ben, can you publish it?"),
            (0.0, 1.0, "Can you publish it?"),
            0.0,
            &["Ben, can you publish it?"],
        ),
        (
            "prompt echoed at the chunk's first speech after a long pause",
            (40.0, 45.0, "the survey moves to day seven."),
            (12.0, 14.0, "day seven. Agreed."),
            12.0,
            &["the survey moves to day seven.", "Agreed."],
        ),
        (
            "far apart in time: a real repetition, kept",
            (40.0, 45.0, "we agreed on that."),
            (10.0, 12.0, "We agreed on that."),
            0.0,
            &["we agreed on that.", "We agreed on that."],
        ),
        (
            "one word that merely touches is kept",
            (55.0, 59.5, "I said yes."),
            (0.2, 1.0, "Yes, that works."),
            0.2,
            &["I said yes.", "Yes, that works."],
        ),
        (
            "one word that abuts in time is dropped",
            (55.0, 60.0, "I said yes."),
            (0.0, 1.0, "yes that works."),
            0.0,
            &["I said yes.", "that works."],
        ),
        (
            "different words at the join are kept",
            (55.0, 59.5, "That is all."),
            (0.2, 1.0, "Thanks everyone."),
            0.2,
            &["That is all.", "Thanks everyone."],
        ),
    ];
    for (what, (ps, pe, pt), (ns, ne, nt), first_speech, want) in cases {
        let out = run(&[
            chunk(
                0.0,
                60.0,
                &[],
                vec![seg(0.0, 2.0, "Opening."), seg(ps, pe, pt)],
            ),
            chunk(
                60.0,
                60.0,
                &[(first_speech, 30.0)],
                vec![seg(ns, ne, nt), seg(20.0, 21.0, "Later.")],
            ),
        ]);
        let got = texts(&out);
        assert_eq!(&got[1..got.len() - 1], want, "{what}");
    }
}

#[test]
fn repetition_loops_keep_one_copy() {
    let out = run(&[chunk(
        0.0,
        60.0,
        &[],
        vec![
            seg(0.0, 5.0, "I think I think I think I think we should ship."),
            seg(5.0, 6.0, "No, no, no."),
            seg(6.0, 7.0, "Thank you."),
            seg(7.0, 8.0, "Thank you."),
            seg(8.0, 9.0, "Thank you."),
            seg(9.0, 10.0, "Thank you."),
            seg(10.0, 11.0, "Agreed."),
            seg(11.0, 12.0, "Agreed."),
            seg(12.0, 13.0, "Same words, same time."),
            seg(12.1, 13.0, "Same words, same time."),
        ],
    )]);
    assert_eq!(
        texts(&out),
        [
            "I think we should ship.",
            "No, no, no.",
            "Thank you.",
            "Agreed.",
            "Agreed.",
            "Same words, same time.",
        ]
    );
}

#[test]
fn text_in_no_speech_is_dropped_when_spans_are_known() {
    let segs = || {
        vec![
            seg(0.5, 4.0, "Inside the speech."),
            seg(10.0, 14.0, "Invented during the silence."),
            seg(19.5, 21.5, "Half in, half out."),
        ]
    };
    let spans = [(0.4, 4.2), (20.0, 25.0)];
    let with_spans = run(&[chunk(0.0, 30.0, &spans, segs())]);
    assert_eq!(
        texts(&with_spans),
        ["Inside the speech.", "Half in, half out."]
    );
    let unknown = run(&[chunk(0.0, 30.0, &[], segs())]);
    assert_eq!(unknown.len(), 3, "no spans: nothing to judge against");
}

#[test]
fn silence_phrases_go_only_where_there_is_no_speech() {
    let spans = [(0.0, 10.0)];
    let cases: [(&str, ChunkTranscript, &[&str]); 6] = [
        (
            "mostly outside the spans (60 %)",
            chunk(
                0.0,
                30.0,
                &spans,
                vec![seg(9.0, 10.0, "Hello."), seg(9.5, 11.5, "Thank you.")],
            ),
            &["Hello."],
        ),
        (
            "inside the spans it is real speech",
            chunk(
                0.0,
                30.0,
                &spans,
                vec![seg(8.0, 9.5, "Thank you for watching.")],
            ),
            &["Thank you for watching."],
        ),
        (
            "only text of a chunk whose segments all look like silence",
            chunk(
                0.0,
                30.0,
                &[],
                vec![LocalSegment {
                    no_speech_prob: 0.9,
                    ..seg(0.0, 30.0, " you")
                }],
            ),
            &[],
        ),
        (
            "same text with a confident model is kept",
            chunk(
                0.0,
                30.0,
                &[],
                vec![LocalSegment {
                    no_speech_prob: 0.1,
                    ..seg(0.0, 2.0, "Thank you.")
                }],
            ),
            &["Thank you."],
        ),
        (
            "only text of a chunk with almost no speech",
            chunk(0.0, 30.0, &[(5.0, 5.4)], vec![seg(5.0, 5.5, "Thank you.")]),
            &[],
        ),
        (
            "a low-speech chunk with real words keeps them",
            chunk(0.0, 30.0, &[(5.0, 5.6)], vec![seg(5.0, 5.6, "Yes.")]),
            &["Yes."],
        ),
    ];
    for (what, c, want) in cases {
        let out = run(&[c]);
        assert_eq!(texts(&out), want, "{what}");
    }
}

#[test]
fn overlapping_segments_are_trimmed_not_dropped() {
    let out = run(&[
        chunk(0.0, 10.0, &[], vec![seg(8.0, 10.0, "End of one.")]),
        // a chunk that overlaps the previous one by a second (e.g. re-chunked audio)
        chunk(9.0, 10.0, &[], vec![seg(0.0, 2.0, "Start of two.")]),
    ]);
    assert_eq!(texts(&out), ["End of one.", "Start of two."]);
    assert_eq!(out[0].end, 9.0);
    assert!(out.windows(2).all(|w| w[0].end <= w[1].start));
}

#[test]
fn nothing_in_gives_nothing_out() {
    assert!(run(&[]).is_empty());
    assert!(run(&[chunk(0.0, 6.0, &[], vec![])]).is_empty());
}
