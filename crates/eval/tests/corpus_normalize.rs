//! The normaliser must reproduce the corpus's own normalised references exactly, or WER would
//! count differences in normalisation as recognition errors.

use nightshift_eval::{load_corpus, normalize};

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn normalize_matches_every_normalized_reference_in_the_manifest() {
    let manifest = load_corpus().unwrap_or_else(|e| panic!("{e}"));
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in &manifest.cases {
        let mut pairs: Vec<(String, String, String)> = Vec::new();
        if let (Some(r), Some(n)) = (
            case.reference_transcript(),
            case.reference_transcript_normalized(),
        ) {
            pairs.push((case.id.clone(), r.to_string(), n.to_string()));
        }
        for (spk, text, norm) in case.reference_per_speaker() {
            if let Some(norm) = norm {
                pairs.push((format!("{}/{spk}", case.id), text, norm));
            }
        }
        for (id, reference, normalized) in pairs {
            checked += 1;
            let got = normalize(&reference);
            if got != words(&normalized) {
                failures.push(format!(
                    "{id}:\n  got  {}\n  want {normalized}",
                    got.join(" ")
                ));
            }
        }
    }
    assert!(
        checked >= 30,
        "only {checked} references found in the manifest"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn manifest_accessors_cover_the_dev_corpus() {
    let manifest = load_corpus().unwrap_or_else(|e| panic!("{e}"));
    for case in &manifest.cases {
        assert!(
            manifest.file(case).is_file(),
            "{}: {} missing",
            case.id,
            case.path
        );
        if matches!(case.kind.as_str(), "meeting" | "video") {
            assert!(
                case.speech_regions().is_some_and(|r| !r.is_empty()),
                "{}",
                case.id
            );
            let turns = case.turns();
            assert!(turns.iter().all(|t| t.text.is_some()), "{}", case.id);
            assert!(turns.iter().all(|t| !t.sentences.is_empty()), "{}", case.id);
        }
        if !matches!(case.kind.as_str(), "bad_input") {
            assert!(case.duration_s().is_some(), "{}: no duration", case.id);
        }
    }
    let ami = manifest
        .case("real_ami_meeting_excerpt")
        .expect("AMI excerpt in the dev corpus");
    assert!(ami.turns().len() > 10);
    assert_eq!(ami.reference_per_speaker().len(), 4);
}
