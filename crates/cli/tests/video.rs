//! Video meetings end to end: scenes with keyframes, on-screen text and the words said during
//! each scene; a video without audio; nothing recomputed on a second run.

mod common;

use common::{Env, corpus, stderr};
use serde_json::Value;

fn scenes(env: &Env, id: &str) -> Vec<Value> {
    let doc = env.json(&["show", id, "--part", "scenes", "--format", "json"]);
    doc["scenes"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_slide_video_gets_scenes_fused_with_its_transcript() {
    let env = Env::new();
    let id = env.add(&corpus("video/video_01_slides.mp4"));
    let out = env.run(&["run", "--until-idle", "--only", "visual"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = scenes(&env, &id);
    assert_eq!(s.len(), 7, "{s:#?}");
    for scene in &s {
        let keys = scene["keyframes"].as_array().unwrap();
        assert!((1..=8).contains(&keys.len()), "{scene}");
        for k in keys {
            assert!(std::path::Path::new(k.as_str().unwrap()).is_file(), "{k}");
        }
        assert!(scene["end"].as_f64() > scene["start"].as_f64());
        assert!(!scene["ocr_text"].as_str().unwrap().is_empty(), "{scene}");
    }
    assert!(
        s[0]["ocr_text"]
            .as_str()
            .unwrap()
            .contains("Platform Review"),
        "{}",
        s[0]
    );
    // With the audio done, each scene carries what was said during it.
    env.run_audio_until_idle();
    let s = scenes(&env, &id);
    let spoken = s
        .iter()
        .filter(|sc| !sc["transcript"].as_str().unwrap().is_empty())
        .count();
    assert!(spoken >= 5, "{s:#?}");
    let md = env.run(&["show", &id, "--part", "scenes", "--format", "md"]);
    assert!(String::from_utf8_lossy(&md.stdout).contains("Platform Review"));
    // Objects on the keyframes are stage 1 (after the audio): they run now, and every scene
    // says what its keyframes show (a slide deck: nobody).
    let out = env.run(&["run", "--until-idle", "--only", "visual"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for scene in &scenes(&env, &id) {
        let per_keyframe = scene["keyframe_objects"].as_array().unwrap();
        assert_eq!(
            per_keyframe.len(),
            scene["keyframes"].as_array().unwrap().len()
        );
        let objects = scene["objects"].as_str().unwrap();
        assert!(
            !objects.contains("people") && !objects.contains("person"),
            "{scene}"
        );
    }
    // A second run has nothing to do: no job is claimed again.
    let before = env.json(&["status", &id, "--json"]);
    let out = env.run(&["run", "--until-idle", "--only", "visual"]);
    assert!(out.status.success());
    let after = env.json(&["status", &id, "--json"]);
    let attempts = |v: &Value| -> Vec<Value> {
        v["meetings"][0]["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["attempts"].clone())
            .collect()
    };
    assert_eq!(attempts(&before), attempts(&after), "nothing recomputed");
    // The stored per-stage metrics, as `bench stages` reports them.
    let bench = env.json(&["bench", "stages", "--json"]);
    let stage = |name: &str| -> Value {
        bench["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}: {bench}"))
    };
    assert!(
        stage("VISUAL scenes")["frames_per_s"].as_f64().unwrap() > 100.0,
        "{bench}"
    );
    assert!(
        stage("VISUAL scenes")["peak_rss_bytes"].as_u64().unwrap() > 0,
        "{bench}"
    );
    assert!(
        stage("AUDIO")["x_real_time"].as_f64().unwrap() > 1.0,
        "{bench}"
    );
}

#[test]
fn a_video_without_audio_gets_visual_notes_and_an_empty_transcript() {
    let env = Env::new();
    let id = env.add(&corpus("bad_inputs/video_without_audio.mp4"));
    let out = env.run(&["run", "--until-idle"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = env.json(&["show", &id, "--format", "json"]);
    assert_eq!(doc["scenes"].as_array().unwrap().len(), 2, "{doc}");
    assert!(doc["segments"].as_array().unwrap().is_empty(), "{doc}");
}

#[test]
fn a_vision_model_describes_each_scene_from_keyframes_text_and_speech() {
    use nightshift_llm_http::fake::FakeServer;
    let server = FakeServer::start(Box::new(|req| {
        let prompt = req.json["messages"][1]["content"][0]["text"].as_str().unwrap_or("");
        let scene = prompt.split_whitespace().nth(1).unwrap_or("?").to_string();
        let body = serde_json::json!({
            "choices": [{"message": {"role": "assistant", "content": format!("Scene {scene}: a slide.")}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 6}
        });
        (200, body.to_string())
    }))
    .unwrap();
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(
        env.home().join("config.toml"),
        format!(
            "[profiles.dev.vision]\nbackend = \"openai\"\nurl = \"{}\"\nmodel = \"test-vlm\"\n",
            server.url()
        ),
    )
    .unwrap();
    let id = env.add(&corpus("video/video_01_slides.mp4"));
    // Descriptions need the transcript: audio first, then the visual work.
    for only in ["audio", "visual", "visual"] {
        let out = env.run(&["run", "--until-idle", "--only", only]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let s = scenes(&env, &id);
    assert_eq!(s.len(), 7);
    for (i, scene) in s.iter().enumerate() {
        assert_eq!(
            scene["description"],
            format!("Scene {}: a slide.", i + 1),
            "{scene}"
        );
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 7, "one request per scene");
    let first = &seen[0].json;
    assert_eq!(first["model"], "test-vlm");
    let parts = first["messages"][1]["content"].as_array().unwrap();
    let text = parts[0]["text"].as_str().unwrap();
    assert!(
        text.contains("Platform Review"),
        "OCR text fused in: {text}"
    );
    assert!(text.to_lowercase().contains("platform review"), "{text}");
    let spoken = text.split("Spoken during this scene:").nth(1).unwrap_or("");
    assert!(
        spoken.split_whitespace().count() > 3,
        "transcript fused in: {text}"
    );
    let url = parts[1]["image_url"]["url"].as_str().unwrap();
    assert!(
        url.starts_with("data:image/png;base64,iVBORw0KGgo"),
        "a real PNG keyframe"
    );
}

#[test]
fn a_local_vision_model_describes_each_scene_in_one_worker_batch() {
    // The real SmolLM2-135M text model with a tiny synthetic projector (no vision weights
    // exist offline): the images really go through llama.cpp's encoder into the prompt.
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    let mmproj = env.home().join("tiny-mmproj.gguf");
    nightshift_eval::tiny_vlm::write_mmproj(&mmproj, 576).unwrap();
    let model = common::shared().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    std::fs::write(
        env.home().join("config.toml"),
        format!(
            "[profiles.dev.vision]\nbackend = \"local\"\nmodel = \"{}\"\nmmproj = \"{}\"\n\
             n_ctx = 2048\nmax_tokens = 24\nmax_images = 2\n",
            model.display(),
            mmproj.display()
        ),
    )
    .unwrap();
    // The planner pairs the projector with its text model: that is the `vlm` cost the
    // Foreman leases for the describe batch.
    let plan = env.json(&[
        "plan",
        &model.display().to_string(),
        &mmproj.display().to_string(),
        "--ctx",
        "2048",
        "--json",
    ]);
    assert_eq!(plan["models"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["models"][0]["kind"], "vlm", "{plan}");
    let id = env.add(&corpus("video/video_01_slides.mp4"));
    let silent = env.add(&corpus("bad_inputs/video_without_audio.mp4"));
    env.run_audio_until_idle();
    let out = env
        .cmd()
        .env("NIGHTSHIFT_LOG", "info")
        .args(["run", "--until-idle", "--only", "visual"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Both videos' scenes in one worker: the vision model is loaded once.
    let loads = stderr(&out).matches("vision model").count();
    assert_eq!(loads, 1, "{}", stderr(&out));
    let s = scenes(&env, &id);
    assert_eq!(s.len(), 7);
    for scene in s.iter().chain(&scenes(&env, &silent)) {
        let d = scene["description"].as_str().unwrap_or("");
        assert!(!d.trim().is_empty(), "every scene described: {scene}");
    }
    let bench = env.json(&["bench", "stages", "--json"]);
    let describe = bench["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "VISUAL describe")
        .cloned()
        .unwrap_or_else(|| panic!("no describe stage: {bench}"));
    assert_eq!(describe["jobs"], 2, "{describe}");
    // Two keyframes per scene, each 16 projector tokens, besides the text.
    let tokens_in = describe["tokens_in"].as_u64().unwrap();
    assert!(
        tokens_in >= 7 * 2 * u64::from(nightshift_eval::tiny_vlm::TOKENS_PER_IMAGE),
        "{describe}"
    );
    assert!(
        describe["peak_rss_bytes"].as_u64().unwrap() > 50 << 20,
        "{describe}"
    );
    // The worker's memory is stored with the other worker stages too.
    let audio = bench["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "AUDIO")
        .cloned()
        .unwrap();
    assert!(audio["peak_rss_bytes"].as_u64().unwrap() > 0, "{audio}");
}

#[test]
fn a_local_vision_model_without_its_projector_is_one_clear_error() {
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    let model = common::shared().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    std::fs::write(
        env.home().join("config.toml"),
        format!(
            "[profiles.dev.vision]\nbackend = \"local\"\nmodel = \"{}\"\n",
            model.display()
        ),
    )
    .unwrap();
    let id = env.add(&corpus("bad_inputs/video_without_audio.mp4"));
    let out = env.run(&["run", "--until-idle"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("vision.mmproj"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Nothing lost: the scenes are stored, the describe job waits for a fixed config.
    assert_eq!(scenes(&env, &id).len(), 2);
}
