//! Speakers end to end: a meeting's transcript labelled by speaker (and the labels agree with
//! the reference turns), names given after the fact, voice profiles enrolled from one recording
//! naming the same voice in another, and the exports carrying speakers.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Env, corpus, stderr, stdout};
use serde_json::Value;

fn meeting_id(env: &Env, file: &Path) -> String {
    env.add(file)
}

fn segments(env: &Env, id: &str) -> Vec<Value> {
    env.json(&["show", id, "--format", "json", "--part", "transcript"])["segments"]
        .as_array()
        .unwrap()
        .clone()
}

/// Every word of the transcript with its time and its segment's speaker; every segment carries
/// as many timed words as its text has.
fn words_of(segs: &[Value]) -> Vec<nightshift_eval::HypWord> {
    let mut words = Vec::new();
    for s in segs {
        let ws = s["words"].as_array().expect("segments carry words");
        assert_eq!(
            ws.len(),
            s["text"].as_str().unwrap().split_whitespace().count(),
            "{s}"
        );
        for w in ws {
            words.push(nightshift_eval::HypWord {
                start: w["start"].as_f64().unwrap(),
                speaker: s["speaker"].as_str().map(str::to_string),
                text: w["text"].as_str().unwrap().to_string(),
            });
        }
    }
    words
}

/// The corpus meeting with four speakers, short back-channel turns and a low-bitrate MP3:
/// speakers are given word by word, so at least 95 % of the words carry their reference speaker
/// there too (as on meeting_02, below).
#[test]
fn words_carry_their_speakers_through_short_turns() {
    let env = Env::new();
    let manifest = nightshift_eval::load_corpus().expect("corpus manifest");
    let case = manifest
        .case("meeting_03")
        .expect("meeting_03 in the manifest");
    let id = meeting_id(&env, &manifest.file(case));
    env.run_audio_until_idle();
    let score = nightshift_eval::score_words(&case.turns(), &words_of(&segments(&env, &id)));
    println!(
        "meeting_03 words: {}/{} aligned words carry their reference speaker ({:.1} %)",
        score.attributed,
        score.aligned,
        score.attribution() * 100.0
    );
    assert!(score.aligned >= 400, "only {} words aligned", score.aligned);
    assert!(
        score.attribution() >= 0.95,
        "{}/{} words carry their speaker",
        score.attributed,
        score.aligned
    );
}

#[test]
fn meeting_speakers_follow_the_reference_turns_and_take_names() {
    let env = Env::new();
    let file = corpus("meetings/meeting_02.wav");
    let id = meeting_id(&env, &file);
    env.run_audio_until_idle();
    let segs = segments(&env, &id);
    assert!(!segs.is_empty());
    let rttm = nightshift_eval::parse_rttm(
        &std::fs::read_to_string(corpus("meetings/meeting_02.rttm")).unwrap(),
    );
    // Each segment's label against the reference speaker who talks most during it; labels map
    // one-to-one onto reference speakers for most of the segments.
    let labelled = segs.iter().filter(|s| s["speaker"].is_string()).count();
    assert!(
        labelled * 10 >= segs.len() * 9,
        "{labelled}/{} segments have a speaker",
        segs.len()
    );
    let mut pairs: Vec<(String, String)> = Vec::new();
    for s in &segs {
        let (a, b) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
        let Some(label) = s["speaker"].as_str().map(str::to_string) else {
            continue;
        };
        let truth = rttm
            .iter()
            .map(|t| (t.end.min(b) - t.start.max(a), &t.speaker))
            .filter(|(o, _)| *o > 0.0)
            .max_by(|x, y| x.0.total_cmp(&y.0))
            .map(|(_, s)| s.clone());
        if let Some(truth) = truth {
            pairs.push((label, truth));
        }
    }
    let labels: std::collections::BTreeSet<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(labels.len(), 3, "labels {labels:?}");
    let agree = pairs
        .iter()
        .filter(|(l, t)| {
            // the reference speaker this label is most often paired with
            let best = pairs
                .iter()
                .filter(|(l2, _)| l2 == l)
                .fold(
                    std::collections::HashMap::<&str, usize>::new(),
                    |mut m, (_, t2)| {
                        *m.entry(t2.as_str()).or_default() += 1;
                        m
                    },
                )
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .map(|(t2, _)| t2.to_string());
            best.as_deref() == Some(t.as_str())
        })
        .count();
    println!(
        "{agree}/{} segments carry their reference speaker's label",
        pairs.len()
    );
    assert!(agree * 10 >= pairs.len() * 8, "{agree}/{}", pairs.len());

    // Every segment carries its words with times; speakers are given word by word, so the
    // words' starts match the reference sentences' and the words carry their speakers.
    let words = words_of(&segs);
    let manifest = nightshift_eval::load_corpus().expect("corpus manifest");
    let case = manifest
        .case("meeting_02")
        .expect("meeting_02 in the manifest");
    let score = nightshift_eval::score_words(&case.turns(), &words);
    let median = score.median_start_error().expect("aligned sentence starts");
    println!(
        "meeting_02 words: median sentence-start error {median:.3} s over {} starts; {}/{} aligned words carry their reference speaker ({:.1} %)",
        score.start_errors.len(),
        score.attributed,
        score.aligned,
        score.attribution() * 100.0
    );
    assert!(median <= 0.25, "median word start error {median:.3} s");
    assert!(
        score.attribution() >= 0.95,
        "{}/{} words carry their speaker",
        score.attributed,
        score.aligned
    );

    // Speakers take the names the others call them by ("Thanks, Grace." names the one who
    // spoke before; "Go ahead, Henry." the one who speaks next), marked as proposed from speech;
    // exports carry them.
    let doc = env.json(&["show", &id, "--format", "json"]);
    let named: Vec<(&str, &str)> = doc["speakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["source"].as_str().unwrap()))
        .collect();
    assert!(named.contains(&("Grace", "speech")), "{named:?}");
    assert!(named.contains(&("Henry", "speech")), "{named:?}");
    let srt = stdout(&env.run(&["show", &id, "--format", "srt"]));
    assert!(srt.contains("Grace: "), "{srt}");
    let vtt = stdout(&env.run(&["show", &id, "--format", "vtt"]));
    assert!(vtt.contains("<v Henry>"), "{vtt}");
    let md = stdout(&env.run(&["show", &id, "--format", "md", "--part", "transcript"]));
    assert!(md.contains("Grace (named in speech, SPEAKER_"), "{md}");

    // A name given after the fact replaces the label everywhere.
    let out = env.run(&["speakers", "rename", &id, "SPEAKER_2", "Dana"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let segs = segments(&env, &id);
    assert!(segs.iter().any(|s| s["speaker"] == "Dana"));
    assert!(!segs.iter().any(|s| s["speaker"] == "SPEAKER_2"));
    let md = stdout(&env.run(&["show", &id, "--format", "md", "--part", "transcript"]));
    assert!(md.contains("**Dana:**"), "{md}");
    // Renaming by the current name works too; an unknown label is one clear error.
    let out = env.run(&["speakers", "rename", &id, "Dana", "Dana B."]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.run(&["speakers", "rename", &id, "SPEAKER_9", "X"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no speaker \"SPEAKER_9\""), "{err}");
}

/// Speak `text` with espeak-ng into a 16 kHz WAV.
fn espeak(args: &[&str], text: &str, out: &Path) {
    let st = Command::new("espeak-ng")
        .args(args)
        .arg("-w")
        .arg(out)
        .arg(text)
        .status()
        .expect("espeak-ng runs");
    assert!(st.success());
}

#[test]
fn an_enrolled_voice_names_its_speaker_in_another_recording() {
    let env = Env::new();
    let tmp = env.dir.path();
    // Enrol ANNA from her first turn in meeting_01 (1.0 s to 13.9 s in its RTTM).
    let clip = tmp.join("anna.wav");
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-ss", "1.0", "-t", "12.5", "-i"])
        .arg(corpus("meetings/meeting_01.wav"))
        .arg(&clip)
        .status()
        .unwrap();
    assert!(st.success());
    let out = env.run(&["speakers", "enroll", "Anna", clip.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("enrolled Anna"));
    assert!(stdout(&env.run(&["speakers", "list"])).contains("Anna"));

    // Another recording: the same synthetic voice saying other things, and a different voice.
    // (The corpus README gives ANNA's voice: en-us+f3, speed 165, pitch 60.)
    let same = ["-v", "en-us+f3", "-s", "165", "-p", "60"];
    let other = ["-v", "en-gb+m3", "-s", "155", "-p", "40"];
    let parts = [
        (
            &same[..],
            "Thanks for joining. Today I want to review the hiring plan and the budget for the new office in the spring.",
        ),
        (
            &other[..],
            "Sure. I have the numbers here. We spent a little more on travel than planned, but the rest is on track.",
        ),
        (
            &same[..],
            "Good. Then let us agree that the travel budget is frozen until the end of the quarter, and move on to hiring.",
        ),
        (
            &other[..],
            "That works for me. I will send the updated spreadsheet to everyone this afternoon.",
        ),
    ];
    let mut list = String::new();
    for (i, (voice, text)) in parts.iter().enumerate() {
        let p = tmp.join(format!("part{i}.wav"));
        espeak(voice, text, &p);
        list += &format!(
            "file '{}'\nfile '{}'\n",
            p.display(),
            tmp.join("gap.wav").display()
        );
    }
    let st = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=22050:cl=mono",
            "-t",
            "0.8",
        ])
        .arg(tmp.join("gap.wav"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(tmp.join("list.txt"), list).unwrap();
    let talk = tmp.join("talk.wav");
    let st = Command::new("ffmpeg")
        .args([
            "-nostdin", "-v", "error", "-f", "concat", "-safe", "0", "-i",
        ])
        .arg(tmp.join("list.txt"))
        .args(["-ar", "16000", "-ac", "1"])
        .arg(&talk)
        .status()
        .unwrap();
    assert!(st.success());

    let id = meeting_id(&env, &talk);
    env.run_audio_until_idle();
    let segs = segments(&env, &id);
    let said = |name: &str| -> String {
        segs.iter()
            .filter(|s| s["speaker"] == name)
            .map(|s| s["text"].as_str().unwrap().to_lowercase())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let anna = said("Anna");
    assert!(
        anna.contains("hiring plan") && anna.contains("frozen"),
        "Anna said: {anna:?}\n{segs:#?}"
    );
    assert!(
        !anna.contains("spreadsheet") && !anna.contains("travel than planned"),
        "{anna:?}"
    );
    let others: Vec<&str> = segs
        .iter()
        .filter_map(|s| s["speaker"].as_str())
        .filter(|n| *n != "Anna")
        .collect();
    assert!(
        !others.is_empty() && others.iter().all(|n| n.starts_with("SPEAKER_")),
        "{others:?}"
    );

    // Profiles: removed once; a second removal is an error.
    assert!(env.run(&["speakers", "rm", "Anna"]).status.success());
    let out = env.run(&["speakers", "rm", "Anna"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no voice profile named \"Anna\""));
    // Without the profile the speaker is a label again.
    assert!(segments(&env, &id).iter().all(|s| s["speaker"] != "Anna"));
}

#[test]
fn enrolment_refuses_bad_clips_with_one_line() {
    let env = Env::new();
    for (clip, why) in [
        (env.dir.path().join("missing.wav"), "cannot read"),
        (
            corpus("bad_inputs/digital_silence_6s.wav"),
            "no voice to enroll",
        ),
        (corpus("bad_inputs/not_audio_text.wav"), ""),
    ] {
        let out = env.run(&["speakers", "enroll", "X", clip.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", clip.display());
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains(why), "{err}");
    }
    assert!(stdout(&env.run(&["speakers", "list"])).contains("no voice profiles"));
}
