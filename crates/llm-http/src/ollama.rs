//! Ollama's native API (docs/api.md): `/api/chat` with a `format` schema, `keep_alive: 0` to
//! unload, `/api/ps` to see what is loaded.

use nightshift_worker_protocol::FinishReason;
use serde_json::{Value, json};

use crate::{ChatReply, ChatRequest, Endpoint, HttpError, count, invalid};

pub const CHAT_PATH: &str = "/api/chat";
pub const GENERATE_PATH: &str = "/api/generate";
pub const PS_PATH: &str = "/api/ps";

/// How long Ollama keeps the model after a request. Long enough for the next item of the
/// batch; the Foreman unloads explicitly (`keep_alive: 0`) when the batch is over.
const KEEP_ALIVE_IN_BATCH: &str = "5m";

pub fn body(ep: &Endpoint, req: &ChatRequest<'_>) -> Value {
    let s = req.sampling;
    let mut options = json!({
        "temperature": s.temperature,
        "top_p": s.top_p,
        "top_k": s.top_k,
        "repeat_penalty": s.repeat_penalty,
        "repeat_last_n": s.repeat_last_n,
        "seed": s.seed,
        "num_predict": req.max_tokens,
    });
    if let Some(n) = ep.n_ctx {
        options["num_ctx"] = json!(n);
    }
    let mut body = json!({
        "model": ep.model,
        "messages": messages(req),
        "stream": false,
        "keep_alive": KEEP_ALIVE_IN_BATCH,
        "options": options,
    });
    if let Some(schema) = req.json_schema {
        body["format"] = schema.clone();
    }
    body
}

/// Chat messages; images go base64-encoded in the last user message's `images`.
fn messages(req: &ChatRequest<'_>) -> Value {
    crate::messages_json(req, |m| {
        let images: Vec<String> = req.images.iter().map(|img| crate::base64(img)).collect();
        json!({"role": m.role, "content": m.content, "images": images})
    })
}

pub fn unload_body(ep: &Endpoint) -> Value {
    json!({"model": ep.model, "keep_alive": 0})
}

pub fn parse(url: &str, v: &Value) -> Result<ChatReply, HttpError> {
    let text = v["message"]["content"]
        .as_str()
        .ok_or_else(|| invalid(url, "message.content is not a string"))?;
    let finish_reason = match v["done_reason"].as_str() {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    };
    // Durations are nanoseconds.
    let per_s = |n: &Value, d: &Value| match (n.as_f64(), d.as_f64()) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / (d / 1e9)),
        _ => None,
    };
    Ok(ChatReply {
        text: text.to_string(),
        tokens_in: count(&v["prompt_eval_count"]),
        tokens_out: count(&v["eval_count"]),
        finish_reason,
        wall_s: 0.0,
        gen_tokens_per_s: per_s(&v["eval_count"], &v["eval_duration"]),
        prompt_tokens_per_s: per_s(&v["prompt_eval_count"], &v["prompt_eval_duration"]),
    })
}

/// Whether `/api/ps` lists `model` (names may carry an implicit `:latest`).
pub fn is_loaded(ps: &Value, model: &str) -> bool {
    let same = |name: &str| name == model || name == format!("{model}:latest");
    ps["models"].as_array().is_some_and(|ms| {
        ms.iter()
            .any(|m| m["name"].as_str().is_some_and(same) || m["model"].as_str().is_some_and(same))
    })
}
