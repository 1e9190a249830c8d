//! The CTranslate2 engine end to end (`asr_engine = "ct2"`, `asr_model = "ct2-tiny.en"` from
//! `scripts/fetch-ct2-model.sh`): the corpus meetings through `add` and `run`, scored like
//! `corpus_quality` scores the whisper.cpp engine, and every word's time checked against the
//! truth's sentence starts.

mod common;

use common::Env;
use nightshift_eval::{WerCounts, load_corpus, normalize, pooled_wer, wer_counts};

/// A home whose default profile runs the ct2 engine (speakers and audio events off: this is
/// about the transcript).
fn ct2_env() -> Env {
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(
        env.home().join("config.toml"),
        "[speakers]\nenabled = false\n\
         [profiles.dev]\nasr_engine = \"ct2\"\nasr_model = \"ct2-tiny.en\"\n\
         [profiles.dev.events]\nenabled = false\n",
    )
    .unwrap();
    env
}

#[test]
fn ct2_engine_transcribes_meetings_within_the_yardstick_with_word_times() {
    common::shared();
    let manifest = load_corpus().expect("corpus manifest");
    let env = ct2_env();
    let meetings: Vec<_> = manifest
        .of_kind("meeting")
        .map(|case| (case, env.add(&manifest.file(case))))
        .collect();
    assert!(!meetings.is_empty(), "no meetings in the corpus");
    env.run_audio_until_idle();

    let mut counts: Vec<WerCounts> = Vec::new();
    let mut offsets: Vec<f64> = Vec::new();
    let mut sentences = 0usize;
    for (case, id) in &meetings {
        let doc = env.json(&["show", id, "--format", "json"]);
        let segments = doc["segments"].as_array().unwrap();
        let hyp: Vec<&str> = segments
            .iter()
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        let reference = case.reference_transcript().expect("a meeting's reference");
        let c = wer_counts(&normalize(reference), &normalize(&hyp.join(" ")));
        eprintln!(
            "{}: WER {:.1} %",
            case.id,
            100.0 * pooled_wer(std::slice::from_ref(&c))
        );
        counts.push(c);

        // (normalised word, start) of every transcript word.
        let words: Vec<(String, f64)> = segments
            .iter()
            .flat_map(|s| s["words"].as_array().cloned().unwrap_or_default())
            .filter_map(|w| {
                let first = normalize(w["text"].as_str()?).into_iter().next()?;
                Some((first, w["start"].as_f64()?))
            })
            .collect();
        assert!(
            !words.is_empty(),
            "{}: no word times in `show --format json`",
            case.id
        );
        // Each true sentence's first word: the nearest transcript word spelled the same within
        // 1.5 s of where the truth says the sentence starts.
        for turn in case.turns() {
            for sentence in &turn.sentences {
                sentences += 1;
                let Some(first) = normalize(&sentence.text).into_iter().next() else {
                    continue;
                };
                let nearest = words
                    .iter()
                    .filter(|(w, _)| *w == first)
                    .map(|(_, t)| (t - sentence.start_s).abs())
                    .filter(|d| *d <= 1.5)
                    .min_by(f64::total_cmp);
                offsets.extend(nearest);
            }
        }
    }
    let wer = pooled_wer(&counts);
    offsets.sort_by(f64::total_cmp);
    let median = offsets[offsets.len() / 2];
    eprintln!(
        "ct2 pooled meeting WER {:.1} %; sentence starts found {}/{sentences}, median |Δ| {median:.3} s",
        100.0 * wer,
        offsets.len()
    );
    // corpus_quality's meeting ceiling: the faster-whisper tiny.en yardstick + 1 point.
    assert!(wer <= 0.160, "pooled meeting WER {:.1} %", 100.0 * wer);
    assert!(
        offsets.len() * 10 >= sentences * 8,
        "only {} of {sentences} sentence starts have a word near them",
        offsets.len()
    );
    assert!(median <= 0.25, "median word start offset {median:.3} s");
}

/// The CTranslate2 worker holds three chunks at once (its replicas take the longest windows
/// of all three first). A worker that dies after its first answer, with the next chunks
/// already under way, loses nothing: the chunks it did not answer are decoded again, and the
/// transcript is the one an undisturbed run gives.
#[test]
fn a_ct2_worker_dying_with_chunks_in_hand_resumes_to_the_same_transcript() {
    common::shared();
    let manifest = load_corpus().expect("corpus manifest");
    let case = manifest
        .of_kind("meeting")
        .max_by_key(|c| c.id.clone())
        .expect("a corpus meeting");
    let file = manifest.file(case);

    let calm = ct2_env();
    let calm_id = calm.add(&file);
    calm.run_audio_until_idle();

    let hit = ct2_env();
    let hit_id = hit.add(&file);
    let once = hit.home().join("fault-taken");
    let out = hit
        .cmd()
        .args(["run", "--until-idle", "--only", "audio"])
        .env("NIGHTSHIFT_WORKER_FAIL", "abort_after:1")
        .env("NIGHTSHIFT_WORKER_FAIL_ONCE", &once)
        .output()
        .unwrap();
    assert!(once.exists(), "the fault never fired");
    // Whatever the first run made of it, a second one finishes the meeting.
    if !out.status.success() {
        eprintln!("first run: {}", common::stderr(&out));
    }
    hit.run_audio_until_idle();

    let segments =
        |env: &Env, id: &str| env.json(&["show", id, "--format", "json"])["segments"].clone();
    let (a, b) = (segments(&calm, &calm_id), segments(&hit, &hit_id));
    assert!(a.as_array().is_some_and(|s| s.len() > 10), "{a}");
    assert_eq!(a, b, "a resumed ct2 run changed the transcript");
}
