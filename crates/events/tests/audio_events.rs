//! Audio events on real corpus audio with the real YAMNet weights (`scripts/fetch-events-models.sh`):
//! synthetic events mixed into a corpus meeting at known times are found as spans with the
//! right labels (F1 ≥ 0.8 at 1 s tolerance), and the corpus meetings' clean speech yields no
//! event span at all. Speed is printed, never asserted (`bench` figures go in the issue).

mod common;

use std::f32::consts::TAU;

use common::{Lcg, decode_16k, yamnet};
use nightshift_events::{EventSpan, Tagger, resolve_groups, spans::spans};

const SR: f32 = 16_000.0;

/// Chords with five harmonics and a bass, one every 0.33 s, decaying like a keyboard.
fn chords(secs: f32) -> Vec<f32> {
    let notes = [
        261.6, 329.6, 392.0, 523.3, 349.2, 440.0, 523.3, 392.0, 293.7, 349.2, 440.0, 587.3,
    ];
    let beat = (SR * 0.33) as usize;
    (0..(secs * SR) as usize)
        .map(|i| {
            let f = notes[(i / beat) % notes.len()];
            let t = (i % beat) as f32 / SR;
            let tone: f32 = (1..6)
                .map(|h| (TAU * f * h as f32 * t).sin() / h as f32)
                .sum();
            let bass = 0.5 * (TAU * f / 4.0 * t).sin();
            0.2 * (tone + bass) * (-4.0 * t).exp()
        })
        .collect()
}

/// A telephone ringing: 440 + 480 Hz warbled at 20 Hz, 2 s on, 1 s off.
fn ringing(secs: f32) -> Vec<f32> {
    (0..(secs * SR) as usize)
        .map(|i| {
            let t = i as f32 / SR;
            if t % 3.0 >= 2.0 {
                return 0.0;
            }
            let warble = 0.5 + 0.5 * (TAU * 20.0 * t).sin();
            0.15 * ((TAU * 440.0 * t).sin() + (TAU * 480.0 * t).sin()) * warble
        })
        .collect()
}

/// A smoke alarm: 3.1 kHz beeps, 0.5 s on, 0.5 s off.
fn alarm(secs: f32) -> Vec<f32> {
    (0..(secs * SR) as usize)
        .map(|i| {
            let t = i as f32 / SR;
            if t % 1.0 >= 0.5 {
                0.0
            } else {
                0.3 * (TAU * 3100.0 * t).sin()
            }
        })
        .collect()
}

fn mix_in(base: &mut [f32], at_s: f32, sound: &[f32]) {
    let at = (at_s * SR) as usize;
    for (b, s) in base[at..].iter_mut().zip(sound) {
        *b += s;
    }
}

fn tag(samples: &[f32]) -> Vec<EventSpan> {
    let model = yamnet();
    let groups = resolve_groups(model).unwrap();
    let mut tagger = Tagger::new(model, 2);
    // In pieces, as the pipeline streams a decode.
    for piece in samples.chunks(16_000 * 7 + 123) {
        tagger.push(piece).unwrap();
    }
    spans(&tagger.finish().unwrap(), &groups)
}

/// Predicted spans matched one to one with truth spans of the same label whose start and end
/// are both within `tol` seconds.
fn f1(truth: &[(&str, f64, f64)], found: &[EventSpan], tol: f64) -> f64 {
    let mut used = vec![false; found.len()];
    let mut tp = 0;
    for (label, start, end) in truth {
        if let Some(k) = (0..found.len()).find(|&k| {
            !used[k]
                && found[k].label == *label
                && (found[k].start - start).abs() <= tol
                && (found[k].end - end).abs() <= tol
        }) {
            used[k] = true;
            tp += 1;
        }
    }
    2.0 * tp as f64 / (truth.len() + found.len()).max(1) as f64
}

#[test]
fn events_mixed_into_a_meeting_are_found_at_their_times() {
    let mut audio = decode_16k(&common::corpus("meetings/meeting_01.wav"));
    // meeting_01 breaks from 88.9 s to 213.9 s (room tone, then fan noise from 213.9 s).
    let planted: Vec<(&str, f32, Vec<f32>)> = vec![
        ("music", 95.0, chords(12.0)),
        ("phone ringing", 120.0, ringing(5.0)),
        ("alarm", 140.0, alarm(4.0)),
        ("music", 160.0, chords(20.0)),
        ("phone ringing", 195.0, ringing(8.0)),
        ("music", 216.0, chords(8.0)), // over the fan noise
    ];
    let mut truth = Vec::new();
    for (label, at, sound) in &planted {
        mix_in(&mut audio, *at, sound);
        // An alarm's last half second is its pause.
        let audible = match *label {
            "alarm" => sound.len() as f32 / SR - 0.5,
            _ => sound.len() as f32 / SR,
        };
        truth.push((*label, *at as f64, (*at + audible) as f64));
    }
    let started = std::time::Instant::now();
    let found = tag(&audio);
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{:.0} s of audio in {secs:.2} s on 2 threads: {:.0}× real time (machine shared)",
        audio.len() as f32 / SR,
        audio.len() as f64 / 16_000.0 / secs
    );
    for s in &found {
        eprintln!(
            "found {:>14} {:7.2}–{:7.2} ({:.2})",
            s.label, s.start, s.end, s.score
        );
    }
    let score = f1(&truth, &found, 1.0);
    assert!(score >= 0.8, "F1 {score:.2} at 1 s: truth {truth:?}");
}

#[test]
fn clean_speech_of_the_corpus_meetings_has_no_events() {
    for name in ["meeting_01.wav", "meeting_02.wav", "meeting_03.mp3"] {
        let audio = decode_16k(&common::corpus(&format!("meetings/{name}")));
        let rttm = std::fs::read_to_string(common::corpus(&format!(
            "meetings/{}.rttm",
            name.split('.').next().unwrap()
        )))
        .unwrap();
        let turns: Vec<(f64, f64)> = rttm
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let start: f64 = f.get(3)?.parse().ok()?;
                let dur: f64 = f.get(4)?.parse().ok()?;
                Some((start, start + dur))
            })
            .collect();
        assert!(turns.len() > 10, "{name}: RTTM turns read");
        let found = tag(&audio);
        let in_speech: Vec<&EventSpan> = found
            .iter()
            .filter(|s| turns.iter().any(|&(a, b)| s.start < b && a < s.end))
            .collect();
        assert!(
            in_speech.is_empty(),
            "{name}: events inside speech: {in_speech:?}"
        );
    }
}

#[test]
fn a_clip_shorter_than_a_patch_is_tagged_as_one_padded_patch() {
    let model = yamnet();
    let mut tagger = Tagger::new(model, 1);
    tagger.push(&chords(0.5)).unwrap();
    let patches = tagger.finish().unwrap();
    assert_eq!(patches.len(), 1);
    let mut lcg = Lcg(7);
    let noise: Vec<f32> = (0..8000).map(|_| lcg.next() * 0.01).collect();
    let mut tagger = Tagger::new(model, 1);
    tagger.push(&noise).unwrap();
    let patches = tagger.finish().unwrap();
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].probs.len(),
        521,
        "-45 dBFS noise is quiet, not silent: it is run"
    );
    // Digital silence is never run: no class scores, so no event.
    let mut tagger = Tagger::new(model, 1);
    tagger.push(&[0.0; 32_000]).unwrap();
    let patches = tagger.finish().unwrap();
    assert_eq!(patches.len(), 3);
    assert!(patches.iter().all(|p| p.probs.is_empty()));
}
