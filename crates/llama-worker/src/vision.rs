//! Images for a vision-language model: llama.cpp's libmtmd with the model's vision projector
//! (`mmproj` GGUF). The projector turns each image into embeddings that take the place of a
//! media marker in the prompt; generation then goes on as for text.
//!
//! Built only with the `vision` cargo feature (libmtmd is a large extra C++ build); without it
//! a load that names a projector is refused with a message that says why.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;

/// What a prefill with images left in the context.
pub struct Prefilled {
    /// Positions used (where generation continues).
    pub n_past: usize,
    /// Prompt tokens, image tokens included.
    pub tokens_in: u32,
}

#[cfg(feature = "vision")]
pub use with_mtmd::Vision;

#[cfg(not(feature = "vision"))]
pub use without_mtmd::Vision;

#[cfg(feature = "vision")]
mod with_mtmd {
    use std::ffi::CString;
    use std::path::Path;

    use llama_cpp_2::mtmd::{
        MtmdBitmap, MtmdContext, MtmdContextParams, MtmdInputText, mtmd_default_marker,
    };

    use super::{LlamaContext, LlamaModel, Prefilled};

    /// A loaded projector, bound to the text model it was made for.
    pub struct Vision {
        ctx: MtmdContext,
    }

    impl Vision {
        pub fn load(
            mmproj: &Path,
            model: &LlamaModel,
            threads: i32,
            use_gpu: bool,
        ) -> Result<Vision, String> {
            if !mmproj.is_file() {
                return Err(format!(
                    "vision projector {} not found (the model's mmproj GGUF)",
                    mmproj.display()
                ));
            }
            let path = mmproj
                .to_str()
                .ok_or_else(|| format!("{}: path is not UTF-8", mmproj.display()))?;
            let params = MtmdContextParams {
                use_gpu,
                print_timings: false,
                n_threads: threads,
                media_marker: CString::new(mtmd_default_marker())
                    .map_err(|e| format!("media marker: {e}"))?,
                ..MtmdContextParams::default()
            };
            let ctx = MtmdContext::init_from_file(path, model, &params).map_err(|e| {
                format!(
                    "cannot load vision projector {}: {e} (not an mmproj GGUF, or made for \
                     another text model: its projection width must match the model's)",
                    mmproj.display()
                )
            })?;
            if !ctx.support_vision() {
                return Err(format!(
                    "{} has no vision encoder (an audio projector?)",
                    mmproj.display()
                ));
            }
            Ok(Vision { ctx })
        }

        pub fn marker() -> &'static str {
            mtmd_default_marker()
        }

        /// Tokenize `text` (one marker per image), encode the images and decode everything
        /// into the (cleared) context, logits for the last position.
        pub fn prefill(
            &mut self,
            llama: &mut LlamaContext<'_>,
            text: String,
            images: &[String],
            n_batch: u32,
        ) -> Result<Prefilled, String> {
            let mut bitmaps = Vec::with_capacity(images.len());
            for image in images {
                if !Path::new(image).is_file() {
                    return Err(format!("image {image} not found"));
                }
                let bitmap = MtmdBitmap::from_file(&self.ctx, image, false)
                    .map_err(|e| format!("cannot read image {image}: {e} (not a PNG/JPEG?)"))?;
                bitmaps.push(bitmap);
            }
            let refs: Vec<&MtmdBitmap> = bitmaps.iter().collect();
            let chunks = self
                .ctx
                .tokenize(
                    MtmdInputText {
                        text,
                        add_special: true,
                        parse_special: true,
                    },
                    &refs,
                )
                .map_err(|e| format!("cannot prepare the images for the model: {e}"))?;
            let positions = usize::try_from(chunks.total_positions()).unwrap_or(usize::MAX);
            let n_ctx = llama.n_ctx() as usize;
            let tokens_in = u32::try_from(chunks.total_tokens()).unwrap_or(u32::MAX);
            if positions >= n_ctx {
                return Err(format!(
                    "prompt with {} image(s) is {positions} positions but the context holds \
                     {n_ctx} (n_ctx): send fewer images or load with a larger n_ctx",
                    images.len()
                ));
            }
            let n_batch = i32::try_from(n_batch.max(1)).unwrap_or(i32::MAX);
            let n_past = chunks
                .eval_chunks(&mut self.ctx, llama, 0, 0, n_batch, true)
                .map_err(|e| format!("llama.cpp failed on the images and prompt: {e}"))?;
            llama.synchronize();
            Ok(Prefilled {
                n_past: usize::try_from(n_past).unwrap_or(0),
                tokens_in,
            })
        }
    }
}

#[cfg(not(feature = "vision"))]
mod without_mtmd {
    use std::path::Path;

    use super::{LlamaContext, LlamaModel, Prefilled};

    /// Never constructed: this build has no libmtmd.
    pub enum Vision {}

    impl Vision {
        pub fn load(
            mmproj: &Path,
            _model: &LlamaModel,
            _threads: i32,
            _use_gpu: bool,
        ) -> Result<Vision, String> {
            Err(format!(
                "cannot load vision projector {}: this llama worker was built without the \
                 `vision` feature (rebuild with default features)",
                mmproj.display()
            ))
        }

        pub fn marker() -> &'static str {
            ""
        }

        pub fn prefill(
            &mut self,
            _llama: &mut LlamaContext<'_>,
            _text: String,
            _images: &[String],
            _n_batch: u32,
        ) -> Result<Prefilled, String> {
            match *self {}
        }
    }
}
