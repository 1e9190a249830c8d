//! `nightshift plan`: the JSON contract on the shared models, and one-line errors.

mod common;

use common::{Env, stderr};

#[test]
fn plan_json_for_whisper_and_smollm2() {
    let env = Env::new();
    let doc = env.json(&[
        "plan",
        "tiny.en",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "--budget",
        "6GiB",
        "--json",
    ]);
    assert_eq!(doc["budget_bytes"], 6u64 << 30);
    let models = doc["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for m in models {
        let field = |k: &str| {
            m[k].as_u64()
                .unwrap_or_else(|| panic!("{k} missing in {m}"))
        };
        let total = field("total_bytes");
        assert_eq!(
            total,
            field("weights_bytes")
                + field("kv_cache_bytes")
                + field("compute_bytes")
                + field("overhead_bytes")
        );
        assert!(total > 0);
    }
    assert_eq!(models[0]["kind"], "whisper");
    assert_eq!(models[1]["kind"], "llm");
    // SmolLM2's Q4_1 weights: 92.10 MiB as llama.cpp reports them.
    let w = models[1]["weights_bytes"].as_u64().unwrap() as f64 / 1048576.0;
    assert!((w - 92.10).abs() < 0.1, "{w}");
    assert_eq!(models[1]["n_ctx"], 4096, "default context");
    let v = &doc["verdict"];
    assert_eq!(v["fits_together"], true);
    assert_eq!(v["must_run_alone"], serde_json::json!([]));
    assert_eq!(
        v["max_ctx_that_fits"], 8192,
        "capped at SmolLM2's training context"
    );
}

#[test]
fn a_tiny_budget_makes_each_model_too_large() {
    let env = Env::new();
    let doc = env.json(&[
        "plan",
        "tiny.en",
        "smollm2-135m",
        "--budget",
        "500MiB",
        "--json",
    ]);
    assert_eq!(doc["verdict"]["fits_together"], false);
    assert_eq!(
        doc["verdict"]["too_large"],
        serde_json::json!(["tiny.en", "smollm2-135m"])
    );
    // On the CPU there is no per-process CUDA overhead (400 MiB each): the pair fits in 600 MiB.
    let doc = env.json(&[
        "plan",
        "tiny.en",
        "smollm2-135m",
        "--budget",
        "600MiB",
        "--n-gpu-layers",
        "0",
        "--json",
    ]);
    assert_eq!(doc["models"][0]["overhead_bytes"], 0);
    assert_eq!(doc["verdict"]["fits_together"], true);
}

#[test]
fn table_says_when_a_quantized_v_cache_falls_back() {
    let env = Env::new();
    let out = env.run(&[
        "plan",
        "smollm2-135m",
        "--kv-type",
        "q8_0",
        "--flash-attn",
        "off",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("q8_0/f16"), "{text}");
    assert!(text.contains("V is planned as f16"), "{text}");
}

#[test]
fn garbage_file_is_one_error_line() {
    let env = Env::new();
    let bad = env.dir.path().join("garbage.gguf");
    std::fs::write(
        &bad,
        b"GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\x7f",
    )
    .unwrap();
    let out = env.run(&["plan", bad.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("error: {}: truncated", bad.display())),
        "{err}"
    );
    let text = env.dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let out = env.run(&["plan", text.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a GGUF or whisper ggml model"), "{err}");
}
