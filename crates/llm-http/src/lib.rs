//! Chat completions from an LLM server the user runs: any OpenAI-compatible
//! `/v1/chat/completions` (llama.cpp's `llama-server`, vLLM, LM Studio) or Ollama's native
//! `/api/chat`. Output is constrained by a JSON schema (`response_format` json_schema, or
//! Ollama's `format`), exactly as the local llama worker constrains it with a grammar.
//!
//! Failure policy, so that a server that is down or misbehaves costs a job, never data:
//! - cannot connect, HTTP 429 or 5xx: retried here with exponential backoff (`retries` times);
//! - any other HTTP error (404 unknown model, 400 bad request): not retried, the error names
//!   the server's own message;
//! - a 200 whose body is not the documented shape: [`HttpError::InvalidResponse`].
//!
//! The caller stores the error on the job; whether the model's *text* is valid JSON is the
//! caller's business (it parses it against its schema).

pub mod fake;
mod ollama;
mod openai;

use std::time::{Duration, Instant};

use nightshift_worker_protocol::{ChatMessage, FinishReason, Sampling};
use serde_json::Value;

/// Which wire protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST {base}/v1/chat/completions` with `response_format: {type: json_schema}`.
    OpenAi,
    /// `POST {base}/api/chat` with `format: <schema>`; `keep_alive: 0` unloads.
    Ollama,
}

impl Api {
    /// Where each server listens out of the box (llama-server, Ollama).
    pub fn default_url(self) -> &'static str {
        match self {
            Api::OpenAi => "http://127.0.0.1:8080",
            Api::Ollama => "http://127.0.0.1:11434",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::Ollama => "ollama",
        }
    }
}

/// One server and the model to ask.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub api: Api,
    /// `http://127.0.0.1:8080` (a trailing `/v1` is accepted for OpenAI-compatible servers).
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// Whole-request limit (a long summary on a CPU server takes minutes).
    pub timeout: Duration,
    /// Extra attempts after a connection failure, 429 or 5xx.
    pub retries: u32,
    /// First backoff; doubles per retry.
    pub backoff: Duration,
    /// Context window to ask for (Ollama `num_ctx`); OpenAI servers fix it at start.
    pub n_ctx: Option<u32>,
}

impl Endpoint {
    pub fn new(api: Api, base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Endpoint {
            api,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(600),
            retries: 3,
            backoff: Duration::from_secs(1),
            n_ctx: None,
        }
    }
}

/// One chat completion to make.
#[derive(Debug, Clone)]
pub struct ChatRequest<'a> {
    pub messages: &'a [ChatMessage],
    pub json_schema: Option<&'a Value>,
    pub max_tokens: u32,
    pub sampling: &'a Sampling,
    /// Images (PNG or JPEG bytes) attached to the last user message, for vision models.
    pub images: &'a [Vec<u8>],
}

/// Standard base64 (RFC 4648, padded), for images inside JSON requests.
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// The mime type of an image by its magic bytes.
fn image_mime(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0xff, 0xd8]) {
        "image/jpeg"
    } else {
        "image/png"
    }
}

/// The request's messages as JSON; the last user message (the one images go with, when there
/// are any) is built by `with_images`, every other one as `{role, content}`.
fn messages_json(req: &ChatRequest<'_>, with_images: impl Fn(&ChatMessage) -> Value) -> Value {
    let target = req
        .messages
        .iter()
        .rposition(|m| m.role == "user")
        .filter(|_| !req.images.is_empty());
    Value::Array(
        req.messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if Some(i) == target {
                    with_images(m)
                } else {
                    serde_json::json!({"role": m.role, "content": m.content})
                }
            })
            .collect(),
    )
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    pub text: String,
    pub tokens_in: u32,
    pub tokens_out: u32,
    pub finish_reason: FinishReason,
    /// Client-side wall time of the successful attempt, seconds.
    pub wall_s: f64,
    /// Generation speed when the server reports it (Ollama does), tokens/s.
    pub gen_tokens_per_s: Option<f64>,
    pub prompt_tokens_per_s: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot reach {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("{url} answered HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered with an invalid response: {cause}")]
    InvalidResponse { url: String, cause: String },
}

impl HttpError {
    /// Worth another attempt later (server down, overloaded, or failing internally).
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Unreachable { .. } => true,
            HttpError::Status { status, .. } => *status == 429 || *status >= 500,
            HttpError::InvalidResponse { .. } => false,
        }
    }
}

/// A blocking client for one endpoint.
pub struct Client {
    endpoint: Endpoint,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(endpoint.timeout)
            .build();
        Client { endpoint, agent }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// One completion, retried on transient failures.
    pub fn chat(&self, req: &ChatRequest<'_>) -> Result<ChatReply, HttpError> {
        let (path, body) = match self.endpoint.api {
            Api::OpenAi => (openai::PATH, openai::body(&self.endpoint, req)),
            Api::Ollama => (ollama::CHAT_PATH, ollama::body(&self.endpoint, req)),
        };
        let url = self.url(path);
        let mut delay = self.endpoint.backoff;
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let outcome = self
                .post(&url, &body)
                .and_then(|v| match self.endpoint.api {
                    Api::OpenAi => openai::parse(&url, &v),
                    Api::Ollama => ollama::parse(&url, &v),
                });
            match outcome {
                Ok(mut reply) => {
                    reply.wall_s = started.elapsed().as_secs_f64();
                    return Ok(reply);
                }
                Err(e) if e.is_transient() && attempt < self.endpoint.retries => {
                    attempt += 1;
                    tracing::warn!(
                        "{e}; retry {attempt}/{} in {delay:?}",
                        self.endpoint.retries
                    );
                    std::thread::sleep(delay);
                    delay = delay.saturating_mul(2);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Free the model's memory on the server once a batch is done. Ollama: a request with
    /// `keep_alive: 0`, then `/api/ps` until the model is gone (up to `wait`). OpenAI-compatible
    /// servers have no such call; their process owns the model, so this does nothing.
    /// Returns whether the model is confirmed unloaded.
    pub fn unload(&self, wait: Duration) -> Result<bool, HttpError> {
        match self.endpoint.api {
            Api::OpenAi => Ok(false),
            Api::Ollama => {
                let url = self.url(ollama::GENERATE_PATH);
                self.post(&url, &ollama::unload_body(&self.endpoint))?;
                let deadline = Instant::now() + wait;
                loop {
                    let ps = self.get(&self.url(ollama::PS_PATH))?;
                    if !ollama::is_loaded(&ps, &self.endpoint.model) {
                        return Ok(true);
                    }
                    if Instant::now() >= deadline {
                        return Ok(false);
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    /// Whether the server answers at all: `GET /v1/models` (OpenAI) or `/api/tags` (Ollama).
    pub fn ping(&self) -> Result<(), HttpError> {
        let path = match self.endpoint.api {
            Api::OpenAi => "/v1/models",
            Api::Ollama => "/api/tags",
        };
        self.get(&self.url(path)).map(|_| ())
    }

    fn url(&self, path: &str) -> String {
        let base = &self.endpoint.base_url;
        // Users paste either the server root or its `/v1` base.
        match path.strip_prefix("/v1") {
            Some(rest) if base.ends_with("/v1") => format!("{base}{rest}"),
            _ => format!("{base}{path}"),
        }
    }

    fn post(&self, url: &str, body: &Value) -> Result<Value, HttpError> {
        let mut r = self.agent.post(url);
        if let Some(key) = &self.endpoint.api_key {
            r = r.set("Authorization", &format!("Bearer {key}"));
        }
        read_json(url, r.send_json(body))
    }

    fn get(&self, url: &str) -> Result<Value, HttpError> {
        read_json(url, self.agent.get(url).call())
    }
}

fn read_json(url: &str, sent: Result<ureq::Response, ureq::Error>) -> Result<Value, HttpError> {
    match sent {
        Ok(resp) => {
            let text = resp.into_string().map_err(|e| HttpError::Unreachable {
                url: url.into(),
                cause: format!("reading the body: {e}"),
            })?;
            serde_json::from_str(&text).map_err(|e| HttpError::InvalidResponse {
                url: url.into(),
                cause: format!("not JSON ({e}): {}", excerpt(&text)),
            })
        }
        Err(ureq::Error::Status(status, resp)) => {
            let text = resp.into_string().unwrap_or_default();
            Err(HttpError::Status {
                url: url.into(),
                status,
                message: server_message(&text),
            })
        }
        // Transport's Display repeats the URL; the kind and message say what happened.
        Err(ureq::Error::Transport(t)) => Err(HttpError::Unreachable {
            url: url.into(),
            cause: {
                let mut cause = t.kind().to_string();
                if let Some(m) = t.message() {
                    cause = format!("{cause}: {m}");
                }
                if let Some(src) = std::error::Error::source(&t) {
                    cause = format!("{cause}: {src}");
                }
                cause
            },
        }),
    }
}

/// The server's own error text: `{"error": {"message": …}}` (OpenAI), `{"error": "…"}`
/// (Ollama), else the body's start.
fn server_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let msg = parsed.as_ref().and_then(|v| {
        v["error"]["message"]
            .as_str()
            .or_else(|| v["error"].as_str())
            .map(str::to_string)
    });
    msg.unwrap_or_else(|| excerpt(body))
}

fn excerpt(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return "(empty body)".into();
    }
    let cut: String = t.chars().take(200).collect();
    if cut.len() < t.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn invalid(url: &str, cause: impl Into<String>) -> HttpError {
    HttpError::InvalidResponse {
        url: url.into(),
        cause: cause.into(),
    }
}

fn count(v: &Value) -> u32 {
    v.as_u64().unwrap_or(0).min(u32::MAX as u64) as u32
}
