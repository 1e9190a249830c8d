//! Print the log-mel of the first frame and the d-vector of the first 0.82 s of a raw f32le
//! 16 kHz file: a quick comparison with the Python reference (`scripts/diarize_reference.py`).
use nightshift_diarize::pipeline::DVEC_SAMPLES;
use nightshift_diarize::{Embedder, mel};
use nightshift_diarize_worker::embedder::{OnnxEmbedder, init_runtime};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1]).unwrap();
    let s: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let dir = std::path::PathBuf::from(std::env::var("NIGHTSHIFT_DIARIZATION_MODELS").unwrap());
    let m = mel::log_mel(&s[..DVEC_SAMPLES]);
    println!("mel0 {:?}", &m[..6]);
    let rt = init_runtime(&dir.join("libonnxruntime.so.1.32.0")).unwrap();
    let mut e = OnnxEmbedder::open(&rt, &dir.join("embedder.int8.onnx"), 1).unwrap();
    let v = e.embed(&m, 1).unwrap();
    println!("emb {:?}", &v[..6]);
}
