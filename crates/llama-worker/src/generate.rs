//! Prefill the prompt (text here; images through `vision.rs`), then sample and decode one
//! token at a time.

use std::time::Instant;

use crate::sampler::TokenSampler;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use nightshift_worker_protocol::FinishReason;

pub struct GenerateOptions {
    pub max_tokens: u32,
    /// Tokens per prefill decode call.
    pub n_batch: u32,
    /// Keep going through end-of-generation tokens (benchmarks).
    pub ignore_eos: bool,
}

pub struct Generated {
    pub text: String,
    pub tokens_out: u32,
    pub finish_reason: FinishReason,
    /// Prefill wall time, seconds.
    pub prompt_s: f64,
    /// From the end of prefill to the last token sampled, seconds.
    pub gen_s: f64,
}

/// Run `prompt` through an empty context and generate. The prompt must leave room for at
/// least one token (the caller checks, to give the user the sizes).
pub fn generate(
    ctx: &mut LlamaContext<'_>,
    model: &LlamaModel,
    sampler: &mut TokenSampler,
    prompt: &[LlamaToken],
    opts: &GenerateOptions,
) -> Result<Generated, String> {
    let t_prompt = Instant::now();
    prefill(ctx, prompt, opts.n_batch)?;
    let prompt_s = t_prompt.elapsed().as_secs_f64();
    generate_after(ctx, model, sampler, prompt.len(), prompt_s, opts)
}

/// Decode `prompt` into an empty context, logits for its last token only.
fn prefill(ctx: &mut LlamaContext<'_>, prompt: &[LlamaToken], n_batch: u32) -> Result<(), String> {
    let n_batch = (n_batch.max(1) as usize).min(prompt.len().max(1));
    let mut batch = LlamaBatch::new(n_batch, 1);
    let last = prompt.len().saturating_sub(1);
    for (c, chunk) in prompt.chunks(n_batch).enumerate() {
        batch.clear();
        for (i, &token) in chunk.iter().enumerate() {
            let pos = c * n_batch + i;
            batch
                .add(token, pos_i32(pos)?, &[0], pos == last)
                .map_err(|e| format!("building the prompt batch: {e}"))?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| format!("llama.cpp failed on the prompt: {e}"))?;
    }
    ctx.synchronize();
    Ok(())
}

/// Sample and decode one token at a time after a prefill of `n_past` positions whose last
/// decode produced logits for its last token (a text prefill, or llama.cpp's multimodal
/// helper after images). `prompt_s` is what the prefill took.
pub fn generate_after(
    ctx: &mut LlamaContext<'_>,
    model: &LlamaModel,
    sampler: &mut TokenSampler,
    n_past: usize,
    prompt_s: f64,
    opts: &GenerateOptions,
) -> Result<Generated, String> {
    let n_ctx = ctx.n_ctx() as usize;
    let vocab = model.vocab();
    let t_gen = Instant::now();
    let mut batch = LlamaBatch::new(1, 1);
    let mut bytes = Vec::new();
    let mut tokens_out = 0u32;
    let mut n_cur = n_past;
    let finish_reason = loop {
        // -1: the last output of the previous decode, whichever batch produced it.
        let token = sampler.sample(ctx, -1);
        if !opts.ignore_eos && vocab.is_eog(token) {
            break FinishReason::Stop;
        }
        vocab.token_to_piece_into(token, &mut bytes, false, None);
        tokens_out += 1;
        if tokens_out >= opts.max_tokens {
            break FinishReason::Length;
        }
        if n_cur >= n_ctx {
            break FinishReason::Context;
        }
        batch.clear();
        batch
            .add(token, pos_i32(n_cur)?, &[0], true)
            .map_err(|e| format!("building the generation batch: {e}"))?;
        ctx.decode(&mut batch)
            .map_err(|e| format!("llama.cpp failed after {tokens_out} generated tokens: {e}"))?;
        n_cur += 1;
    };
    Ok(Generated {
        // Tokens may split a UTF-8 character; only the whole output is decoded.
        text: String::from_utf8_lossy(&bytes).into_owned(),
        tokens_out,
        finish_reason,
        prompt_s,
        gen_s: t_gen.elapsed().as_secs_f64(),
    })
}

fn pos_i32(pos: usize) -> Result<i32, String> {
    i32::try_from(pos).map_err(|_| format!("token position {pos} out of range"))
}
