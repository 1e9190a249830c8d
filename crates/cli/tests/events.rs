//! Audio events and objects end to end: `add` queues the events job, the scenes job queues the
//! objects job, `show` carries both (scenes JSON, `--part scenes`, bracketed lines, `--events`
//! cues), and a second `add` of the same content after `rm` takes both from the cache.
//! Needs `scripts/fetch-events-models.sh` (YAMNet) and `../shared/models` (the detector).

mod common;

use common::{Env, corpus, stderr};

fn job<'a>(status: &'a serde_json::Value, model_key: &str) -> &'a serde_json::Value {
    status["meetings"][0]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["model_key"] == model_key)
        .unwrap_or_else(|| panic!("no {model_key} job: {status}"))
}

#[test]
fn a_video_gets_events_and_objects_and_show_prints_them() {
    let env = Env::new();
    let id = env.add(&corpus("video/video_01_slides.mp4"));
    // Objects are stage 1: after the audio, like the scene descriptions.
    env.run_audio_until_idle();
    let out = env.run(&["run", "--until-idle", "--only", "visual"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = env.json(&["status", &id, "--json"]);
    for key in ["yamnet", "detector"] {
        assert_eq!(job(&status, key)["status"], "COMPLETED", "{status}");
    }
    let doc = env.json(&["show", &id, "--format", "json", "--part", "scenes"]);
    let scenes = doc["scenes"].as_array().unwrap();
    assert_eq!(scenes.len(), 7, "{doc}");
    for s in scenes {
        let frames = s["keyframes"].as_array().unwrap().len();
        assert_eq!(
            s["keyframe_objects"].as_array().unwrap().len(),
            frames,
            "{s}"
        );
        assert!(s["objects"].is_string() && s["events"].is_array(), "{s}");
        // Slides: nobody on them.
        assert!(!s["objects"].as_str().unwrap().contains("person"), "{s}");
        assert!(!s["objects"].as_str().unwrap().contains("people"), "{s}");
    }
    let out = env.run(&["show", &id, "--part", "scenes", "--format", "txt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(common::stdout(&out).contains("Scene 7"));
    // The same content again after `rm`: both results come from the cache.
    assert!(env.run(&["rm", &id]).status.success());
    let again = env.add(&corpus("video/video_01_slides.mp4"));
    env.run_audio_until_idle();
    let out = env.run(&["run", "--until-idle", "--only", "visual"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = env.json(&["status", &again, "--json"]);
    for key in ["yamnet", "detector"] {
        let j = job(&status, key);
        assert_eq!(j["status"], "COMPLETED", "{status}");
        assert_eq!(j["metrics"]["cached"], true, "{j}");
    }
}

#[test]
fn music_before_the_talk_is_a_bracketed_line_and_a_cue_only_when_asked() {
    let env = Env::new();
    // 12 s of a chord melody, then a corpus speaker.
    let mixed = env.dir.path().join("music_then_talk.wav");
    let music = env.dir.path().join("music.wav");
    write_wav(&music, &chords(12.0));
    let ok = std::process::Command::new("sox")
        .arg(&music)
        .arg(corpus("real_speech/jfk_inaugural_1961.wav"))
        .arg(&mixed)
        .status()
        .unwrap()
        .success();
    assert!(ok, "sox joined music and speech");
    let id = env.add(&mixed);
    env.run_audio_until_idle();
    let doc = env.json(&["show", &id, "--format", "json", "--part", "transcript"]);
    let events = doc["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events: {doc}"));
    let music = events
        .iter()
        .find(|e| e["label"] == "music")
        .unwrap_or_else(|| panic!("no music: {doc}"));
    assert!(music["start"].as_f64().unwrap() < 1.5, "{music}");
    assert!(
        (music["end"].as_f64().unwrap() - 12.0).abs() < 1.5,
        "{music}"
    );
    let txt = common::stdout(&env.run(&["show", &id, "--format", "txt", "--part", "transcript"]));
    let music_line = txt
        .find("[00:00:00] [music]")
        .unwrap_or_else(|| panic!("{txt}"));
    assert!(
        music_line < txt.find("ask not").expect("the speech"),
        "{txt}"
    );
    let srt = common::stdout(&env.run(&["show", &id, "--format", "srt"]));
    assert!(!srt.contains("[music]"), "{srt}");
    let srt = common::stdout(&env.run(&["show", &id, "--format", "srt", "--events"]));
    assert!(srt.contains("[music]"), "{srt}");
}

/// Chords with five harmonics and a bass, one every 0.33 s, decaying like a keyboard.
fn chords(secs: f32) -> Vec<f32> {
    use std::f32::consts::TAU;
    let notes = [261.6, 329.6, 392.0, 523.3, 349.2, 440.0, 523.3, 392.0];
    let beat = (16_000.0 * 0.33) as usize;
    (0..(secs * 16_000.0) as usize)
        .map(|i| {
            let f = notes[(i / beat) % notes.len()];
            let t = (i % beat) as f32 / 16_000.0;
            let tone: f32 = (1..6)
                .map(|h| (TAU * f * h as f32 * t).sin() / h as f32)
                .sum();
            0.2 * (tone + 0.5 * (TAU * f / 4.0 * t).sin()) * (-4.0 * t).exp()
        })
        .collect()
}

/// 16-bit mono 16 kHz WAV.
fn write_wav(path: &std::path::Path, samples: &[f32]) {
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())
        .collect();
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&32_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}
