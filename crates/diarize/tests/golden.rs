//! The Rust segmentation network against the numpy reference (`scripts/diarize_reference.py
//! golden`, itself checked against pyannote.audio) on two 10 s corpus excerpts, and the CAM++
//! embedder with its fbank front end against `scripts/campplus_reference.py golden`. The weights
//! come from scripts/fetch-diarization-models.sh.

use std::path::{Path, PathBuf};
use std::process::Command;

use nightshift_diarize::{Segmenter, segmentation};
use serde_json::Value;

fn models_dir() -> PathBuf {
    let dir = std::env::var_os("NIGHTSHIFT_DIARIZATION_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").expect("HOME"))
                .join(".cache/nightshift-models/diarization")
        });
    assert!(
        dir.join("segmentation-3.0.safetensors").is_file(),
        "{}: segmentation weights missing; run scripts/fetch-diarization-models.sh",
        dir.display()
    );
    dir
}

fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("NIGHTSHIFT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("corpus").is_dir(),
        "{}: shared corpus not found",
        dir.display()
    );
    dir
}

fn golden(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).expect("golden file")).expect("json")
}

/// The excerpt, decoded the way the golden file says.
fn audio(g: &Value) -> Vec<f32> {
    let file = shared_dir().join(g["source"].as_str().unwrap());
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-ss"])
        .arg(g["offset_s"].as_f64().unwrap().to_string())
        .args(["-t", "10", "-i"])
        .arg(&file)
        .args(["-ac", "1", "-ar", "16000", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    let s: Vec<f32> = out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(s.len(), g["samples"].as_u64().unwrap() as usize);
    s
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn segmentation_matches_the_reference() {
    let seg = Segmenter::open(&models_dir().join("segmentation-3.0.safetensors")).unwrap();
    for name in ["meeting_01_20s.json", "ami_4spk_0s.json"] {
        let g = golden(name);
        let wav = audio(&g);
        let out = seg.forward(&[&wav]);
        let want = rows(&g["segmentation_logprobs"]);
        assert_eq!(out[0].len(), want.len() * segmentation::CLASSES);
        // Probabilities within 1e-4 (the golden values are rounded to 6 digits, and f32
        // accumulation differs from numpy's f64).
        let mut worst = 0.0f64;
        for (got, want) in out[0].chunks_exact(segmentation::CLASSES).zip(&want) {
            for (g, w) in got.iter().zip(want) {
                worst = worst.max(((*g as f64).exp() - w.exp()).abs());
            }
        }
        assert!(worst < 1e-4, "{name}: max probability difference {worst}");
        let argmax: String = out[0]
            .chunks_exact(segmentation::CLASSES)
            .map(|r| {
                let i = (0..r.len()).max_by(|a, b| r[*a].total_cmp(&r[*b])).unwrap();
                char::from(b'0' + i as u8)
            })
            .collect();
        let want_argmax = g["segmentation_argmax"].as_str().unwrap();
        let same = argmax
            .chars()
            .zip(want_argmax.chars())
            .filter(|(a, b)| a == b)
            .count();
        assert!(
            same + 2 >= want_argmax.len(),
            "{name}: {same}/{} frames agree",
            want_argmax.len()
        );
        println!(
            "{name}: max |Δp| {worst:.2e}, {same}/{} frames agree",
            want_argmax.len()
        );
    }
}

/// `seconds` of `source` from `offset_s`, decoded as the reference script decodes it.
fn excerpt(source: &str, offset_s: f64, seconds: f64) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-ss"])
        .arg(offset_s.to_string())
        .arg("-t")
        .arg(seconds.to_string())
        .arg("-i")
        .arg(shared_dir().join(source))
        .args(["-ac", "1", "-ar", "16000", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn campplus_matches_the_reference() {
    use nightshift_diarize::campplus::CamPlus;
    use nightshift_diarize::fbank::{self, FBANK_BINS};
    let model = CamPlus::open(&models_dir().join("campplus.safetensors"), 1).unwrap();
    let g = golden("campplus.json");
    for case in g["cases"].as_array().unwrap() {
        let source = case["source"].as_str().unwrap();
        let wav = excerpt(
            source,
            case["offset_s"].as_f64().unwrap(),
            case["seconds"].as_f64().unwrap(),
        );
        let feats = fbank::fbank(&wav);
        let frames = feats.len() / FBANK_BINS;
        assert_eq!(frames as u64, case["frames"].as_u64().unwrap(), "{source}");
        let want_rows = rows(&case["fbank"]);
        let mut worst_fbank = 0.0f64;
        for (r, want) in case["fbank_rows"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&want_rows)
        {
            let r = r.as_u64().unwrap() as usize;
            for (a, b) in feats[r * FBANK_BINS..(r + 1) * FBANK_BINS].iter().zip(want) {
                worst_fbank = worst_fbank.max((*a as f64 - b).abs());
            }
        }
        // Log energies computed in f32 here, f64 in numpy, rounded to 5 decimals there.
        assert!(
            worst_fbank < 2e-3,
            "{source}: max fbank difference {worst_fbank}"
        );
        let got = model.forward(&feats, frames);
        let want: Vec<f64> = case["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let dot: f64 = got.iter().zip(&want).map(|(a, b)| *a as f64 * b).sum();
        let na: f64 = got.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = want.iter().map(|b| b.powi(2)).sum::<f64>().sqrt();
        let cos = dot / (na * nb);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        println!(
            "{source}: fbank max |Δ| {worst_fbank:.1e}, embedding cosine {cos:.7}, max |Δ| {worst:.1e}"
        );
        assert!(cos > 0.99999, "{source}: embedding cosine {cos}");
    }
}
