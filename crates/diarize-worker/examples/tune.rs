//! Sweep the clustering options over the corpus meetings (analysis once per file, clustering
//! per setting): DER and speaker count per file. Used to choose the defaults.
//! `NIGHTSHIFT_DIARIZATION_MODELS=DIR cargo run --release -p nightshift-diarize-worker --example tune -- 0.2 0.3 0.4`

#[path = "../tests/common.rs"]
mod common;

use nightshift_diarize::campplus::CamPlus;
use nightshift_diarize::{CountMethod, Diarizer, Options, Segmenter};
use nightshift_eval::{der, load_corpus, parse_rttm};

fn main() {
    let dir = std::path::PathBuf::from(
        std::env::var("NIGHTSHIFT_DIARIZATION_MODELS").expect("set NIGHTSHIFT_DIARIZATION_MODELS"),
    );
    let thresholds: Vec<f32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("threshold"))
        .collect();
    let step: f32 = std::env::var("STEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(Options::default().step_s);
    let mut emb = CamPlus::open(&dir.join("campplus.safetensors"), 2).unwrap();
    let seg = Segmenter::open(&dir.join("segmentation-3.0.safetensors")).unwrap();
    let slack: f32 = std::env::var("SLACK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(Options::default().size_slack);
    let refine: usize = std::env::var("REFINE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(Options::default().refine_rounds);
    // COUNT=silhouette: the count by silhouette around the threshold's (see CountMethod).
    let count = match std::env::var("COUNT").as_deref() {
        Ok("silhouette") => CountMethod::Silhouette,
        Ok("threshold") | Err(_) => CountMethod::Threshold,
        Ok(other) => panic!("COUNT={other}: threshold or silhouette"),
    };
    // SPLITS=inf,0.56,0.7 and MERGES=-inf,0.3: timbre scores to sweep (Options::split_score,
    // Options::merge_score).
    let splits = values_of("SPLITS", Options::default().split_score);
    let merges = values_of("MERGES", Options::default().merge_score);
    let settings: Vec<(f32, f32, f32)> = thresholds
        .iter()
        .flat_map(|&t| {
            let merges = &merges;
            splits
                .iter()
                .flat_map(move |&s| merges.iter().map(move |&m| (t, s, m)))
        })
        .collect();
    // Per setting: files with the exact count, summed DER, files.
    let mut totals = vec![(0usize, 0.0f64, 0usize); settings.len()];
    let base = Options {
        step_s: step,
        size_slack: slack,
        refine_rounds: refine,
        count,
        ..Options::default()
    };
    let diarizer = Diarizer::new(seg, base.clone());
    let corpus = load_corpus().unwrap();
    for case in corpus
        .cases
        .iter()
        .filter(|c| c.expected["rttm"].is_string())
    {
        let reference = parse_rttm(
            &std::fs::read_to_string(corpus.dir.join(case.expected["rttm"].as_str().unwrap()))
                .unwrap(),
        );
        let samples = common::decode(&corpus.file(case));
        let t = std::time::Instant::now();
        let a = diarizer.analyse(&mut emb, &samples, 0.0).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let mut line = format!(
            "{:<26} seg {:.2}s emb {:.2}s ({} emb) |",
            case.id,
            a.segmentation_s,
            a.embedding_s,
            a.embedding_count()
        );
        let _ = secs;
        // DUMP=DIR: every piece (times, weight, embedding) and the reference RTTM per file, for
        // looking at the embeddings outside this program.
        if let Some(dump) = std::env::var_os("DUMP") {
            let items: Vec<_> = a
                .items()
                .map(|p| {
                    serde_json::json!([p.start_s, p.end_s, p.weight, p.vector, p.window, p.local])
                })
                .collect();
            let doc = serde_json::json!({
                "id": case.id,
                "rttm": corpus.dir.join(case.expected["rttm"].as_str().unwrap()),
                "items": items,
            });
            let path = std::path::Path::new(&dump).join(format!("{}.json", case.id));
            std::fs::write(path, doc.to_string()).unwrap();
        }
        let truth_count = {
            let mut names: Vec<&str> = reference.iter().map(|t| t.speaker.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            names.len()
        };
        for (&(th, split, merge), total) in settings.iter().zip(totals.iter_mut()) {
            let d = diarizer
                .with_options(Options {
                    threshold: th,
                    split_score: split,
                    merge_score: merge,
                    ..base.clone()
                })
                .finish(std::slice::from_ref(&a));
            let hyp = common::hypothesis(&d);
            let s = der(&reference, &hyp, 0.25);
            total.0 += usize::from(d.speakers.len() == truth_count);
            total.1 += s.rate();
            total.2 += 1;
            line += &format!(
                " {th}/{split}/{merge}: {:.1}% n{}/{truth_count}",
                100.0 * s.rate(),
                d.speakers.len()
            );
            if std::env::var_os("MASSES").is_some() {
                let mut m: Vec<f64> = d.speakers.iter().map(|s| s.speech_s).collect();
                m.sort_by(|a, b| b.total_cmp(a));
                line += &format!(
                    " {:?}",
                    m.iter().map(|x| x.round() as i64).collect::<Vec<_>>()
                );
            }
        }
        println!("{line}");
    }
    for (&(th, split, merge), (exact, der_sum, files)) in settings.iter().zip(&totals) {
        println!(
            "threshold {th} split {split} merge {merge}: exact count {exact}/{files}, mean DER {:.1}%",
            100.0 * der_sum / (*files).max(1) as f64
        );
    }
}

/// The comma-separated numbers in environment variable `name`, else `default` alone.
fn values_of(name: &str, default: f32) -> Vec<f32> {
    std::env::var(name).map_or_else(
        |_| vec![default],
        |v| {
            v.split(',')
                .map(|x| {
                    x.parse()
                        .unwrap_or_else(|_| panic!("{name}: {x} is not a number"))
                })
                .collect()
        },
    )
}
