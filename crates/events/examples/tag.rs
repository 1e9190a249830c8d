//! Print the top YAMNet classes per patch of a 16 kHz mono f32le file (for tuning the groups):
//! `ffmpeg -i X -f f32le -ac 1 -ar 16000 - | tag MODEL_DIR [threads]`.
use std::io::Read;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::Path::new(&args[1]);
    let threads: usize = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(2);
    let model =
        nightshift_events::Yamnet::load(&dir.join("model.onnx"), &dir.join("yamnet_class_map.csv"))
            .unwrap();
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes).unwrap();
    let samples: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let t = std::time::Instant::now();
    let mut tagger = nightshift_events::Tagger::new(&model, threads);
    tagger.push(&samples).unwrap();
    let patches = tagger.finish().unwrap();
    let secs = t.elapsed().as_secs_f64();
    for p in &patches {
        if p.probs.is_empty() {
            println!("{:7.2} (silent, not run)", p.start_s);
            continue;
        }
        let mut idx: Vec<usize> = (0..p.probs.len()).collect();
        idx.sort_by(|&a, &b| p.probs[b].total_cmp(&p.probs[a]));
        let top: Vec<String> = idx[..4]
            .iter()
            .map(|&i| format!("{} {:.2}", model.class_names[i], p.probs[i]))
            .collect();
        println!("{:7.2} {}", p.start_s, top.join(" | "));
    }
    let groups = nightshift_events::resolve_groups(&model).unwrap();
    for s in nightshift_events::spans::spans(&patches, &groups) {
        println!(
            "SPAN {:.2}-{:.2} {} {:.2}",
            s.start, s.end, s.label, s.score
        );
    }
    eprintln!(
        "{:.1} s audio in {secs:.2} s: {:.0}x real time",
        samples.len() as f64 / 16000.0,
        samples.len() as f64 / 16000.0 / secs
    );
}
