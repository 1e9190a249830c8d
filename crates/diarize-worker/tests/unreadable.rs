//! Chunks damaged or deleted after they were written: the diarization leaves them out and
//! says how many; when none can be read the meeting keeps its transcript without speakers
//! (fault trial 71: a one-chunk meeting's chunk truncated after transcription left the
//! diarization job FAILED for ever, and no retry could help).

mod common;

use nightshift_worker_protocol::{AudioSpan, DiarizeItem, DiarizeResponse, SpeakerHints};

fn item(paths: &[&std::path::Path]) -> DiarizeItem {
    DiarizeItem {
        job_id: 7,
        spans: paths
            .iter()
            .enumerate()
            .map(|(i, p)| AudioSpan {
                path: p.to_string_lossy().into_owned(),
                offset_s: 30.0 * i as f64,
            })
            .collect(),
        hints: SpeakerHints::default(),
    }
}

#[test]
fn a_meeting_whose_chunks_cannot_be_read_completes_without_speakers() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("000000.flac");
    std::fs::write(&truncated, b"fLaC\0\0").unwrap();
    let deleted = dir.path().join("000001.flac");
    let mut engine = common::engine(1);
    match engine
        .diarize(&item(&[&truncated, &deleted]))
        .expect("no error")
    {
        DiarizeResponse::Diarized {
            job_id,
            turns,
            speakers,
            metrics,
        } => {
            assert_eq!(job_id, 7);
            assert!(turns.is_empty() && speakers.is_empty());
            assert_eq!(metrics.unreadable_chunks, 2);
            assert_eq!(metrics.audio_s, 0.0);
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

#[test]
fn an_unreadable_chunk_is_left_out_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = nightshift_eval::load_corpus().expect("corpus");
    let case = corpus
        .cases
        .iter()
        .find(|c| c.kind == "meeting")
        .expect("a corpus meeting");
    let samples = common::decode(&corpus.file(case));
    let good = dir.path().join("000000.flac");
    nightshift_media::chunk_io::write_chunk(&good, &samples[..samples.len().min(30 * 16_000)])
        .unwrap();
    let deleted = dir.path().join("000001.flac");
    let mut engine = common::engine(1);
    match engine.diarize(&item(&[&good, &deleted])).expect("no error") {
        DiarizeResponse::Diarized { turns, metrics, .. } => {
            assert!(!turns.is_empty(), "the readable chunk has speech");
            assert!(turns.iter().all(|t| t.end <= 30.0 + 1e-6));
            assert_eq!(metrics.unreadable_chunks, 1);
        }
        other => panic!("unexpected answer {other:?}"),
    }
}
