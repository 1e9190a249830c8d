//! The model (loaded once per batch) and its context (created once, cleared between items).

use std::num::NonZeroU32;
use std::path::Path;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{KvCacheType as LlamaKv, LlamaContextParams};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatTemplate, LlamaModel};
use nightshift_worker_protocol::{
    CompleteItem, CompletionMetrics, FinishReason, FlashAttention, KvCacheType, LlamaLoad,
};

use crate::generate::{GenerateOptions, generate, generate_after};
use crate::prompt::{render_prompt, render_text};
use crate::sampler::build_sampler;
use crate::vision::Vision;

/// A loaded GGUF model. Dropping it frees the weights; the process exit frees the rest.
pub struct Engine {
    backend: LlamaBackend,
    pub model: LlamaModel,
    /// The GGUF's own chat template, if it has one.
    pub template: Option<LlamaChatTemplate>,
    pub model_name: String,
    pub device: String,
}

/// One finished item.
pub struct Completion {
    pub text: String,
    pub tokens_in: u32,
    pub tokens_out: u32,
    pub finish_reason: FinishReason,
    pub metrics: CompletionMetrics,
}

impl Engine {
    /// Load the model. The error text is what the user sees.
    pub fn load(load: &LlamaLoad) -> Result<Engine, String> {
        let path = Path::new(&load.model_path);
        let model_name = model_name(path);
        if !path.is_file() {
            return Err(format!(
                "model file {} not found: get it with `nightshift models pull` or set \
                 NIGHTSHIFT_MODELS to the folder that holds it",
                path.display()
            ));
        }
        let backend = LlamaBackend::init().map_err(|e| format!("cannot start llama.cpp: {e}"))?;
        let gpu_layers = if gpu_built() { load.gpu_layers } else { 0 };
        let params = LlamaModelParams::default().with_n_gpu_layers(gpu_layers);
        let model = LlamaModel::load_from_file(&backend, path, &params).map_err(|e| {
            format!(
                "cannot load GGUF model {}: {e} (not a llama.cpp GGUF model, an architecture \
                 this llama.cpp does not know, or damaged: re-download it)",
                path.display()
            )
        })?;
        let template = model.chat_template(None).ok();
        let device = device_name(gpu_layers > 0 && backend.supports_gpu_offload());
        Ok(Engine {
            backend,
            model,
            template,
            model_name,
            device,
        })
    }

    pub fn n_ctx_train(&self) -> u32 {
        self.model.n_ctx_train()
    }

    /// Create the context every item of the batch runs in.
    pub fn session(&self, load: &LlamaLoad) -> Result<Session<'_>, String> {
        let quantized_kv = load.kv_cache_type != KvCacheType::F16;
        if quantized_kv && load.flash_attention == FlashAttention::Off {
            return Err(format!(
                "kv_cache_type {} needs flash attention (on or auto): llama.cpp cannot \
                 quantize the V cache without it",
                load.kv_cache_type.as_str()
            ));
        }
        let n_ctx = match load.n_ctx {
            0 => self.n_ctx_train(),
            n => n,
        };
        let n_batch = load.n_batch.clamp(1, n_ctx.max(1));
        let threads = i32::try_from(load.threads.max(1)).unwrap_or(i32::MAX);
        let kv = match load.kv_cache_type {
            KvCacheType::F16 => LlamaKv::F16,
            KvCacheType::Q8_0 => LlamaKv::Q8_0,
            KvCacheType::Q4_0 => LlamaKv::Q4_0,
        };
        let flash = match load.flash_attention {
            FlashAttention::Auto => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO,
            FlashAttention::On => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED,
            FlashAttention::Off => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
        };
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(n_batch)
            .with_n_ubatch(n_batch.min(512))
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_type_k(kv)
            .with_type_v(kv)
            .with_flash_attention_policy(flash);
        let ctx = self.model.new_context(&self.backend, params).map_err(|e| {
            format!(
                "cannot create a {n_ctx}-token context ({} KV cache, flash attention {}) \
                 for {}: {e}",
                load.kv_cache_type.as_str(),
                load.flash_attention.as_str(),
                self.model_name
            )
        })?;
        let vision = match &load.mmproj_path {
            Some(p) => Some(Vision::load(
                Path::new(p),
                &self.model,
                threads,
                gpu_built() && load.gpu_layers > 0,
            )?),
            None => None,
        };
        Ok(Session {
            engine: self,
            ctx,
            n_batch,
            vision,
        })
    }
}

/// The context of one batch. Items run one after another; the KV cache is cleared between them.
pub struct Session<'m> {
    engine: &'m Engine,
    ctx: LlamaContext<'m>,
    n_batch: u32,
    /// The vision projector, when the load named one (dropped before the model).
    vision: Option<Vision>,
}

impl Session<'_> {
    pub fn n_ctx(&self) -> u32 {
        self.ctx.n_ctx()
    }

    /// Whether items may carry images.
    pub fn has_vision(&self) -> bool {
        self.vision.is_some()
    }

    /// Complete one item. `Err` is a per-item error; the batch goes on.
    pub fn complete(&mut self, item: &CompleteItem) -> Result<Completion, String> {
        if !item.images.is_empty() {
            return self.complete_with_images(item);
        }
        let t0 = std::time::Instant::now();
        let engine = self.engine;
        let tokens = render_prompt(&engine.model, engine.template.as_ref(), item)?;
        let n_ctx = self.n_ctx();
        if tokens.is_empty() {
            return Err("the prompt is empty after tokenization".into());
        }
        let tokens_in = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        if tokens_in >= n_ctx {
            return Err(format!(
                "prompt is {tokens_in} tokens but the context holds {n_ctx} (n_ctx), which \
                 leaves no room for output: split the input or load with a larger n_ctx"
            ));
        }
        let mut sampler = build_sampler(&engine.model, item)?;
        let opts = options(item, self.n_batch);
        self.ctx.clear_kv_cache();
        let out = generate(&mut self.ctx, &engine.model, &mut sampler, &tokens, &opts)?;
        Ok(finished(out, tokens_in, t0))
    }

    /// An item with images: the projector encodes them into the prompt, then generation goes
    /// on as for text.
    fn complete_with_images(&mut self, item: &CompleteItem) -> Result<Completion, String> {
        let t0 = std::time::Instant::now();
        let engine = self.engine;
        let Some(vision) = self.vision.as_mut() else {
            return Err(format!(
                "the item has {} image(s) but no vision projector was loaded (mmproj_path)",
                item.images.len()
            ));
        };
        let text = render_text(
            &engine.model,
            engine.template.as_ref(),
            item,
            Some(Vision::marker()),
        )?;
        let mut sampler = build_sampler(&engine.model, item)?;
        let opts = options(item, self.n_batch);
        self.ctx.clear_kv_cache();
        let prefilled = vision.prefill(&mut self.ctx, text, &item.images, self.n_batch)?;
        let prompt_s = t0.elapsed().as_secs_f64();
        let out = generate_after(
            &mut self.ctx,
            &engine.model,
            &mut sampler,
            prefilled.n_past,
            prompt_s,
            &opts,
        )?;
        Ok(finished(out, prefilled.tokens_in, t0))
    }
}

fn options(item: &CompleteItem, n_batch: u32) -> GenerateOptions {
    GenerateOptions {
        max_tokens: item.max_tokens,
        n_batch,
        // A finished grammar allows nothing but end-of-generation.
        ignore_eos: item.ignore_eos && item.grammar.is_none() && item.json_schema.is_none(),
    }
}

fn finished(out: crate::generate::Generated, tokens_in: u32, t0: std::time::Instant) -> Completion {
    let tokens_out = out.tokens_out;
    Completion {
        text: out.text,
        tokens_in,
        tokens_out,
        finish_reason: out.finish_reason,
        metrics: CompletionMetrics {
            wall_s: t0.elapsed().as_secs_f64(),
            prompt_s: out.prompt_s,
            prompt_tokens_per_s: per_s(tokens_in, out.prompt_s),
            gen_s: out.gen_s,
            gen_tokens_per_s: per_s(tokens_out, out.gen_s),
        },
    }
}

fn per_s(tokens: u32, secs: f64) -> f64 {
    if secs > 0.0 {
        f64::from(tokens) / secs
    } else {
        0.0
    }
}

fn gpu_built() -> bool {
    cfg!(any(feature = "cuda", feature = "vulkan", feature = "metal"))
}

/// "SmolLM2-135M-Instruct.Q4_1.gguf" → "SmolLM2-135M-Instruct.Q4_1".
fn model_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.strip_suffix(".gguf").unwrap_or(&file).to_owned()
}

/// "cpu", or the description ggml gives of the first GPU.
fn device_name(use_gpu: bool) -> String {
    use llama_cpp_2::LlamaBackendDeviceType as T;
    if !use_gpu {
        return "cpu".to_owned();
    }
    llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .find(|d| matches!(d.device_type, T::Gpu | T::IntegratedGpu))
        .map_or_else(
            || "cpu".to_owned(),
            |d| format!("{} ({})", d.description, d.backend),
        )
}
