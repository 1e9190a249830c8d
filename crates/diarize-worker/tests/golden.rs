//! The speaker embedder through ONNX Runtime against the Python package's own recipe
//! (`scripts/diarize_reference.py golden`): the same excerpt gives the same embedding.

mod common;

use std::path::Path;

use nightshift_diarize::pipeline::DVEC_FRAMES;
use nightshift_diarize::{Embedder, mel};
use nightshift_diarize_worker::embedder::{OnnxEmbedder, init_runtime};

#[test]
fn embedding_matches_the_reference() {
    let dir = common::models_dir();
    let rt = init_runtime(&dir.join("libonnxruntime.so.1.32.0")).unwrap();
    let mut emb = OnnxEmbedder::open(&rt, &dir.join("embedder.int8.onnx"), 2).unwrap();
    for name in ["meeting_01_20s.json", "ami_4spk_0s.json"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../diarize/tests/golden")
            .join(name);
        let g: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        let shared = common::shared_dir();
        let wav = common::decode_range(
            &shared.join(g["source"].as_str().unwrap()),
            g["offset_s"].as_f64().unwrap(),
            10.0,
        );
        // The package's recipe: every 80-frame window (stride 40) of the excerpt in one batch,
        // L2 each, mean, L2.
        let m = mel::log_mel(&wav);
        let frames = m.len() / mel::MEL_BINS;
        let n = 1 + (frames - DVEC_FRAMES) / 40;
        let mut windows = Vec::with_capacity(n * DVEC_FRAMES * mel::MEL_BINS);
        for i in 0..n {
            windows.extend_from_slice(
                &m[i * 40 * mel::MEL_BINS..(i * 40 + DVEC_FRAMES) * mel::MEL_BINS],
            );
        }
        let v = emb.embed(&windows, n).unwrap();
        let dim = emb.dim();
        let mut mean = vec![0.0f32; dim];
        for row in v.chunks_exact(dim) {
            mean.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
        let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
        let want: Vec<f64> = g["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let cos: f64 = mean
            .iter()
            .zip(&want)
            .map(|(a, b)| *a as f64 / norm as f64 * b)
            .sum();
        println!("{name}: cosine to the reference embedding {cos:.6}");
        assert!(cos > 0.9999, "{name}: cosine {cos}");
    }
}
