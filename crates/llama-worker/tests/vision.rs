//! The local vision path (feature `vision`, on by default) through the real worker: the real
//! SmolLM2-135M text model from `../shared` paired with the tiny synthetic projector of
//! `nightshift_eval::tiny_vlm` (no vision weights exist offline). llama.cpp decodes and
//! preprocesses the images, runs the encoder and projection, and generates after them.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nightshift_eval::tiny_vlm;
use nightshift_supervisor::{BatchOptions, run_llama_batch};
use nightshift_worker_protocol::{ChatMessage, CompleteItem, LlamaLoad, LlamaResponse, Sampling};

fn smollm2() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models");
    let p = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.is_file(),
        "test model missing: {} (the shared test assets beside the repository)",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

fn worker() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nightshift-llama-worker"))
}

/// A PNG drawn by ffmpeg's test sources (`testsrc`, `mandelbrot`, …).
fn png(dir: &Path, name: &str, source: &str) -> String {
    let out = dir.join(format!("{name}.png"));
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("{source}=size=320x180"))
        .args(["-frames:v", "1"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not draw {source}");
    out.to_string_lossy().into_owned()
}

fn opts() -> BatchOptions {
    BatchOptions {
        threads: 1,
        timeout: Duration::from_secs(600),
        ..BatchOptions::default()
    }
}

fn describe(id: i64, images: Vec<String>) -> CompleteItem {
    CompleteItem {
        images,
        max_tokens: 24,
        sampling: Sampling {
            temperature: 0.0,
            ..Sampling::default()
        },
        ..CompleteItem::chat(
            id,
            vec![
                ChatMessage::new("system", "You describe what is on screen."),
                ChatMessage::new("user", "On-screen text: Q3 roadmap. Describe the slide."),
            ],
        )
    }
}

type Answers = Vec<(i64, Result<(String, u32), String>)>;

fn run(load: &LlamaLoad, items: &[CompleteItem]) -> (Answers, nightshift_supervisor::BatchReport) {
    let mut answers = Vec::new();
    let report = run_llama_batch(&worker(), load, items, &opts(), &mut |ev| {
        match ev {
            LlamaResponse::Completion {
                job_id,
                text,
                tokens_in,
                ..
            } => answers.push((job_id, Ok((text, tokens_in)))),
            LlamaResponse::JobError { job_id, message } => answers.push((job_id, Err(message))),
            LlamaResponse::Ready { .. } | LlamaResponse::Fatal { .. } => {}
        }
        ControlFlow::Continue(())
    })
    .expect("the batch runs");
    (answers, report)
}

#[cfg(feature = "vision")]
#[test]
fn images_go_through_the_projector_into_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let mmproj = dir.path().join("tiny-mmproj.gguf");
    tiny_vlm::write_mmproj(&mmproj, 576).unwrap();
    let a = png(dir.path(), "a", "testsrc");
    let b = png(dir.path(), "b", "mandelbrot");
    let load = LlamaLoad {
        n_ctx: 1024,
        mmproj_path: Some(mmproj.to_string_lossy().into_owned()),
        ..LlamaLoad::new(smollm2(), 1)
    };
    let items = [
        describe(1, vec![]),
        describe(2, vec![a.clone()]),
        describe(3, vec![a.clone(), b.clone()]),
        describe(
            4,
            vec![dir.path().join("missing.png").display().to_string()],
        ),
        describe(5, vec![b]),
    ];
    let (answers, report) = run(&load, &items);
    assert!(report.exit.success(), "{report:?}");
    assert!(report.unanswered.is_empty(), "{report:?}");
    let tokens = |id: i64| match &answers.iter().find(|(i, _)| *i == id).unwrap().1 {
        Ok((text, n)) => {
            assert!(!text.trim().is_empty(), "item {id}: empty answer");
            *n
        }
        Err(e) => panic!("item {id}: {e}"),
    };
    // Each image adds its projector tokens (plus the marker line's newline) to the prompt.
    let text_only = tokens(1);
    let one = tokens(2);
    let two = tokens(3);
    assert!(
        one >= text_only + tiny_vlm::TOKENS_PER_IMAGE
            && one <= text_only + tiny_vlm::TOKENS_PER_IMAGE + 2,
        "text {text_only}, one image {one}"
    );
    assert!(
        two >= one + tiny_vlm::TOKENS_PER_IMAGE && two <= one + tiny_vlm::TOKENS_PER_IMAGE + 2,
        "one image {one}, two images {two}"
    );
    assert_eq!(tokens(5), one, "same prompt shape, other image");
    // A missing image fails its own item only, naming the file.
    let Err(msg) = &answers.iter().find(|(i, _)| *i == 4).unwrap().1 else {
        panic!("a missing image must fail: {answers:?}")
    };
    assert!(
        msg.contains("missing.png") && msg.contains("not found"),
        "{msg}"
    );
}

#[test]
fn images_without_a_projector_or_with_a_bad_one_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let a = png(dir.path(), "a", "testsrc");
    // No projector loaded: the item with images fails alone, the text item is answered.
    let (answers, report) = run(
        &LlamaLoad {
            n_ctx: 512,
            ..LlamaLoad::new(smollm2(), 1)
        },
        &[describe(1, vec![a]), describe(2, vec![])],
    );
    assert!(report.exit.success(), "{report:?}");
    let Err(msg) = &answers[0].1 else {
        panic!("{answers:?}")
    };
    assert!(msg.contains("no vision projector"), "{msg}");
    assert!(answers[1].1.is_ok(), "{answers:?}");

    // A projector file that is not an mmproj GGUF: one fatal line naming it.
    let bad = dir.path().join("not-a-projector.gguf");
    std::fs::write(&bad, b"this is not a GGUF file").unwrap();
    let (_, report) = run(
        &LlamaLoad {
            n_ctx: 512,
            mmproj_path: Some(bad.to_string_lossy().into_owned()),
            ..LlamaLoad::new(smollm2(), 1)
        },
        &[describe(1, vec![])],
    );
    let fatal = report.fatal.expect("a fatal answer");
    assert!(
        fatal.contains("cannot load vision projector") && fatal.contains("not-a-projector.gguf"),
        "{fatal}"
    );
    // The projector of another text model (wrong width) is refused the same way.
    let other = dir.path().join("wide-mmproj.gguf");
    tiny_vlm::write_mmproj(&other, 2048).unwrap();
    let (_, report) = run(
        &LlamaLoad {
            n_ctx: 512,
            mmproj_path: Some(other.to_string_lossy().into_owned()),
            ..LlamaLoad::new(smollm2(), 1)
        },
        &[describe(1, vec![])],
    );
    let fatal = report.fatal.expect("a fatal answer");
    assert!(fatal.contains("wide-mmproj.gguf"), "{fatal}");
}
