//! Summary backends end to end: a real llama.cpp `llama-server` for the OpenAI-compatible
//! backend (with a context small enough that the reduce must go hierarchical), a server that
//! follows Ollama's documented API for the Ollama backend, and a server that is down.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, corpus, shared, stderr};
use nightshift_llm_http::fake::FakeServer;
use serde_json::{Value, json};

/// A real `llama-server` on 127.0.0.1, stopped when dropped.
struct LlamaServer {
    child: Child,
    url: String,
}

impl LlamaServer {
    fn start() -> LlamaServer {
        let bin = shared().join("tools/bin/llama-server");
        assert!(bin.is_file(), "{} is missing", bin.display());
        let port = free_port();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("-m")
            .arg(shared().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"))
            // One slot with the whole context: the Foreman sends one request at a time.
            .args(["-c", "8192", "-np", "1", "-t", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start llama-server");
        let mut server = LlamaServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let agent = ureq_agent();
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("llama-server exited early: {status}");
            }
            if agent.get(&format!("{}/health", self.url)).call().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("llama-server not ready after 60 s");
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ureq_agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(1))
        .build()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(env: &Env, text: &str) {
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(env.home().join("config.toml"), text).unwrap();
}

fn summary_jobs(env: &Env, id: &str) -> Vec<Value> {
    let status = env.json(&["status", id, "--json"]);
    status["meetings"][0]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["task_type"] == "SUMMARY")
        .cloned()
        .collect()
}

fn assert_complete_summary(env: &Env, id: &str) -> Value {
    let doc = env.json(&["show", id, "--part", "summary", "--format", "json"]);
    let s = doc["summary"].clone();
    assert!(
        !s["overview"].as_str().unwrap_or("").trim().is_empty(),
        "{doc}"
    );
    for key in ["decisions", "action_items", "open_questions"] {
        assert!(s[key].is_array(), "{key} missing: {s}");
    }
    for a in s["action_items"].as_array().unwrap() {
        assert!(
            a["task"].is_string() && a.get("owner").is_some() && a.get("due").is_some(),
            "{a}"
        );
    }
    s
}

#[test]
fn openai_backend_against_a_real_llama_server_with_a_hierarchical_reduce() {
    let server = LlamaServer::start();
    let env = Env::new();
    // A small context for planning makes every map window and reduce group small, so a
    // five-minute meeting needs several map steps and reduce groups.
    write_config(
        &env,
        &format!(
            "[summary]\nbackend = \"openai\"\nurl = \"{}/v1\"\nmodel = \"smollm2\"\nn_ctx = 2304\n",
            server.url
        ),
    );
    let id = env.add(&corpus("meetings/meeting_02.wav"));
    let out = env.run(&["run", "--until-idle"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_complete_summary(&env, &id);
    let jobs = summary_jobs(&env, &id);
    assert!(jobs.iter().all(|j| j["status"] == "COMPLETED"), "{jobs:#?}");
    let count = |step: &str| jobs.iter().filter(|j| j["step"] == step).count();
    assert!(count("map") >= 2, "several map windows: {jobs:#?}");
    assert!(
        count("group") >= 2,
        "the reduce split into groups: {jobs:#?}"
    );
    assert!(
        count("reduce") >= 2,
        "a first and a final reduce: {jobs:#?}"
    );
    // The server really did the work: its token counts are stored per step.
    for j in jobs.iter().filter(|j| j["step"] == "map") {
        assert!(j["metrics"]["tokens_in"].as_u64().unwrap_or(0) > 50, "{j}");
        assert!(j["metrics"]["tokens_out"].as_u64().unwrap_or(0) > 0, "{j}");
    }
}

/// The smallest document a JSON schema accepts: what Ollama's `format` guarantees.
fn instance_of(schema: &Value) -> Value {
    match schema["type"].as_str() {
        Some("object") => {
            let mut o = serde_json::Map::new();
            if let Some(props) = schema["properties"].as_object() {
                for (k, v) in props {
                    o.insert(k.clone(), instance_of(v));
                }
            }
            Value::Object(o)
        }
        Some("array") => json!([instance_of(&schema["items"])]),
        Some("integer") | Some("number") => json!(12),
        Some("null") => Value::Null,
        Some("boolean") => json!(false),
        _ => match schema["type"].as_array() {
            // ["string", "null"]: a string.
            Some(_) => json!("Friday"),
            None => json!("We agreed to ship on Friday."),
        },
    }
}

#[test]
fn ollama_backend_uses_format_and_unloads_after_the_batch() {
    let server = FakeServer::start(Box::new(|req| match req.path.as_str() {
        "/api/chat" => {
            let content = instance_of(&req.json["format"]).to_string();
            (
                200,
                json!({"model": req.json["model"], "message": {"role": "assistant", "content": content},
                       "done": true, "done_reason": "stop", "prompt_eval_count": 100, "eval_count": 40})
                .to_string(),
            )
        }
        "/api/generate" => (200, json!({"done": true, "done_reason": "unload"}).to_string()),
        "/api/ps" => (200, json!({"models": []}).to_string()),
        _ => (404, json!({"error": "not found"}).to_string()),
    }))
    .unwrap();
    let env = Env::new();
    write_config(
        &env,
        &format!(
            "default_profile = \"home\"\n[profiles.home.summary]\nbackend = \"ollama\"\nurl = \"{}\"\nmodel = \"llama3.1:8b\"\n",
            server.url()
        ),
    );
    let clip = common::joined_clips(env.dir.path(), &common::THREE_CLIPS);
    let id = env.add(&clip);
    env.run_until_idle();
    let s = assert_complete_summary(&env, &id);
    // The server's (schema-shaped) answer is stored as the step's result…
    let jobs = summary_jobs(&env, &id);
    assert_eq!(
        jobs.iter()
            .map(|j| j["step"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["plan", "summarize"],
        "a transcript that fits one prompt is summarised in one step: {jobs:#?}"
    );
    let status = env.json(&["status", &id, "--json"]);
    assert_eq!(status["meetings"][0]["state"], "done", "{status}");
    // …but the transcript never says it, so the notes leave it out.
    assert_eq!(s["decisions"], json!([]), "{s}");
    assert_eq!(s["action_items"], json!([]), "{s}");
    let seen = server.requests();
    let chats: Vec<_> = seen.iter().filter(|r| r.path == "/api/chat").collect();
    assert_eq!(chats.len(), 1, "one step: {seen:#?}");
    let prompt = chats[0].json["messages"].to_string();
    assert!(prompt.contains("Transcript:"), "{prompt}");
    for c in &chats {
        assert_eq!(c.json["model"], "llama3.1:8b");
        assert_eq!(c.json["stream"], false);
        assert!(
            c.json["format"]["properties"].is_object(),
            "schema sent as format"
        );
        // Sized to a 40-word transcript, not to the largest summary.
        let num_predict = c.json["options"]["num_predict"].as_u64().unwrap();
        assert!(num_predict > 0 && num_predict < 1200, "{num_predict}");
        assert_eq!(c.json["options"]["num_ctx"], 8192);
    }
    // After each batch: keep_alive 0, then /api/ps to confirm.
    let unload = seen
        .iter()
        .position(|r| r.path == "/api/generate" && r.json["keep_alive"] == 0)
        .expect("the model was unloaded");
    assert!(seen[unload + 1..].iter().any(|r| r.path == "/api/ps"));
    let last_chat = seen.iter().rposition(|r| r.path == "/api/chat").unwrap();
    assert!(
        seen[last_chat..].iter().any(|r| r.path == "/api/generate"),
        "unloaded after the last batch"
    );
}

#[test]
fn a_server_that_is_down_fails_the_summary_steps_with_a_clear_error_and_keeps_the_transcript() {
    let env = Env::new();
    let port = free_port();
    write_config(
        &env,
        &format!(
            "[summary]\nbackend = \"openai\"\nurl = \"http://127.0.0.1:{port}\"\nretries = 0\n"
        ),
    );
    let clip = common::joined_clips(env.dir.path(), &common::THREE_CLIPS);
    let id = env.add(&clip);
    let out = env.run(&["run", "--until-idle"]);
    assert!(
        out.status.success(),
        "drained even though steps failed: {}",
        stderr(&out)
    );
    let jobs = summary_jobs(&env, &id);
    let failed: Vec<_> = jobs.iter().filter(|j| j["status"] == "FAILED").collect();
    assert!(!failed.is_empty(), "{jobs:#?}");
    for j in &failed {
        let e = j["last_error"].as_str().unwrap_or("");
        assert!(
            e.contains("cannot reach") && e.contains(&port.to_string()),
            "{e}"
        );
    }
    let doc = env.json(&["show", &id, "--format", "json"]);
    assert!(
        !doc["segments"].as_array().unwrap().is_empty(),
        "transcript kept: {doc}"
    );
}

#[test]
fn an_unknown_profile_or_backend_is_one_clear_error() {
    let env = Env::new();
    let out = env.run(&["run", "--until-idle", "--profile", "staging"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("unknown profile \"staging\""), "{err}");
    write_config(&env, "[summary]\nbackend = \"vllm\"\n");
    let out = env.run(&["run", "--until-idle"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("config.toml") && err.contains("vllm"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
