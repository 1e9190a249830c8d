//! `render` across formats and parts, on one meeting with every field filled.

use nightshift_core::{ActionItem, Decision, Scene, Segment, Summary};
use serde_json::{Value, json};

use crate::{ExportError, Format, Gap, MeetingDoc, Part, render};

fn doc() -> MeetingDoc {
    MeetingDoc {
        meeting_id: "m-01".into(),
        title: "Platform sync".into(),
        source: "meetings/meeting_01.wav".into(),
        duration_s: 283.659,
        language: Some("en".into()),
        segments: vec![
            Segment {
                start: 1.0,
                end: 2.3,
                speaker: Some("ANNA".into()),
                text: "Good morning everyone.".into(),
                words: Vec::new(),
            },
            Segment {
                start: 62.5,
                end: 65.0,
                speaker: Some("BEN".into()),
                text: "March 22nd works.".into(),
                words: Vec::new(),
            },
        ],
        scenes: vec![Scene {
            start: 0.0,
            end: 8.0,
            keyframes: vec!["k/0001.jpg".into()],
            transcript: "Welcome.".into(),
            ocr_text: "Q2 Platform Review\nPlatform team".into(),
            description: Some("Title slide".into()),
            ..Scene::default()
        }],
        summary: Some(Summary {
            overview: "Migration planning.".into(),
            decisions: vec![Decision {
                text: "Migrate on Saturday.".into(),
                time: Some(52.0),
                speaker: Some("Dana".into()),
            }],
            action_items: vec![
                ActionItem {
                    task: "Add the index".into(),
                    owner: Some("Carlos".into()),
                    due: Some("2025-03-12".into()),
                    due_spoken: None,
                    time: Some(34.0),
                },
                ActionItem {
                    task: "Send the agenda".into(),
                    owner: None,
                    due: None,
                    due_spoken: None,
                    time: None,
                },
            ],
            open_questions: vec![],
        }),
        jobs: json!({"AUDIO": {"COMPLETED": 3}}),
        speakers: Vec::new(),
        meeting_date: None,
        meeting_date_source: None,
        events: Vec::new(),
        gaps: vec![Gap {
            start: 40.0,
            end: 52.5,
            cause: "chunk file missing".into(),
        }],
    }
}

fn json_of(part: Part) -> Value {
    serde_json::from_str(&render(&doc(), Format::Json, part).unwrap()).unwrap()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn json_all_is_the_design_shape() {
    let v = json_of(Part::All);
    let mut k = keys(&v);
    k.sort();
    assert_eq!(
        k,
        [
            "duration_s",
            "gaps",
            "jobs",
            "language",
            "meeting_date",
            "meeting_date_source",
            "meeting_id",
            "scenes",
            "segments",
            "source",
            "speakers",
            "summary",
            "title"
        ]
    );
    assert_eq!(
        v["segments"][0],
        json!({"start": 1.0, "end": 2.3, "speaker": "ANNA", "text": "Good morning everyone."})
    );
    let mut scene_keys = keys(&v["scenes"][0]);
    scene_keys.sort();
    assert_eq!(
        scene_keys,
        [
            "description",
            "end",
            "events",
            "keyframe_objects",
            "keyframes",
            "objects",
            "ocr_text",
            "start",
            "transcript"
        ]
    );
    assert_eq!(
        v["summary"]["action_items"][1],
        json!({"task": "Send the agenda", "owner": null, "due": null, "due_spoken": null, "time": null})
    );
    assert_eq!(v["summary"]["open_questions"], json!([]));
    assert_eq!(v["jobs"]["AUDIO"]["COMPLETED"], 3);
    assert_eq!(
        v["gaps"],
        json!([{"start": 40.0, "end": 52.5, "cause": "chunk file missing"}])
    );
    // The full object round-trips into the document.
    let back: MeetingDoc = serde_json::from_value(v).unwrap();
    assert_eq!(back, doc());
}

#[test]
fn json_parts_keep_identity_and_only_their_key() {
    let base = [
        "duration_s",
        "language",
        "meeting_date",
        "meeting_date_source",
        "meeting_id",
        "source",
        "speakers",
        "title",
    ];
    for (part, extra) in [
        (Part::Transcript, &["segments", "gaps"][..]),
        (Part::Summary, &["summary"]),
        (Part::Scenes, &["scenes"]),
    ] {
        let v = json_of(part);
        let mut k = keys(&v);
        k.sort();
        let mut want: Vec<&str> = base.iter().chain(extra).copied().collect();
        want.sort();
        assert_eq!(k, want, "{part}");
    }
    let mut d = doc();
    d.summary = None;
    let v: Value = serde_json::from_str(&render(&d, Format::Json, Part::Summary).unwrap()).unwrap();
    assert!(v["summary"].is_null() && v.as_object().unwrap().contains_key("summary"));
}

#[test]
fn subtitles_refuse_parts_without_a_transcript() {
    for format in [Format::Srt, Format::Vtt] {
        for part in [Part::Summary, Part::Scenes] {
            let err = render(&doc(), format, part).unwrap_err();
            assert!(matches!(err, ExportError::TranscriptOnly { .. }));
            let msg = err.to_string();
            assert!(
                !msg.contains('\n') && msg.contains(format.as_str()) && msg.contains(part.as_str()),
                "{msg}"
            );
        }
        // `all` is the default part, so it must work and give the transcript.
        let all = render(&doc(), format, Part::All).unwrap();
        assert_eq!(all, render(&doc(), format, Part::Transcript).unwrap());
        assert!(all.contains("March 22nd works."));
    }
}

#[test]
fn txt_transcript_lines() {
    let txt = render(&doc(), Format::Txt, Part::Transcript).unwrap();
    assert_eq!(
        txt,
        "[00:00:01] ANNA: Good morning everyone.\n[00:01:02] BEN: March 22nd works.\n"
    );
    let mut d = doc();
    for s in &mut d.segments {
        s.speaker = None;
    }
    let txt = render(&d, Format::Txt, Part::Transcript).unwrap();
    assert_eq!(
        txt,
        "[00:00:01] Good morning everyone.\n[00:01:02] March 22nd works.\n"
    );
}

#[test]
fn txt_all_has_every_section() {
    let txt = render(&doc(), Format::Txt, Part::All).unwrap();
    for needle in [
        "Platform sync\nMeeting m-01",
        "SUMMARY",
        "- Migrate on Saturday. [00:00:52]",
        "- [ ] Add the index — Carlos, due 2025-03-12 [00:00:34]",
        "- [ ] Send the agenda\n",
        "Open questions:\n  (none)",
        "SCENES",
        "On screen: Q2 Platform Review / Platform team",
        "TRANSCRIPT",
        "[00:01:02] BEN: March 22nd works.",
    ] {
        assert!(txt.contains(needle), "missing {needle:?} in\n{txt}");
    }
}

#[test]
fn md_all_has_sections_in_order() {
    let md = render(&doc(), Format::Md, Part::All).unwrap();
    assert!(md.starts_with("# Platform sync\n\nMeeting m-01 · source: meetings/meeting_01.wav · duration 00:04:43 · language en\n"));
    let pos = |s: &str| {
        md.find(s)
            .unwrap_or_else(|| panic!("missing {s:?} in\n{md}"))
    };
    assert!(pos("## Summary") < pos("## Scenes") && pos("## Scenes") < pos("## Transcript"));
    for needle in [
        "Migration planning.",
        "### Decisions\n\n- Migrate on Saturday. [00:00:52]",
        "- [ ] Add the index — Carlos, due 2025-03-12 [00:00:34]",
        "### Open questions\n\n_None._",
        "### Scene 1 · 00:00:00–00:00:08",
        "> Q2 Platform Review\n> Platform team",
        "`k/0001.jpg`",
        "[00:00:01] **ANNA:** Good morning everyone.",
    ] {
        pos(needle);
    }
    assert!(md.ends_with("works.\n"));
}

#[test]
fn md_parts_and_missing_pieces() {
    let mut d = doc();
    d.summary = None;
    d.scenes.clear();
    d.segments.clear();
    let all = render(&d, Format::Md, Part::All).unwrap();
    assert!(all.contains("_No summary yet._") && all.contains("_No speech._"));
    assert!(
        !all.contains("## Scenes"),
        "audio meetings have no scenes section"
    );
    let scenes = render(&d, Format::Md, Part::Scenes).unwrap();
    assert!(scenes.contains("## Scenes") && !scenes.contains("## Transcript"));
    let summary = render(&doc(), Format::Md, Part::Summary).unwrap();
    assert!(summary.contains("## Summary") && !summary.contains("## Transcript"));
}

#[test]
fn names_parse() {
    for f in Format::ALL {
        assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
    }
    for p in Part::ALL {
        assert_eq!(p.as_str().parse::<Part>().unwrap(), p);
    }
    assert_eq!("SRT".parse::<Format>().unwrap(), Format::Srt);
    assert_eq!(Part::default(), Part::All);
    let err = "docx".parse::<Format>().unwrap_err().to_string();
    assert!(
        err.contains("docx") && err.contains("md, txt, srt, vtt or json"),
        "{err}"
    );
    assert!("everything".parse::<Part>().is_err());
}

#[test]
fn events_are_bracketed_lines_json_and_cues_only_when_asked() {
    let mut d = doc();
    d.events = vec![nightshift_core::AudioEvent {
        label: "music".into(),
        start: 30.0,
        end: 45.5,
        score: 0.9,
    }];
    d.scenes[0].objects = "3 people, a laptop".into();
    d.scenes[0].events = d.events.clone();
    for format in [Format::Md, Format::Txt] {
        let text = render(&d, format, Part::Transcript).unwrap();
        let music = text.find("[00:00:30] [music]").expect("a bracketed line");
        // Between the lines said before and after it.
        assert!(text.find("Good morning").unwrap() < music, "{text}");
        assert!(music < text.find("March 22nd").unwrap(), "{text}");
        let scenes = render(&d, format, Part::Scenes).unwrap();
        assert!(scenes.contains("Objects: 3 people, a laptop"), "{scenes}");
        assert!(
            scenes.contains("Heard: music 00:00:30–00:00:45"),
            "{scenes}"
        );
    }
    let v: Value =
        serde_json::from_str(&render(&d, Format::Json, Part::Transcript).unwrap()).unwrap();
    assert_eq!(v["events"][0]["label"], "music");
    assert_eq!(v["events"][0]["end"], 45.5);
    let v: Value = serde_json::from_str(&render(&d, Format::Json, Part::Scenes).unwrap()).unwrap();
    assert_eq!(v["scenes"][0]["objects"], "3 people, a laptop");
    assert_eq!(v["scenes"][0]["events"][0]["label"], "music");
    // Subtitles: speech only, unless the events are made cues.
    let srt = render(&d, Format::Srt, Part::Transcript).unwrap();
    assert!(!srt.contains("[music]"), "{srt}");
    let mut cued = d.clone();
    cued.segments = crate::with_event_cues(&d.segments, &d.events);
    let vtt = render(&cued, Format::Vtt, Part::Transcript).unwrap();
    assert!(
        vtt.contains("00:00:30.000 --> ") && vtt.contains("[music]"),
        "{vtt}"
    );
}
