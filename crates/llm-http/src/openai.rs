//! OpenAI-compatible chat completions (llama.cpp `llama-server`, vLLM, LM Studio).

use nightshift_worker_protocol::FinishReason;
use serde_json::{Value, json};

use crate::{ChatReply, ChatRequest, Endpoint, HttpError, count, invalid};

pub const PATH: &str = "/v1/chat/completions";

pub fn body(ep: &Endpoint, req: &ChatRequest<'_>) -> Value {
    let s = req.sampling;
    let mut body = json!({
        "model": ep.model,
        "messages": messages(req),
        "max_tokens": req.max_tokens,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "seed": s.seed,
        "stream": false,
    });
    if let Some(schema) = req.json_schema {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {"name": "nightshift_notes", "strict": true, "schema": schema},
        });
    }
    body
}

/// Chat messages; with images, the last user message becomes OpenAI's content parts.
fn messages(req: &ChatRequest<'_>) -> Value {
    crate::messages_json(req, |m| {
        let mut parts = vec![json!({"type": "text", "text": m.content})];
        parts.extend(req.images.iter().map(|img| {
            json!({"type": "image_url", "image_url": {
                "url": format!("data:{};base64,{}", crate::image_mime(img), crate::base64(img))
            }})
        }));
        json!({"role": m.role, "content": parts})
    })
}

pub fn parse(url: &str, v: &Value) -> Result<ChatReply, HttpError> {
    let choice = v["choices"]
        .get(0)
        .ok_or_else(|| invalid(url, "no choices[0] in the completion"))?;
    let text = choice["message"]["content"]
        .as_str()
        .ok_or_else(|| invalid(url, "choices[0].message.content is not a string"))?;
    let finish_reason = match choice["finish_reason"].as_str() {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    };
    let timings = &v["timings"]; // llama-server adds these; others don't
    Ok(ChatReply {
        text: text.to_string(),
        tokens_in: count(&v["usage"]["prompt_tokens"]),
        tokens_out: count(&v["usage"]["completion_tokens"]),
        finish_reason,
        wall_s: 0.0,
        gen_tokens_per_s: timings["predicted_per_second"].as_f64(),
        prompt_tokens_per_s: timings["prompt_per_second"].as_f64(),
    })
}
