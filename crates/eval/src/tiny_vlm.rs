//! A tiny synthetic vision projector (`mmproj` GGUF) for tests of the local vision path.
//!
//! No vision-language weights can be fetched offline, so tests pair the real SmolLM2-135M text
//! model with this projector: a LLaVA-style CLIP encoder (`clip.projector_type = "mlp"`) with
//! two 64-wide layers over 16×16 patches of a 64×64 image, and an MLP projection to the text
//! model's embedding width. Its weights are random (a fixed seed), so what the model "sees" is
//! noise — but llama.cpp runs the whole path for real: image decoding and preprocessing, the
//! encoder, the projection into the text model's embedding space and generation after it.
//! Different images give different embeddings, so different prompts.

use std::io::Write;
use std::path::Path;

/// Image tokens this projector gives per image: (64 / 16)².
pub const TOKENS_PER_IMAGE: u32 = 16;

const N_EMBD: u64 = 64;
const N_FF: u64 = 128;
const N_HEAD: u32 = 4;
const N_LAYER: u32 = 2;
const IMAGE: u64 = 64;
const PATCH: u64 = 16;
const HIDDEN: u64 = 128;

/// Write the projector for a text model whose embeddings are `n_embd_text` wide (576 for
/// SmolLM2-135M).
pub fn write_mmproj(path: &Path, n_embd_text: u64) -> std::io::Result<()> {
    let mut g = Gguf::default();
    g.str("general.architecture", "clip");
    g.str("general.name", "nightshift tiny test projector");
    g.bool("clip.has_vision_encoder", true);
    g.str("clip.projector_type", "mlp");
    g.bool("clip.use_gelu", true);
    g.u32("clip.vision.image_size", IMAGE as u32);
    g.u32("clip.vision.patch_size", PATCH as u32);
    g.u32("clip.vision.embedding_length", N_EMBD as u32);
    g.u32("clip.vision.feed_forward_length", N_FF as u32);
    g.u32("clip.vision.projection_dim", n_embd_text as u32);
    g.u32("clip.vision.block_count", N_LAYER);
    g.u32("clip.vision.attention.head_count", N_HEAD);
    g.f32("clip.vision.attention.layer_norm_epsilon", 1e-5);
    g.f32s("clip.vision.image_mean", &[0.5, 0.5, 0.5]);
    g.f32s("clip.vision.image_std", &[0.5, 0.5, 0.5]);

    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let n_pos = (IMAGE / PATCH).pow(2);
    // ggml order: ne[0] is the input width of a matrix.
    g.random(
        "v.patch_embd.weight",
        &[PATCH, PATCH, 3, N_EMBD],
        0.05,
        &mut rng,
    );
    g.random("v.position_embd.weight", &[N_EMBD, n_pos], 0.05, &mut rng);
    g.constant("v.pre_ln.weight", &[N_EMBD], 1.0);
    g.constant("v.pre_ln.bias", &[N_EMBD], 0.0);
    for il in 0..N_LAYER {
        let t = |name: &str| format!("v.blk.{il}.{name}");
        for m in ["attn_q", "attn_k", "attn_v", "attn_out"] {
            g.random(&t(&format!("{m}.weight")), &[N_EMBD, N_EMBD], 0.1, &mut rng);
            g.constant(&t(&format!("{m}.bias")), &[N_EMBD], 0.0);
        }
        for ln in ["ln1", "ln2"] {
            g.constant(&t(&format!("{ln}.weight")), &[N_EMBD], 1.0);
            g.constant(&t(&format!("{ln}.bias")), &[N_EMBD], 0.0);
        }
        g.random(&t("ffn_up.weight"), &[N_EMBD, N_FF], 0.1, &mut rng);
        g.constant(&t("ffn_up.bias"), &[N_FF], 0.0);
        g.random(&t("ffn_down.weight"), &[N_FF, N_EMBD], 0.1, &mut rng);
        g.constant(&t("ffn_down.bias"), &[N_EMBD], 0.0);
    }
    g.random("mm.0.weight", &[N_EMBD, HIDDEN], 0.1, &mut rng);
    g.constant("mm.0.bias", &[HIDDEN], 0.0);
    g.random("mm.2.weight", &[HIDDEN, n_embd_text], 0.05, &mut rng);
    g.constant("mm.2.bias", &[n_embd_text], 0.0);

    let mut f = std::fs::File::create(path)?;
    f.write_all(&g.finish())?;
    f.sync_all()
}

/// xorshift64*: reproducible weights without a dependency.
struct Rng(u64);

impl Rng {
    /// Uniform in [-1, 1).
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40; // 24 bits
        (x as f32 / (1u64 << 23) as f32) - 1.0
    }
}

/// A GGUF v3 file with f32 tensors, built in memory.
#[derive(Default)]
struct Gguf {
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<u8>,
    data: Vec<u8>,
    n_tensors: u64,
}

const ALIGN: usize = 32;

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend((s.len() as u64).to_le_bytes());
    buf.extend(s.as_bytes());
}

impl Gguf {
    fn key(&mut self, key: &str, ty: u32) -> &mut Vec<u8> {
        self.n_kv += 1;
        put_str(&mut self.kv, key);
        self.kv.extend(ty.to_le_bytes());
        &mut self.kv
    }
    fn u32(&mut self, key: &str, v: u32) {
        self.key(key, 4).extend(v.to_le_bytes());
    }
    fn f32(&mut self, key: &str, v: f32) {
        self.key(key, 6).extend(v.to_le_bytes());
    }
    fn bool(&mut self, key: &str, v: bool) {
        self.key(key, 7).push(u8::from(v));
    }
    fn str(&mut self, key: &str, v: &str) {
        put_str(self.key(key, 8), v);
    }
    fn f32s(&mut self, key: &str, v: &[f32]) {
        let b = self.key(key, 9);
        b.extend(6u32.to_le_bytes());
        b.extend((v.len() as u64).to_le_bytes());
        for x in v {
            b.extend(x.to_le_bytes());
        }
    }

    fn tensor(&mut self, name: &str, ne: &[u64], values: impl Iterator<Item = f32>) {
        while !self.data.len().is_multiple_of(ALIGN) {
            self.data.push(0);
        }
        put_str(&mut self.infos, name);
        self.infos.extend((ne.len() as u32).to_le_bytes());
        for d in ne {
            self.infos.extend(d.to_le_bytes());
        }
        self.infos.extend(0u32.to_le_bytes()); // GGML_TYPE_F32
        self.infos.extend((self.data.len() as u64).to_le_bytes());
        for v in values {
            self.data.extend(v.to_le_bytes());
        }
        self.n_tensors += 1;
    }
    fn random(&mut self, name: &str, ne: &[u64], scale: f32, rng: &mut Rng) {
        let n = ne.iter().product::<u64>() as usize;
        let values: Vec<f32> = (0..n).map(|_| rng.next() * scale).collect();
        self.tensor(name, ne, values.into_iter());
    }
    fn constant(&mut self, name: &str, ne: &[u64], v: f32) {
        let n = ne.iter().product::<u64>() as usize;
        self.tensor(name, ne, std::iter::repeat_n(v, n));
    }

    fn finish(self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(b"GGUF");
        out.extend(3u32.to_le_bytes());
        out.extend(self.n_tensors.to_le_bytes());
        out.extend(self.n_kv.to_le_bytes());
        out.extend(&self.kv);
        out.extend(&self.infos);
        while !out.len().is_multiple_of(ALIGN) {
            out.push(0);
        }
        out.extend(&self.data);
        out
    }
}
