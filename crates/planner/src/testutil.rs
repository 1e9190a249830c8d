//! A GGUF writer for tests: headers of any shape without gigabytes of weights (the file length
//! is passed to the parser, so the data section need not exist).

use std::io::Cursor;

use crate::gguf::Gguf;
use crate::model::Model;

pub struct GgufWriter {
    version: u32,
    kv: Vec<u8>,
    n_kv: u64,
    tensors: Vec<u8>,
    n_tensors: u64,
    data_len: u64,
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend((s.len() as u64).to_le_bytes());
    buf.extend(s.as_bytes());
}

impl GgufWriter {
    pub fn new(version: u32) -> GgufWriter {
        GgufWriter {
            version,
            kv: vec![],
            n_kv: 0,
            tensors: vec![],
            n_tensors: 0,
            data_len: 0,
        }
    }

    fn key(&mut self, key: &str, ty: u32) -> &mut Vec<u8> {
        self.n_kv += 1;
        put_str(&mut self.kv, key);
        self.kv.extend(ty.to_le_bytes());
        &mut self.kv
    }

    pub fn u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.key(key, 4).extend(v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, key: &str, v: u64) -> &mut Self {
        self.key(key, 10).extend(v.to_le_bytes());
        self
    }
    pub fn f32(&mut self, key: &str, v: f32) -> &mut Self {
        self.key(key, 6).extend(v.to_le_bytes());
        self
    }
    pub fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.key(key, 7).push(v as u8);
        self
    }
    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        put_str(self.key(key, 8), v);
        self
    }
    pub fn u32s(&mut self, key: &str, v: &[u32]) -> &mut Self {
        let b = self.key(key, 9);
        b.extend(4u32.to_le_bytes());
        b.extend((v.len() as u64).to_le_bytes());
        for x in v {
            b.extend(x.to_le_bytes());
        }
        self
    }
    pub fn i32s(&mut self, key: &str, v: &[i32]) -> &mut Self {
        let b = self.key(key, 9);
        b.extend(5u32.to_le_bytes());
        b.extend((v.len() as u64).to_le_bytes());
        for x in v {
            b.extend(x.to_le_bytes());
        }
        self
    }
    pub fn bools(&mut self, key: &str, v: &[bool]) -> &mut Self {
        let b = self.key(key, 9);
        b.extend(7u32.to_le_bytes());
        b.extend((v.len() as u64).to_le_bytes());
        b.extend(v.iter().map(|&x| x as u8));
        self
    }
    pub fn strs(&mut self, key: &str, v: &[String]) -> &mut Self {
        let b = self.key(key, 9);
        b.extend(8u32.to_le_bytes());
        b.extend((v.len() as u64).to_le_bytes());
        for s in v {
            put_str(b, s);
        }
        self
    }
    /// A raw value of any type id (for odd and invalid cases).
    pub fn raw(&mut self, key: &str, ty: u32, bytes: &[u8]) -> &mut Self {
        self.key(key, ty).extend(bytes);
        self
    }

    /// A tensor of ggml type `ty`; its data is laid out after the previous one, 32-aligned.
    pub fn tensor(&mut self, name: &str, dims: &[u64], ty: u32) -> &mut Self {
        let t = crate::ggml_type::GgmlType::from_id(ty).unwrap();
        let n: u64 = dims.iter().product();
        let bytes = t.bytes_for(n).unwrap();
        self.n_tensors += 1;
        put_str(&mut self.tensors, name);
        self.tensors.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            self.tensors.extend(d.to_le_bytes());
        }
        self.tensors.extend(ty.to_le_bytes());
        self.tensors.extend(self.data_len.to_le_bytes());
        self.data_len += bytes.div_ceil(32) * 32;
        self
    }

    pub fn header(&self) -> Vec<u8> {
        let mut h = b"GGUF".to_vec();
        h.extend(self.version.to_le_bytes());
        h.extend(self.n_tensors.to_le_bytes());
        h.extend(self.n_kv.to_le_bytes());
        h.extend(&self.kv);
        h.extend(&self.tensors);
        h
    }

    /// Length of the whole file this header describes.
    pub fn file_len(&self) -> u64 {
        (self.header().len() as u64).div_ceil(32) * 32 + self.data_len
    }

    pub fn parse(&self) -> Gguf {
        Gguf::parse(Cursor::new(self.header()), self.file_len()).unwrap()
    }

    pub fn model(&self) -> Model {
        Model::from_gguf(&self.parse()).unwrap()
    }
}

pub const F32: u32 = 0;
pub const F16: u32 = 1;
pub const Q4_K: u32 = 12;
pub const Q6_K: u32 = 14;

/// A llama-style block: attention with GQA and a gated FFN; `big` = the Q6_K tensors of a
/// Q4_K_M mix (attn_v, ffn_down on about half the layers).
fn llama_block(w: &mut GgufWriter, il: u32, e: u64, q_dim: u64, kv_dim: u64, ff: u64, big: bool) {
    let p = |n: &str| format!("blk.{il}.{n}.weight");
    let vd = if big { Q6_K } else { Q4_K };
    w.tensor(&p("attn_norm"), &[e], F32)
        .tensor(&p("attn_q"), &[e, q_dim], Q4_K)
        .tensor(&p("attn_k"), &[e, kv_dim], Q4_K)
        .tensor(&p("attn_v"), &[e, kv_dim], vd)
        .tensor(&p("attn_output"), &[q_dim, e], Q4_K)
        .tensor(&p("ffn_norm"), &[e], F32)
        .tensor(&p("ffn_gate"), &[e, ff], Q4_K)
        .tensor(&p("ffn_up"), &[e, ff], Q4_K)
        .tensor(&p("ffn_down"), &[ff, e], vd);
}

/// Llama 3.1 8B Instruct Q4_K_M: 32 layers, 8 KV heads of 128, vocab 128256 (≈ 4.9 GB).
pub fn llama_8b_q4_k_m() -> GgufWriter {
    let (e, ff, vocab, layers) = (4096u64, 14336u64, 128_256u64, 32u32);
    let mut w = GgufWriter::new(3);
    w.str("general.architecture", "llama")
        .str("general.name", "Meta Llama 3.1 8B Instruct")
        .u32("llama.block_count", layers)
        .u32("llama.context_length", 131_072)
        .u32("llama.embedding_length", e as u32)
        .u32("llama.feed_forward_length", ff as u32)
        .u32("llama.attention.head_count", 32)
        .u32("llama.attention.head_count_kv", 8)
        .f32("llama.rope.freq_base", 500_000.0)
        .u32("general.file_type", 15)
        .strs(
            "tokenizer.ggml.tokens",
            &(0..vocab).map(|i| format!("t{i}")).collect::<Vec<_>>(),
        )
        .i32s("tokenizer.ggml.token_type", &vec![1; vocab as usize])
        .u32("general.quantization_version", 2);
    w.tensor("token_embd.weight", &[e, vocab], Q4_K);
    for il in 0..layers {
        llama_block(&mut w, il, e, e, 1024, ff, il % 2 == 0);
    }
    w.tensor("output_norm.weight", &[e], F32)
        .tensor("output.weight", &[e, vocab], Q6_K);
    w
}

/// Gemma 3 4B Q4_K_M: 34 layers, 4 KV heads of 256, sliding window 1024 on 5 of every 6
/// layers, tied embeddings, vocab 262144.
pub fn gemma3_4b_q4_k_m() -> GgufWriter {
    let (e, ff, vocab, layers) = (2560u64, 10240u64, 262_144u64, 34u32);
    let mut w = GgufWriter::new(3);
    w.str("general.architecture", "gemma3")
        .u32("gemma3.block_count", layers)
        .u32("gemma3.context_length", 131_072)
        .u32("gemma3.embedding_length", e as u32)
        .u32("gemma3.feed_forward_length", ff as u32)
        .u32("gemma3.attention.head_count", 8)
        .u32("gemma3.attention.head_count_kv", 4)
        .u32("gemma3.attention.key_length", 256)
        .u32("gemma3.attention.value_length", 256)
        .u32("gemma3.attention.sliding_window", 1024);
    w.tensor("token_embd.weight", &[e, vocab], Q6_K);
    for il in 0..layers {
        llama_block(&mut w, il, e, 2048, 1024, ff, il % 2 == 0);
    }
    w.tensor("output_norm.weight", &[e], F32);
    w
}

/// Gemma 3's SigLIP projector (`mmproj-*-f16.gguf`): 27 ViT layers at 896 px, patch 14.
pub fn gemma3_mmproj_f16() -> GgufWriter {
    let (e, ff, layers) = (1152u64, 4304u64, 27u32);
    let mut w = GgufWriter::new(3);
    w.str("general.architecture", "clip")
        .bool("clip.has_vision_encoder", true)
        .str("clip.projector_type", "gemma3")
        .u32("clip.vision.image_size", 896)
        .u32("clip.vision.patch_size", 14)
        .u32("clip.vision.embedding_length", e as u32)
        .u32("clip.vision.feed_forward_length", ff as u32)
        .u32("clip.vision.block_count", layers)
        .u32("clip.vision.attention.head_count", 16)
        .u32("clip.vision.projection_dim", 2560);
    w.tensor("v.patch_embd.weight", &[14, 14, 3, e], F16)
        .tensor("v.position_embd.weight", &[e, 4096], F16);
    for il in 0..layers {
        let p = |n: &str| format!("v.blk.{il}.{n}.weight");
        for n in ["attn_q", "attn_k", "attn_v", "attn_out"] {
            w.tensor(&p(n), &[e, e], F16);
        }
        w.tensor(&p("ffn_up"), &[e, ff], F16)
            .tensor(&p("ffn_down"), &[ff, e], F16)
            .tensor(&p("ln1"), &[e], F32)
            .tensor(&p("ln2"), &[e], F32);
    }
    w.tensor("mm.input_projection.weight", &[2560, e], F16);
    w
}
