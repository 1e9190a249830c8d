//! A BERT encoder (post-LayerNorm, absolute positions, exact GELU) on the CPU, one unpadded
//! sequence at a time, every matrix product one `matrixmultiply::sgemm`. Only what
//! all-MiniLM-L6-v2 needs; the sizes come from `config.json` and are checked against every
//! tensor.

use std::collections::HashMap;

use serde::Deserialize;

/// `config.json` fields the forward pass needs.
#[derive(Debug, Deserialize)]
pub struct Config {
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub vocab_size: usize,
    #[serde(default = "Config::default_act")]
    pub hidden_act: String,
    #[serde(default = "Config::default_eps")]
    pub layer_norm_eps: f64,
}

impl Config {
    fn default_act() -> String {
        "gelu".into()
    }

    fn default_eps() -> f64 {
        1e-12
    }
}

/// A `Linear` layer: PyTorch's `[out, in]` weight and its bias.
#[derive(Debug)]
struct Linear {
    w: Vec<f32>,
    b: Vec<f32>,
    n_in: usize,
    n_out: usize,
}

#[derive(Debug)]
struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
}

#[derive(Debug)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    up: Linear,
    down: Linear,
    out_norm: Norm,
}

#[derive(Debug)]
pub struct Bert {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    eps: f32,
    /// Longest sequence the position table covers.
    pub max_positions: usize,
    pub vocab_size: usize,
}

/// Tensors by name: shape and row-major data.
type TensorMap = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Named f32 tensors of a safetensors file, taken out one by one with their shape checked.
struct Tensors(TensorMap);

impl Tensors {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let (s, data) = self
            .0
            .remove(name)
            .ok_or_else(|| format!("tensor {name} missing"))?;
        if s != shape {
            return Err(format!("tensor {name} has shape {s:?}, expected {shape:?}"));
        }
        Ok(data)
    }

    fn linear(&mut self, name: &str, n_in: usize, n_out: usize) -> Result<Linear, String> {
        Ok(Linear {
            w: self.take(&format!("{name}.weight"), &[n_out, n_in])?,
            b: self.take(&format!("{name}.bias"), &[n_out])?,
            n_in,
            n_out,
        })
    }

    fn norm(&mut self, name: &str, n: usize) -> Result<Norm, String> {
        Ok(Norm {
            w: self.take(&format!("{name}.weight"), &[n])?,
            b: self.take(&format!("{name}.bias"), &[n])?,
        })
    }
}

impl Bert {
    /// The encoder from the bytes of a `model.safetensors` (HF `BertModel` names, optionally
    /// under `bert.`) and its config.
    pub fn from_safetensors(bytes: &[u8], config: &Config) -> Result<Bert, String> {
        if config.hidden_act != "gelu" {
            return Err(format!(
                "hidden_act {:?}: only exact gelu is implemented",
                config.hidden_act
            ));
        }
        let (h, heads) = (config.hidden_size, config.num_attention_heads);
        if config.max_position_embeddings < 2 {
            // Every sequence holds at least [CLS] and [SEP].
            return Err(format!(
                "max_position_embeddings {}: at least 2",
                config.max_position_embeddings
            ));
        }
        if h == 0 || heads == 0 || h % heads != 0 {
            return Err(format!("hidden size {h} does not split into {heads} heads"));
        }
        let mut t = Tensors(
            read_safetensors(bytes)?
                .into_iter()
                .map(|(k, v)| (k.strip_prefix("bert.").map(str::to_string).unwrap_or(k), v))
                .collect(),
        );
        let ff = config.intermediate_size;
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    query: t.linear(&format!("{p}.attention.self.query"), h, h)?,
                    key: t.linear(&format!("{p}.attention.self.key"), h, h)?,
                    value: t.linear(&format!("{p}.attention.self.value"), h, h)?,
                    attn_out: t.linear(&format!("{p}.attention.output.dense"), h, h)?,
                    attn_norm: t.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                    up: t.linear(&format!("{p}.intermediate.dense"), h, ff)?,
                    down: t.linear(&format!("{p}.output.dense"), ff, h)?,
                    out_norm: t.norm(&format!("{p}.output.LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Bert {
            word: t.take("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position: t.take(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type: t
                .0
                .remove("embeddings.token_type_embeddings.weight")
                .filter(|(s, _)| s.len() == 2 && s[1] == h && s[0] >= 1)
                .map(|(_, d)| d[..h].to_vec())
                .ok_or("tensor embeddings.token_type_embeddings.weight missing or misshapen")?,
            embed_norm: t.norm("embeddings.LayerNorm", h)?,
            layers,
            hidden: h,
            heads,
            eps: config.layer_norm_eps as f32,
            max_positions: config.max_position_embeddings,
            vocab_size: config.vocab_size,
        })
    }

    /// Last hidden states, `ids.len() × hidden` row-major, of one sequence (token type 0, no
    /// padding). Ids must be below `vocab_size` and at most `max_positions` long.
    pub fn forward(&self, ids: &[u32]) -> Vec<f32> {
        let (t, h) = (ids.len(), self.hidden);
        assert!(
            t <= self.max_positions,
            "sequence longer than the position table"
        );
        let mut x = vec![0f32; t * h];
        for (i, &id) in ids.iter().enumerate() {
            let id = id as usize;
            assert!(id < self.vocab_size, "token id {id} out of the vocabulary");
            let row = &mut x[i * h..(i + 1) * h];
            let word = &self.word[id * h..(id + 1) * h];
            let pos = &self.position[i * h..(i + 1) * h];
            for (j, v) in row.iter_mut().enumerate() {
                *v = word[j] + pos[j] + self.token_type[j];
            }
        }
        layer_norm(&mut x, &self.embed_norm, h, self.eps);
        for layer in &self.layers {
            self.layer(layer, &mut x, t);
        }
        x
    }

    fn layer(&self, l: &Layer, x: &mut [f32], t: usize) {
        let h = self.hidden;
        let q = l.query.apply(x, t);
        let k = l.key.apply(x, t);
        let v = l.value.apply(x, t);
        let ctx = self.attention(&q, &k, &v, t);
        let mut a = l.attn_out.apply(&ctx, t);
        add(&mut a, x);
        layer_norm(&mut a, &l.attn_norm, h, self.eps);
        let mut up = l.up.apply(&a, t);
        up.iter_mut().for_each(|v| *v = gelu(*v));
        let mut out = l.down.apply(&up, t);
        add(&mut out, &a);
        layer_norm(&mut out, &l.out_norm, h, self.eps);
        x.copy_from_slice(&out);
    }

    /// Scaled dot-product attention per head; `q`, `k`, `v` and the result are `t × hidden`
    /// with head `i` in columns `i·d .. (i+1)·d`.
    fn attention(&self, q: &[f32], k: &[f32], v: &[f32], t: usize) -> Vec<f32> {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let mut ctx = vec![0f32; t * h];
        let mut scores = vec![0f32; t * t];
        for head in 0..self.heads {
            let off = head * d;
            // scores = Q_h · K_hᵀ
            gemm(
                View::strided(&q[off..], t, d, h, 1),
                View::strided(&k[off..], d, t, 1, h),
                &mut scores,
                t,
                0.0,
            );
            for row in scores.chunks_exact_mut(t) {
                softmax(row, scale);
            }
            // ctx_h = softmax · V_h, written into its columns of ctx.
            gemm(
                View::strided(&scores, t, t, t, 1),
                View::strided(&v[off..], t, d, h, 1),
                &mut ctx[off..],
                h,
                0.0,
            );
        }
        ctx
    }
}

impl Linear {
    /// `x · Wᵀ + b` for `t` rows of `n_in`.
    fn apply(&self, x: &[f32], t: usize) -> Vec<f32> {
        let mut y: Vec<f32> = (0..t).flat_map(|_| self.b.iter().copied()).collect();
        gemm(
            View::strided(x, t, self.n_in, self.n_in, 1),
            // Wᵀ: element (i, o) of the `n_in × n_out` product operand is w[o][i].
            View::strided(&self.w, self.n_in, self.n_out, 1, self.n_in),
            &mut y,
            self.n_out,
            1.0,
        );
        y
    }
}

fn add(a: &mut [f32], b: &[f32]) {
    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
}

fn layer_norm(x: &mut [f32], n: &Norm, h: usize, eps: f32) {
    for row in x.chunks_exact_mut(h) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for (j, v) in row.iter_mut().enumerate() {
            *v = (*v - mean) * inv * n.w[j] + n.b[j];
        }
    }
}

fn softmax(row: &mut [f32], scale: f32) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v * scale));
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v * scale - max).exp();
        sum += *v;
    }
    row.iter_mut().for_each(|v| *v /= sum);
}

/// Exact GELU, `x · Φ(x)`, as BERT's `gelu` (not the tanh approximation).
fn gelu(x: f32) -> f32 {
    let x = f64::from(x);
    (0.5 * x * (2.0 - erfc(x / std::f64::consts::SQRT_2))) as f32
}

/// Complementary error function, fractional error below 1.2e-7 everywhere (Numerical Recipes'
/// Chebyshev fit) — well under f32 resolution for GELU.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// A read-only matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    fn strided(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * rs + (cols - 1) * cs;
            assert!(last < data.len(), "matrix view out of bounds");
        }
        View {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }
}

/// `c = a · b + beta · c`, with `c` `a.rows × b.cols` at row stride `c_rs` (column stride 1).
fn gemm(a: View<'_>, b: View<'_>, c: &mut [f32], c_rs: usize, beta: f32) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    if a.rows == 0 || b.cols == 0 {
        return;
    }
    assert!(b.cols <= c_rs, "output rows overlap");
    assert!((a.rows - 1) * c_rs + b.cols <= c.len(), "output too small");
    // SAFETY: `View::strided` proved every element the strides of `a` and `b` reach lies inside
    // their slices, and the asserts above that `c` holds `a.rows` rows of `b.cols` at stride
    // `c_rs` without overlap; the slices do not alias (`c` is `&mut`).
    unsafe {
        matrixmultiply::sgemm(
            a.rows,
            a.cols,
            b.cols,
            1.0,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            c_rs as isize,
            1,
        );
    }
}

/// Every F32 tensor of a safetensors file (`I64` ones, like `position_ids`, are skipped).
/// Every length and offset is checked against the file before anything is allocated from it.
fn read_safetensors(bytes: &[u8]) -> Result<TensorMap, String> {
    #[derive(Deserialize)]
    struct Entry {
        dtype: String,
        shape: Vec<usize>,
        data_offsets: [usize; 2],
    }
    let head_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .ok_or("shorter than a safetensors header")?;
    let data_start = 8usize
        .checked_add(head_len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| format!("header length {head_len} runs past the file"))?;
    let header: HashMap<String, serde_json::Value> = serde_json::from_slice(&bytes[8..data_start])
        .map_err(|e| format!("header is not JSON: {e}"))?;
    let data = &bytes[data_start..];
    let mut out = HashMap::new();
    for (name, value) in header {
        if name == "__metadata__" {
            continue;
        }
        let e: Entry = serde_json::from_value(value).map_err(|e| format!("tensor {name}: {e}"))?;
        if e.dtype != "F32" {
            continue;
        }
        let [from, to] = e.data_offsets;
        let count = e
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| format!("tensor {name}: shape {:?} overflows", e.shape))?;
        if from > to || to > data.len() || Some(to - from) != count.checked_mul(4) {
            return Err(format!("tensor {name}: offsets {from}..{to} do not fit"));
        }
        let values = data[from..to]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        out.insert(name, (e.shape, values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_known_values() {
        // 0.5·x·(1 + erf(x/√2)) from Python's math.erf.
        for (x, want) in [
            (0.0f32, 0.0f32),
            (1.0, 0.841_344_7),
            (-1.0, -0.158_655_3),
            (2.5, 2.484_475_8),
            (-3.0, -0.004_049_9),
        ] {
            assert!((gelu(x) - want).abs() < 1e-6, "gelu({x}) = {}", gelu(x));
        }
    }

    #[test]
    fn gemm_writes_into_strided_columns() {
        // [1 2; 3 4] · [1 0; 0 1] into columns 1..3 of a 2 × 3 buffer.
        let a = [1.0, 2.0, 3.0, 4.0];
        let i = [1.0, 0.0, 0.0, 1.0];
        let mut c = [9.0f32; 6];
        gemm(
            View::strided(&a, 2, 2, 2, 1),
            View::strided(&i, 2, 2, 2, 1),
            &mut c[1..],
            3,
            0.0,
        );
        assert_eq!(c, [9.0, 1.0, 2.0, 9.0, 3.0, 4.0]);
    }

    #[test]
    fn refuses_a_shape_whose_byte_size_overflows() {
        // 2^62 elements: the count fits a usize, four bytes each do not.
        let head = br#"{"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}"#;
        let mut bytes = (head.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(head);
        assert!(read_safetensors(&bytes).unwrap_err().contains("do not fit"));
    }

    #[test]
    fn refuses_a_truncated_file() {
        let mut bytes = 40u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        assert!(read_safetensors(&bytes).unwrap_err().contains("runs past"));
    }
}
