//! The memory model: weights + KV cache + compute buffer + per-process overhead.
//!
//! KV cache and weights are exact arithmetic on the header (llama.cpp allocates exactly that).
//! The compute buffer is a model of ggml's graph allocator peak, calibrated against llama.cpp's
//! own reports for SmolLM2-135M (CPU, n_ubatch 512; see the tests and the crate's README
//! figures): the attention mask is live for the whole graph, and the peak is the largest of the
//! feed-forward phase, the attention phase (only without flash attention: the n_ctx × n_ubatch
//! × n_head score matrix) and the output phase (logits for n_outputs rows).

use serde::Serialize;

use crate::ggml_type::{self, GgmlType};
use crate::shape::{LlmShape, ProjectorShape};
use crate::whisper::WhisperHparams;

const MIB: u64 = 1 << 20;

/// CUDA context + cuBLAS handles + ggml-cuda's loaded kernels, per worker process. Not yet
/// measured here (no GPU lent to the session that wrote this); reported figures for llama.cpp
/// on consumer cards are 300–500 MiB, so the planner takes the upper middle.
pub const CUDA_OVERHEAD_BYTES: u64 = 400 * MIB;

/// llama.cpp rounds n_ctx up to a multiple of this.
pub const CTX_PAD: u64 = 256;

/// llama.cpp's default context when none is asked for (capped at the training context).
pub const DEFAULT_CTX: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KvType {
    F16,
    Q8_0,
    Q4_0,
}

impl KvType {
    pub fn ggml(self) -> GgmlType {
        match self {
            KvType::F16 => ggml_type::F16,
            KvType::Q8_0 => ggml_type::Q8_0,
            KvType::Q4_0 => ggml_type::Q4_0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashAttn {
    /// llama.cpp's default: on where the backend supports it, which CPU and CUDA do.
    #[default]
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// Figures are VRAM; per-process overhead applies.
    Gpu,
    /// Figures are RAM (`n_gpu_layers` 0, or the Foreman's RAM budget without a GPU).
    Cpu,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `None`: [`DEFAULT_CTX`] capped at the model's training context.
    pub n_ctx: Option<u64>,
    pub kv_type: KvType,
    pub flash_attn: FlashAttn,
    /// `None` = all layers (llama.cpp `-ngl 999`); `Some(0)` = CPU only.
    pub n_gpu_layers: Option<u32>,
    pub n_ubatch: u64,
    /// Logit rows the compute graph is reserved for. `None` = n_ubatch, what llama-cpp-2
    /// (the llama worker's engine) reserves; llama-server reserves 1 (`n_outputs_max`).
    pub n_outputs: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            n_ctx: None,
            kv_type: KvType::F16,
            flash_attn: FlashAttn::Auto,
            n_gpu_layers: None,
            n_ubatch: 512,
            n_outputs: None,
        }
    }
}

impl Options {
    pub fn device(&self) -> Device {
        if self.n_gpu_layers == Some(0) {
            Device::Cpu
        } else {
            Device::Gpu
        }
    }

    pub fn flash_attn_on(&self) -> bool {
        self.flash_attn != FlashAttn::Off
    }

    fn overhead(&self) -> u64 {
        match self.device() {
            Device::Gpu => CUDA_OVERHEAD_BYTES,
            Device::Cpu => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub device: Device,
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub compute_bytes: u64,
    pub overhead_bytes: u64,
    /// Effective context (padded as llama.cpp pads it); `None` for whisper.
    pub n_ctx: Option<u64>,
    pub flash_attn: bool,
    pub kv_type_k: Option<&'static str>,
    pub kv_type_v: Option<&'static str>,
    /// Included in weights and compute above.
    pub projector: Option<ProjectorEstimate>,
    /// Anything the user should know: fallbacks, uncalibrated parts.
    pub notes: Vec<String>,
}

impl Estimate {
    pub fn total_bytes(&self) -> u64 {
        self.weights_bytes + self.kv_cache_bytes + self.compute_bytes + self.overhead_bytes
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectorEstimate {
    pub weights_bytes: u64,
    pub compute_bytes: u64,
}

/// Where an LLM's weights live, by layer, as llama.cpp splits them for offload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LlmWeights {
    /// Bytes of `blk.{i}.*` per layer.
    pub layers: Vec<u64>,
    /// `token_embd.weight`: llama.cpp keeps it in host memory (the input layer is on the CPU).
    pub token_embd: u64,
    /// Everything else (output norm, output head, rope factors…): the output layer.
    pub other: u64,
    /// `output.weight` exists; without it the head is token_embd, duplicated onto the device.
    pub has_output: bool,
}

impl LlmWeights {
    pub fn total(&self) -> u64 {
        self.layers.iter().sum::<u64>() + self.token_embd + self.other
    }
}

pub(crate) fn pad(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

/// The context an LLM runs at under `opts`, padded like llama.cpp.
pub fn effective_ctx(shape: &LlmShape, opts: &Options) -> u64 {
    let asked = opts
        .n_ctx
        .unwrap_or_else(|| DEFAULT_CTX.min(shape.n_ctx_train));
    pad(asked.max(1), CTX_PAD)
}

pub fn llm(
    shape: &LlmShape,
    weights: &LlmWeights,
    projector: Option<(&ProjectorShape, u64)>,
    opts: &Options,
) -> Estimate {
    let mut notes = Vec::new();
    let n_ctx = effective_ctx(shape, opts);
    if n_ctx > shape.n_ctx_train {
        notes.push(format!(
            "context {n_ctx} exceeds the training context {}",
            shape.n_ctx_train
        ));
    }
    let fa = opts.flash_attn_on();
    let (type_k, type_v) = kv_types(opts, &mut notes);
    let n_layer = shape.n_layer as usize;
    let device = opts.device();
    let offload = Offload::new(n_layer, device, opts);
    let mut weights_bytes = device_weights(weights, device, &offload);
    let cells = |il: usize| kv_cells(shape, opts, n_ctx, il);
    let kv_cache_bytes = (offload.first_gpu_layer..n_layer)
        .map(|il| cells(il).saturating_mul(kv_row_bytes(shape, il, type_k, type_v)))
        .fold(0u64, u64::saturating_add);
    let mut compute_bytes = if offload.on_gpu == 0 {
        0
    } else {
        llm_compute(
            shape,
            opts,
            n_ctx,
            (0..n_layer).map(cells).collect(),
            type_k,
        )
    };
    let projector = projector.map(|(p, bytes)| {
        notes.push("vision projector compute is a model, not yet checked against llama.cpp".into());
        ProjectorEstimate {
            weights_bytes: bytes,
            compute_bytes: projector_compute(p, fa),
        }
    });
    if let Some(p) = &projector {
        weights_bytes += p.weights_bytes;
        compute_bytes += p.compute_bytes;
    }
    Estimate {
        device,
        weights_bytes,
        kv_cache_bytes,
        compute_bytes,
        overhead_bytes: opts.overhead(),
        n_ctx: Some(n_ctx),
        flash_attn: fa,
        kv_type_k: Some(type_k.name),
        kv_type_v: Some(type_v.name),
        projector,
        notes,
    }
}

/// The K and V cache types: both the asked type, except that llama.cpp refuses a quantized V
/// cache without flash attention, so V falls back to f16 then (and a note says so).
fn kv_types(opts: &Options, notes: &mut Vec<String>) -> (GgmlType, GgmlType) {
    let type_k = opts.kv_type.ggml();
    let mut type_v = type_k;
    if !opts.flash_attn_on() && type_v.is_quantized() {
        type_v = ggml_type::F16;
        notes.push(format!(
            "flash attention off: llama.cpp refuses a {} V cache without it, so V is planned as f16 (K stays {})",
            type_k.name, type_k.name
        ));
    }
    (type_k, type_v)
}

/// Which layers the device holds, as llama.cpp offloads them: the last `n_gpu_layers`
/// layers, and the output layer too once `n_gpu_layers` > `n_layer`. On the CPU everything
/// counts.
struct Offload {
    /// Layers on the device.
    on_gpu: usize,
    /// The first of them (the rest of `0..n_layer` follows).
    first_gpu_layer: usize,
    output_on_device: bool,
}

impl Offload {
    fn new(n_layer: usize, device: Device, opts: &Options) -> Self {
        let on_gpu = match device {
            Device::Cpu => n_layer,
            Device::Gpu => opts.n_gpu_layers.map_or(n_layer + 1, |n| n as usize),
        };
        Offload {
            on_gpu,
            first_gpu_layer: n_layer.saturating_sub(on_gpu),
            output_on_device: device == Device::Cpu || on_gpu > n_layer,
        }
    }
}

/// Weight bytes the device holds: its layers; on the CPU also the token embeddings and the
/// output layer; on a GPU holding the output layer, that layer and, without `output.weight`,
/// the duplicated token embeddings that serve as the head.
fn device_weights(weights: &LlmWeights, device: Device, offload: &Offload) -> u64 {
    let mut bytes: u64 = weights.layers.iter().skip(offload.first_gpu_layer).sum();
    match device {
        Device::Cpu => bytes += weights.token_embd + weights.other,
        Device::Gpu if offload.output_on_device => {
            bytes += weights.other;
            if !weights.has_output {
                bytes += weights.token_embd;
            }
        }
        Device::Gpu => {}
    }
    bytes
}

/// Bytes of one KV cell of layer `il`: its KV heads' K and V rows (nothing for a layer without
/// KV heads).
fn kv_row_bytes(shape: &LlmShape, il: usize, type_k: GgmlType, type_v: GgmlType) -> u64 {
    let heads = shape.n_head_kv.get(il).copied().unwrap_or(0);
    let k = type_k.bytes_for(heads * shape.head_dim_k).unwrap_or(0);
    let v = type_v.bytes_for(heads * shape.head_dim_v).unwrap_or(0);
    k + v
}

/// KV cells of layer `il`: the context, or for a sliding-window layer the window plus one
/// ubatch (padded), whichever is smaller.
fn kv_cells(shape: &LlmShape, opts: &Options, n_ctx: u64, il: usize) -> u64 {
    match &shape.swa {
        Some(swa) if swa.layers.get(il) == Some(&true) => {
            n_ctx.min(pad(swa.window + opts.n_ubatch, CTX_PAD))
        }
        _ => n_ctx,
    }
}

/// Peak of ggml's graph allocator for one n_ubatch, as bytes (see the module doc).
fn llm_compute(
    shape: &LlmShape,
    opts: &Options,
    n_ctx: u64,
    cells: Vec<u64>,
    type_k: GgmlType,
) -> u64 {
    let fa = opts.flash_attn_on();
    let u = opts.n_ubatch as f64;
    let e = shape.n_embd as f64;
    let f = shape.n_ff as f64;
    let h = shape.n_head as f64;
    let outputs = opts.n_outputs.unwrap_or(opts.n_ubatch).min(opts.n_ubatch) as f64;
    let widest = cells.iter().copied().max().unwrap_or(n_ctx) as f64;
    // One mask per distinct KV size (SWA models have two), f16 with flash attention.
    let mut sizes = cells.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let mask_elem = if fa { 2.0 } else { 4.0 };
    let mask: f64 = sizes.iter().map(|&c| c as f64 * u * mask_elem).sum();
    let mut ffn = (3.0 * f + 3.0 * e) * u * 4.0;
    if fa && type_k == ggml_type::F16 {
        // Q (and its f16 copy) for the f16 flash-attention kernel (calibrated: +1.1 MiB on
        // SmolLM2, absent with quantized K).
        ffn += 2.0 * h * shape.head_dim_k as f64 * u * 2.0;
    }
    let attn = if fa {
        0.0
    } else {
        widest * u * h * 4.0 + 5.5 * e * u * 4.0
    };
    let out = shape.n_vocab as f64 * outputs * 4.0 + 6.5 * e * u * 4.0;
    (mask + ffn.max(attn).max(out)).ceil() as u64
}

/// The vision encoder's peak for one image: patch activations through a ViT block, plus the
/// attention scores without flash attention.
fn projector_compute(p: &ProjectorShape, fa: bool) -> u64 {
    let n = p.n_patches() as f64;
    let scores = if fa {
        0.0
    } else {
        p.n_head as f64 * n * n * 4.0
    };
    (scores + n * (3.0 * p.n_ff as f64 + 6.0 * p.n_embd as f64) * 4.0).ceil() as u64
}

/// whisper.cpp as the whisper worker runs it (greedy, flash attention off): weights, the
/// self/cross/pad KV caches (f16) and its four compute buffers (conv, encode, cross, decode),
/// which are allocated separately and so add up. Calibrated on tiny.en (whisper.cpp 1.8.3:
/// 13.21 / 64.81 / 3.89 / 95.91 MB).
pub fn whisper(h: &WhisperHparams, weights_bytes: u64, opts: &Options) -> Estimate {
    let ca = h.n_audio_ctx as f64;
    let sa = h.n_audio_state as f64;
    let st = h.n_text_state as f64;
    let t = h.n_text_ctx as f64;
    let f16_kv = |layers: u64, cells: u64, state: u64| layers * cells * state * 2 * 2;
    let audio_cells = pad(h.n_audio_ctx.into(), 256);
    let kv_cache_bytes = f16_kv(
        h.n_text_layer.into(),
        pad(h.n_text_ctx.into(), 256),
        h.n_text_state.into(),
    ) + f16_kv(h.n_text_layer.into(), audio_cells, h.n_text_state.into())
        + f16_kv(1, audio_cells, h.n_audio_state.into());
    let conv = (h.n_mels as f64 * 2.0 * ca + 5.32 * sa * ca) * 4.0;
    let encode = h.n_audio_head as f64 * ca * ca * 4.0 + 4.7 * sa * ca * 4.0;
    let cross = 1.7 * st * ca * 4.0;
    let decode = h.n_vocab as f64 * t * 4.0 + 4.3 * st * t * 4.0;
    Estimate {
        device: opts.device(),
        weights_bytes,
        kv_cache_bytes,
        compute_bytes: (conv + encode + cross + decode).ceil() as u64,
        overhead_bytes: opts.overhead(),
        n_ctx: None,
        flash_attn: false,
        kv_type_k: None,
        kv_type_v: None,
        projector: None,
        notes: vec![],
    }
}

/// A projector planned on its own (no LLM before it on the command line).
pub fn projector_alone(p: &ProjectorShape, weights_bytes: u64, opts: &Options) -> Estimate {
    Estimate {
        device: opts.device(),
        weights_bytes,
        kv_cache_bytes: 0,
        compute_bytes: projector_compute(p, opts.flash_attn_on()),
        overhead_bytes: opts.overhead(),
        n_ctx: None,
        flash_attn: opts.flash_attn_on(),
        kv_type_k: None,
        kv_type_v: None,
        projector: None,
        notes: vec![
            "vision projector without its LLM: it runs in the LLM's process, so plan them together"
                .into(),
        ],
    }
}
