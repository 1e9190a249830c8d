//! whisper.cpp's ggml model header (`ggml-*.bin`): magic, hparams, mel filters, vocabulary,
//! then tensors. Only the header is read; the weights are what follows it.

use std::io::{Read, Seek};

use crate::error::{PlanError, Result};
use crate::reader::Reader;

/// `0x67676d6c` ("ggml") as a little-endian u32.
pub const MAGIC: [u8; 4] = 0x6767_6d6c_u32.to_le_bytes();

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhisperHparams {
    pub n_vocab: u32,
    pub n_audio_ctx: u32,
    pub n_audio_state: u32,
    pub n_audio_head: u32,
    pub n_audio_layer: u32,
    pub n_text_ctx: u32,
    pub n_text_state: u32,
    pub n_text_head: u32,
    pub n_text_layer: u32,
    pub n_mels: u32,
    /// Weight type (0 f32, 1 f16, 7 q8_0, …) without the quantization-version factor.
    pub ftype: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhisperHeader {
    pub hparams: WhisperHparams,
    /// Bytes before the first tensor (magic, hparams, mel filters, vocabulary).
    pub header_bytes: u64,
    pub file_len: u64,
}

impl WhisperHeader {
    pub fn weights_bytes(&self) -> u64 {
        self.file_len - self.header_bytes
    }

    pub fn parse<R: Read + Seek>(inner: R, file_len: u64) -> Result<WhisperHeader> {
        let mut r = Reader::new(inner, file_len);
        let magic = r.array::<4>("magic")?;
        if magic != MAGIC {
            return Err(PlanError::UnknownFormat(magic));
        }
        let mut h = [0u32; 11];
        for (i, v) in h.iter_mut().enumerate() {
            let x = r.i32("hparams")?;
            // ftype carries the quantization version × 1000.
            let max = if i == 10 { 100_000 } else { 1 << 20 };
            *v = u32::try_from(x)
                .ok()
                .filter(|&x| x <= max)
                .ok_or_else(|| not_whisper(format!("hparam #{i} = {x}")))?;
        }
        let hparams = WhisperHparams {
            n_vocab: h[0],
            n_audio_ctx: h[1],
            n_audio_state: h[2],
            n_audio_head: h[3],
            n_audio_layer: h[4],
            n_text_ctx: h[5],
            n_text_state: h[6],
            n_text_head: h[7],
            n_text_layer: h[8],
            n_mels: h[9],
            ftype: h[10] % 1000,
        };
        if h[..10].contains(&0) || hparams.n_mels > 512 {
            return Err(not_whisper(format!("{hparams:?}")));
        }
        let n_mel = r.i32("mel filters")?;
        let n_fft = r.i32("mel filters")?;
        let filters = u64::try_from(n_mel)
            .ok()
            .zip(u64::try_from(n_fft).ok())
            .and_then(|(a, b)| a.checked_mul(b)?.checked_mul(4))
            .ok_or_else(|| not_whisper(format!("mel filters {n_mel} × {n_fft}")))?;
        r.skip(filters, "mel filters")?;
        let n_words = r.i32("vocabulary size")?;
        let n_words = u64::try_from(n_words)
            .map_err(|_| not_whisper(format!("vocabulary size {n_words}")))?;
        r.need(n_words.saturating_mul(4), "vocabulary")?;
        for _ in 0..n_words {
            let len = r.u32("token length")?;
            r.skip(len.into(), "token")?;
        }
        Ok(WhisperHeader {
            hparams,
            header_bytes: r.pos(),
            file_len,
        })
    }
}

fn not_whisper(detail: String) -> PlanError {
    PlanError::Invalid(format!("ggml file is not a whisper model ({detail})"))
}
