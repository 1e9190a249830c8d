//! The Rust sentence embedder against `scripts/minilm_reference.py golden` (numpy in float64,
//! tokens from HF `tokenizers` reading the same tokenizer.json): the same token ids, and
//! embeddings whose cosine with the reference is at least 0.9999. Needs the model that
//! `scripts/fetch-embedding-model.sh` fetches; fails, never skips, without it.

use nightshift_embed::{Embedder, cosine, embedding_model_dir};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<GoldenCase>,
}

#[derive(Deserialize)]
struct GoldenCase {
    text: String,
    ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn golden() -> Golden {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/minilm.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn embedder() -> Embedder {
    let dir = embedding_model_dir().unwrap_or_else(|e| panic!("{e}"));
    Embedder::load(&dir).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn tokens_and_embeddings_match_the_numpy_reference() {
    let golden = golden();
    let model = embedder();
    let texts: Vec<&str> = golden.cases.iter().map(|c| c.text.as_str()).collect();
    let got = model.embed(&texts);
    for (case, emb) in golden.cases.iter().zip(&got) {
        assert_eq!(
            model.tokenize(&case.text),
            case.ids,
            "tokens of {:?}",
            case.text
        );
        assert_eq!(emb.len(), 384);
        let norm: f32 = emb.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        let c = cosine(emb, &case.embedding);
        println!("cosine with the reference {c:.7}  {:?}", case.text);
        assert!(c >= 0.9999, "cosine {c} for {:?}", case.text);
    }
}

#[test]
fn published_similarities_of_the_model_card_example() {
    // sentence-transformers' own example for all-MiniLM-L6-v2 prints these similarities
    // (0.6660, 0.1046, 0.1411); an independent check of the whole path, pooling included.
    let model = embedder();
    let e = model.embed(&[
        "The weather is lovely today.",
        "It's so sunny outside!",
        "He drove to the stadium.",
    ]);
    for (i, j, want) in [(0, 1, 0.6660), (0, 2, 0.1046), (1, 2, 0.1411)] {
        let got = cosine(&e[i], &e[j]);
        assert!(
            (got - want).abs() < 5e-4,
            "sim({i},{j}) = {got}, expected {want}"
        );
    }
}

#[test]
fn long_texts_are_cut_at_the_sequence_limit() {
    let model = embedder();
    let long = "word ".repeat(1000);
    let ids = model.tokenize(&long);
    assert_eq!(ids.len(), nightshift_embed::MAX_TOKENS);
    assert_eq!(model.embed(&[&long])[0].len(), 384);
}
