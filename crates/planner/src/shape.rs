//! What the estimator needs from a GGUF: the LLM's hyperparameters (llama.cpp's `hparams`),
//! or a vision projector's (`clip.vision.*`).

use crate::error::{PlanError, Result};
use crate::gguf::{Gguf, Value};

/// An LLM's memory-relevant hyperparameters, per layer where llama.cpp allows that.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmShape {
    pub arch: String,
    pub n_layer: u32,
    pub n_embd: u64,
    pub n_head: u64,
    /// KV heads per layer (0 = a layer without KV cache, e.g. recurrent layers of hybrids).
    pub n_head_kv: Vec<u64>,
    pub head_dim_k: u64,
    pub head_dim_v: u64,
    pub n_ff: u64,
    pub n_vocab: u64,
    pub n_ctx_train: u64,
    pub swa: Option<SlidingWindow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlidingWindow {
    pub window: u64,
    /// `layers[i]` = layer i attends only to the last `window` tokens.
    pub layers: Vec<bool>,
}

/// Period of llama.cpp's `set_swa_pattern(n)` for architectures that hard-code it (the last
/// layer of each period is a full-attention layer).
fn builtin_swa_pattern(arch: &str) -> Option<u32> {
    match arch {
        "gemma2" | "gpt-oss" => Some(2),
        "gemma3" => Some(6),
        "cohere2" | "exaone4" => Some(4),
        _ => None,
    }
}

impl LlmShape {
    pub fn from_gguf(g: &Gguf) -> Result<LlmShape> {
        let arch = g
            .get_str("general.architecture")
            .ok_or_else(|| PlanError::MissingKey("general.architecture".into()))?
            .to_string();
        let key = |k: &str| format!("{arch}.{k}");
        let req = |k: &str| {
            let k = key(k);
            g.get_u64(&k).ok_or(PlanError::MissingKey(k))
        };
        let n_layer = u32::try_from(req("block_count")?)
            .ok()
            .filter(|&n| n > 0 && n <= 4096)
            .ok_or_else(|| PlanError::Invalid(format!("{}: implausible", key("block_count"))))?;
        let n_embd = req("embedding_length")?;
        let n_head = per_layer(g, &key("attention.head_count"), n_layer)?
            .and_then(|v| v.into_iter().max())
            .ok_or_else(|| PlanError::MissingKey(key("attention.head_count")))?;
        if n_head == 0 || n_embd == 0 {
            return Err(PlanError::Invalid(
                "zero heads or zero embedding length".into(),
            ));
        }
        let n_head_kv = per_layer(g, &key("attention.head_count_kv"), n_layer)?
            .unwrap_or_else(|| vec![n_head; n_layer as usize]);
        let head_dim_k = g
            .get_u64(&key("attention.key_length"))
            .unwrap_or(n_embd / n_head);
        let head_dim_v = g
            .get_u64(&key("attention.value_length"))
            .unwrap_or(n_embd / n_head);
        let n_ff = per_layer(g, &key("feed_forward_length"), n_layer)?
            .and_then(|v| v.into_iter().max())
            .unwrap_or(4 * n_embd);
        let n_vocab = g
            .get_u64(&key("vocab_size"))
            .or_else(|| match g.get("tokenizer.ggml.tokens") {
                Some(Value::Array { len, .. }) => Some(*len),
                _ => None,
            })
            .or_else(|| {
                g.tensor("token_embd.weight")
                    .and_then(|t| t.dims.get(1).copied())
            })
            .ok_or_else(|| PlanError::MissingKey(key("vocab_size")))?;
        let n_ctx_train = req("context_length")?;
        // Sizes no real model comes near: a header that claims them is garbage, and the
        // estimate's products of them must not overflow.
        for (name, v, max) in [
            ("embedding_length", n_embd, 1 << 18),
            ("attention.head_count", n_head, 1 << 12),
            ("attention.key_length", head_dim_k, 1 << 16),
            ("attention.value_length", head_dim_v, 1 << 16),
            ("feed_forward_length", n_ff, 1 << 22),
            ("vocab_size", n_vocab, 1 << 24),
            ("context_length", n_ctx_train, 1 << 24),
        ] {
            if v > max {
                return Err(PlanError::Invalid(format!(
                    "{}: {v} is implausible (more than {max})",
                    key(name)
                )));
            }
        }
        if let Some(&kv) = n_head_kv.iter().find(|&&kv| kv > n_head) {
            return Err(PlanError::Invalid(format!(
                "{}: {kv} KV heads for {n_head} heads",
                key("attention.head_count_kv")
            )));
        }
        let swa = sliding_window(g, &arch, n_layer)?;
        Ok(LlmShape {
            arch,
            n_layer,
            n_embd,
            n_head,
            n_head_kv,
            head_dim_k,
            head_dim_v,
            n_ff,
            n_vocab,
            n_ctx_train,
            swa,
        })
    }
}

/// A hyperparameter that may be one number or one per layer.
fn per_layer(g: &Gguf, key: &str, n_layer: u32) -> Result<Option<Vec<u64>>> {
    match g.get(key) {
        None => Ok(None),
        Some(Value::Array { items, len, .. }) => {
            if *len != u64::from(n_layer) || items.len() as u64 != *len {
                return Err(PlanError::Invalid(format!(
                    "{key}: {len} values for {n_layer} layers"
                )));
            }
            items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .ok_or_else(|| PlanError::Invalid(format!("{key}: not integers")))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some)
        }
        Some(v) => v
            .as_u64()
            .map(|n| Some(vec![n; n_layer as usize]))
            .ok_or_else(|| PlanError::Invalid(format!("{key}: {v:?} is not an integer"))),
    }
}

fn sliding_window(g: &Gguf, arch: &str, n_layer: u32) -> Result<Option<SlidingWindow>> {
    let Some(window) = g
        .get_u64(&format!("{arch}.attention.sliding_window"))
        .filter(|&w| w > 0)
    else {
        return Ok(None);
    };
    let pattern_key = format!("{arch}.attention.sliding_window_pattern");
    let layers: Vec<bool> = match g.get(&pattern_key) {
        // Newer converters store the pattern per layer.
        Some(Value::Array { items, len, .. }) if *len == u64::from(n_layer) => items
            .iter()
            .map(|v| match v {
                Value::Bool(b) => Ok(*b),
                _ => Err(PlanError::Invalid(format!("{pattern_key}: not booleans"))),
            })
            .collect::<Result<_>>()?,
        Some(v) => match v.as_u64() {
            Some(p) => period(p, n_layer),
            None => return Err(PlanError::Invalid(format!("{pattern_key}: {v:?}"))),
        },
        None => match builtin_swa_pattern(arch) {
            Some(p) => period(u64::from(p), n_layer),
            // llama.cpp ignores a window on architectures without SWA support (e.g. qwen2).
            None => return Ok(None),
        },
    };
    Ok(Some(SlidingWindow { window, layers }))
}

/// llama.cpp `set_swa_pattern`: period 0 = every layer SWA; else the last of each period dense.
fn period(p: u64, n_layer: u32) -> Vec<bool> {
    (0..u64::from(n_layer))
        .map(|il| p == 0 || il % p < p - 1)
        .collect()
}

/// A multimodal projector (`mmproj-*.gguf`, arch `clip`): the vision encoder's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectorShape {
    pub image_size: u64,
    pub patch_size: u64,
    pub n_embd: u64,
    pub n_ff: u64,
    pub n_head: u64,
}

impl ProjectorShape {
    pub fn from_gguf(g: &Gguf) -> Result<ProjectorShape> {
        let req = |k: &str| {
            let k = format!("clip.vision.{k}");
            g.get_u64(&k).ok_or(PlanError::MissingKey(k))
        };
        let shape = ProjectorShape {
            image_size: req("image_size")?,
            patch_size: req("patch_size")?,
            n_embd: req("embedding_length")?,
            n_ff: req("feed_forward_length")?,
            n_head: req("attention.head_count")?,
        };
        if shape.patch_size == 0 || shape.image_size < shape.patch_size {
            return Err(PlanError::Invalid(format!(
                "clip.vision image size {} / patch size {}",
                shape.image_size, shape.patch_size
            )));
        }
        Ok(shape)
    }

    pub fn n_patches(&self) -> u64 {
        (self.image_size / self.patch_size).pow(2)
    }
}

pub fn is_projector(g: &Gguf) -> bool {
    g.get_str("general.architecture") == Some("clip")
}
