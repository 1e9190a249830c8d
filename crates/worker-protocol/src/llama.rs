//! The llama worker's messages (`nightshift-llama-worker`).
//!
//! Same framing and lifecycle as the whisper protocol: the Foreman writes
//! [`LlamaRequest::Load`] (`"type":"llama_load"`), then one [`LlamaRequest::Complete`]
//! (`"type":"complete"`) per prompt, then closes stdin. The worker answers
//! [`LlamaResponse::Ready`] once the model and its context exist, one
//! [`LlamaResponse::Completion`] or [`LlamaResponse::JobError`] per item as soon as that item is
//! done, and [`LlamaResponse::Fatal`] if it cannot go on. `ready`, `job_error` and `fatal` have
//! the same wire shape as the whisper worker's (plus fields of their own).
//!
//! These are separate enums from [`crate::Request`] / [`crate::Response`] so that neither
//! worker can mistake the other's messages for its own: a request sent to the wrong worker is
//! a malformed line, not a silently defaulted one.

use serde::{Deserialize, Serialize};

/// KV-cache element type. Quantized V caches need flash attention (`on` or `auto`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvCacheType {
    #[default]
    F16,
    Q8_0,
    Q4_0,
}

impl KvCacheType {
    /// The name on the wire and in `plan`: `f16`, `q8_0`, `q4_0`.
    pub fn as_str(self) -> &'static str {
        match self {
            KvCacheType::F16 => "f16",
            KvCacheType::Q8_0 => "q8_0",
            KvCacheType::Q4_0 => "q4_0",
        }
    }
}

/// Flash attention policy; `auto` lets llama.cpp decide per device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashAttention {
    #[default]
    Auto,
    On,
    Off,
}

impl FlashAttention {
    /// The name on the wire: `auto`, `on`, `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlashAttention::Auto => "auto",
            FlashAttention::On => "on",
            FlashAttention::Off => "off",
        }
    }
}

fn default_n_ctx() -> u32 {
    4096
}

fn default_n_batch() -> u32 {
    512
}

/// Options for loading a GGUF model and creating its context (once per batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaLoad {
    pub model_path: String,
    /// CPU threads for prompt processing and generation.
    pub threads: u32,
    /// Context size in tokens (prompt + completion); `0` = the model's training context.
    #[serde(default = "default_n_ctx")]
    pub n_ctx: u32,
    /// Logical batch for prompt processing (tokens per decode call).
    #[serde(default = "default_n_batch")]
    pub n_batch: u32,
    #[serde(default)]
    pub kv_cache_type: KvCacheType,
    #[serde(default)]
    pub flash_attention: FlashAttention,
    /// Layers offloaded to the GPU when the worker was built with a GPU feature; `0` = CPU
    /// only, anything ≥ the model's layer count (e.g. 999) = all of them.
    #[serde(default)]
    pub gpu_layers: u32,
    /// A vision projector (`mmproj` GGUF) for `model_path`: items may then carry images. Needs
    /// a worker built with the `vision` feature.
    #[serde(default)]
    pub mmproj_path: Option<String>,
}

impl LlamaLoad {
    /// A load with the defaults a serde round trip would give.
    pub fn new(model_path: impl Into<String>, threads: u32) -> Self {
        Self {
            model_path: model_path.into(),
            threads,
            n_ctx: default_n_ctx(),
            n_batch: default_n_batch(),
            kv_cache_type: KvCacheType::default(),
            flash_attention: FlashAttention::default(),
            gpu_layers: 0,
            mmproj_path: None,
        }
    }
}

/// One chat message, rendered with the GGUF's own chat template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

fn default_temperature() -> f32 {
    0.3
}
fn default_top_k() -> i32 {
    40
}
fn default_top_p() -> f32 {
    0.9
}
fn default_repeat_penalty() -> f32 {
    1.1
}
fn default_repeat_last_n() -> i32 {
    64
}
fn default_seed() -> u32 {
    42
}

/// Sampling settings. The defaults suit small instruct models with constrained output:
/// temperature 0 makes a 135 M model loop, a high repeat penalty makes it invent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// `0` = greedy.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// Keep the k most likely tokens; `0` = off.
    #[serde(default = "default_top_k")]
    pub top_k: i32,
    /// Nucleus sampling; `1` = off.
    #[serde(default = "default_top_p")]
    pub top_p: f32,
    /// `1` = off.
    #[serde(default = "default_repeat_penalty")]
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    #[serde(default = "default_repeat_last_n")]
    pub repeat_last_n: i32,
    #[serde(default = "default_seed")]
    pub seed: u32,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: default_temperature(),
            top_k: default_top_k(),
            top_p: default_top_p(),
            repeat_penalty: default_repeat_penalty(),
            repeat_last_n: default_repeat_last_n(),
            seed: default_seed(),
        }
    }
}

fn default_max_tokens() -> u32 {
    512
}

/// One prompt to complete. Exactly one of `messages` (chat, rendered with the model's
/// template) and `prompt` (raw text, for models without a chat template) must be non-empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteItem {
    /// The item's id in this batch, echoed in its answer: a job id for summary steps; the
    /// Foreman's own item number where one job has several items (a video's scenes).
    pub job_id: i64,
    #[serde(default)]
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub prompt: Option<String>,
    /// Constrain the output to this JSON schema (converted to a GBNF grammar by llama.cpp).
    /// Bound it (`maxLength`, `maxItems`): small models otherwise loop until `max_tokens`.
    #[serde(default)]
    pub json_schema: Option<serde_json::Value>,
    /// Constrain the output to this GBNF grammar (root rule `root`). Not with `json_schema`.
    #[serde(default)]
    pub grammar: Option<String>,
    /// Most tokens to generate; generation also stops at the end of the context.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    #[serde(default)]
    pub sampling: Sampling,
    /// Keep generating through end-of-generation tokens (benchmarks only; ignored with a
    /// grammar or schema, which ends the output itself).
    #[serde(default)]
    pub ignore_eos: bool,
    /// Image files (PNG, JPEG, …) shown to a vision model with the last user message, in
    /// order, before its text. Only with a load that has `mmproj_path`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

impl CompleteItem {
    /// A chat item with default sampling and no constraint.
    pub fn chat(job_id: i64, messages: Vec<ChatMessage>) -> Self {
        Self {
            job_id,
            messages,
            prompt: None,
            json_schema: None,
            grammar: None,
            max_tokens: default_max_tokens(),
            sampling: Sampling::default(),
            ignore_eos: false,
            images: Vec::new(),
        }
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model produced an end-of-generation token (with a grammar: the grammar completed).
    Stop,
    /// `max_tokens` reached: constrained output is then incomplete.
    Length,
    /// The context filled up before either.
    Context,
}

/// What one completion cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionMetrics {
    pub wall_s: f64,
    /// Prompt processing (prefill) time and speed.
    pub prompt_s: f64,
    pub prompt_tokens_per_s: f64,
    /// Generation time (decode + sampling) and speed.
    pub gen_s: f64,
    pub gen_tokens_per_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LlamaRequest {
    #[serde(rename = "llama_load")]
    Load(LlamaLoad),
    Complete(CompleteItem),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LlamaResponse {
    Ready {
        model: String,
        /// Model load + context creation, seconds (once per batch).
        load_s: f64,
        device: String,
        /// The context size in effect (tokens), and the model's training context.
        n_ctx: u32,
        n_ctx_train: u32,
    },
    Completion {
        job_id: i64,
        text: String,
        /// Prompt tokens after the chat template; generated tokens.
        tokens_in: u32,
        tokens_out: u32,
        finish_reason: FinishReason,
        metrics: CompletionMetrics,
    },
    JobError {
        job_id: i64,
        message: String,
    },
    Fatal {
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_message, write_message};

    #[test]
    fn a_minimal_complete_item_gets_defaults() {
        let line = r#"{"type":"complete","job_id":3,"messages":[{"role":"user","content":"hi"}]}"#;
        let req: LlamaRequest = serde_json::from_str(line).unwrap();
        let LlamaRequest::Complete(item) = req else {
            panic!("{req:?}")
        };
        assert_eq!(item.max_tokens, 512);
        assert_eq!(item.sampling, Sampling::default());
        assert!(item.json_schema.is_none() && item.grammar.is_none() && !item.ignore_eos);
        assert!(item.images.is_empty());
    }

    #[test]
    fn a_minimal_load_gets_defaults() {
        let line = r#"{"type":"llama_load","model_path":"m.gguf","threads":2}"#;
        let req: LlamaRequest = serde_json::from_str(line).unwrap();
        assert_eq!(req, LlamaRequest::Load(LlamaLoad::new("m.gguf", 2)));
        let line =
            r#"{"type":"llama_load","model_path":"m.gguf","threads":2,"mmproj_path":"p.gguf"}"#;
        let LlamaRequest::Load(load) = serde_json::from_str(line).unwrap() else {
            panic!("not a load")
        };
        assert_eq!(load.mmproj_path.as_deref(), Some("p.gguf"));
    }

    #[test]
    fn whisper_and_llama_requests_do_not_cross() {
        let whisper = r#"{"type":"load","model_path":"m.bin","threads":2}"#;
        assert!(serde_json::from_str::<LlamaRequest>(whisper).is_err());
        let llama = r#"{"type":"llama_load","model_path":"m.gguf","threads":2}"#;
        assert!(serde_json::from_str::<crate::Request>(llama).is_err());
    }

    #[test]
    fn responses_round_trip_and_share_the_error_shapes() {
        let msgs = vec![
            LlamaResponse::Completion {
                job_id: 1,
                text: "{\"a\":1}".into(),
                tokens_in: 10,
                tokens_out: 5,
                finish_reason: FinishReason::Stop,
                metrics: CompletionMetrics::default(),
            },
            LlamaResponse::JobError {
                job_id: 2,
                message: "too long".into(),
            },
        ];
        let mut buf = Vec::new();
        for m in &msgs {
            write_message(&mut buf, m).unwrap();
        }
        let mut r = std::io::Cursor::new(buf.clone());
        let a: LlamaResponse = read_message(&mut r).unwrap().unwrap();
        let b: LlamaResponse = read_message(&mut r).unwrap().unwrap();
        assert_eq!(vec![a, b], msgs);
        // A generic reader of the whisper protocol understands the job error line.
        let mut r = std::io::Cursor::new(buf);
        let _ = read_message::<_, crate::Response>(&mut r);
        let err: crate::Response = read_message(&mut r).unwrap().unwrap();
        assert_eq!(
            err,
            crate::Response::JobError {
                job_id: 2,
                message: "too long".into()
            }
        );
    }
}
