//! Diarization quality on the corpus: DER (collar 0.25 s, overlap scored, optimal mapping)
//! against each RTTM, and the number of speakers found. Run with `--nocapture` for the table.

mod common;

use nightshift_eval::{der, load_corpus, parse_rttm};
use nightshift_worker_protocol::SpeakerHints;

#[test]
fn der_on_corpus_meetings() {
    let corpus = load_corpus().expect("corpus");
    let mut engine = common::engine(2);
    let mut failures = Vec::new();
    let cases: Vec<_> = corpus
        .cases
        .iter()
        .filter(|c| c.expected["rttm"].is_string())
        .collect();
    assert!(
        cases.len() >= 4,
        "expected the 3 meetings and the AMI excerpt"
    );
    for case in cases {
        let rttm = corpus.dir.join(case.expected["rttm"].as_str().unwrap());
        let reference = parse_rttm(&std::fs::read_to_string(&rttm).unwrap());
        let samples = common::decode(&corpus.file(case));
        let (d, m) = engine
            .diarize_spans([Ok((samples, 0.0))], &SpeakerHints::default())
            .expect("diarization");
        let hyp = common::hypothesis(&d);
        let score = der(&reference, &hyp, 0.25);
        let truth = case.expected["num_speakers"].as_u64().unwrap_or(0) as usize;
        let synthetic = case.kind == "meeting";
        println!(
            "{:<28} DER {:5.1} % (miss {:.1} s, fa {:.1} s, conf {:.1} s of {:.1} s)  speakers {} / {}  {:.1} s audio in {:.2} s ({:.0}x)",
            case.id,
            100.0 * score.rate(),
            score.missed_s,
            score.false_alarm_s,
            score.confusion_s,
            score.total_s,
            d.speakers.len(),
            truth,
            m.audio_s,
            m.wall_s,
            m.audio_s / m.wall_s
        );
        let limit = if synthetic { 0.20 } else { 0.35 };
        if score.rate() > limit {
            failures.push(format!(
                "{}: DER {:.1} % > {:.0} %",
                case.id,
                100.0 * score.rate(),
                100.0 * limit
            ));
        }
        // The acceptance target: the exact count on every synthetic meeting.
        if synthetic && d.speakers.len() != truth {
            failures.push(format!(
                "{}: {} speakers found, {truth} expected",
                case.id,
                d.speakers.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
