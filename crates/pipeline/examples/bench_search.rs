//! Search latency on a synthetic home of ~100 hours of meetings built from the corpus meetings'
//! transcripts (sentences cycled, one every 4 s, 60 s chunks), stored through the real path
//! (chunk jobs claimed and completed with their passages by `search::complete`). Embeddings of
//! the distinct sentences are computed once and stored for every copy.
//!
//! `cargo run --release -p nightshift-pipeline --example bench_search -- [HOURS] [HOME]`
//! (HOME is kept and reused when given; needs `../shared/corpus` and the embedding model).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use nightshift_pipeline::Home;
use nightshift_pipeline::job::{ChunkPayload, JobKind};
use nightshift_pipeline::search::{Query, Searcher, semantic};
use nightshift_queue::{ClaimFilter, NewMeeting, Queue};
use serde_json::json;

const SENTENCE_S: f64 = 4.0;
const CHUNK_S: f64 = 60.0;

fn sentences() -> Result<Vec<String>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/meetings");
    let mut out = Vec::new();
    for n in 1..=3 {
        let path = dir.join(format!("meeting_0{n}.transcript.txt"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: corpus transcript missing", path.display()))?;
        out.extend(
            text.split_inclusive(['.', '?'])
                .map(|s| s.trim().to_string())
                .filter(|s| s.split_whitespace().count() >= 3),
        );
    }
    Ok(out)
}

fn build(home: &Home, hours: f64, sentences: &[String]) -> Result<()> {
    std::fs::create_dir_all(&home.root)?;
    let mut q = Queue::open(home.db_path())?;
    let meetings = hours.ceil() as usize;
    let per_chunk = (CHUNK_S / SENTENCE_S) as usize;
    let mut k = 0usize;
    for m in 0..meetings {
        let chunks = (3600.0 / CHUNK_S) as usize;
        let jobs: Vec<_> = (0..chunks)
            .map(|c| {
                JobKind::Chunk(ChunkPayload {
                    offset_s: c as f64 * CHUNK_S,
                    duration_s: CHUNK_S,
                    offset_samples: 0,
                    len_samples: 0,
                    speech_spans: vec![],
                    speech_ratio: 1.0,
                    skip_reason: None,
                })
                .new_job(0, c as i64)
            })
            .collect();
        let id = format!("{m:012x}");
        q.insert_meeting(
            &NewMeeting {
                meeting_id: id.clone(),
                title: format!("synthetic {m}"),
                source_path: format!("/synthetic/{m}.wav"),
                source_sha256: format!("{m:064x}"),
                kind: "audio".into(),
                duration_s: 3600.0,
                info: json!({}),
            },
            &jobs,
        )?;
        let claimed = q.claim_batch("bench", &ClaimFilter::default(), chunks)?;
        for job in claimed {
            let segments: Vec<_> = (0..per_chunk)
                .map(|i| {
                    k += 7; // a stride through the sentences, so meetings differ
                    json!({"start": i as f64 * SENTENCE_S, "end": (i + 1) as f64 * SENTENCE_S - 0.5,
                           "text": sentences[k % sentences.len()]})
                })
                .collect();
            let result = json!({"language": "en", "segments": segments});
            nightshift_pipeline::search::complete(
                &mut q,
                job.job_id,
                "bench",
                &result,
                &json!({}),
                &[],
            )?;
        }
    }
    Ok(())
}

fn embed_copies(home: &Home, searcher: &Searcher) -> Result<()> {
    let mut q = Queue::open(home.db_path())?;
    let _ = searcher;
    let dir = semantic::model_dir(home).map_err(anyhow::Error::msg)?;
    let model = nightshift_embed::Embedder::load(&dir)?;
    let mut cache: HashMap<String, Vec<u8>> = HashMap::new();
    loop {
        let batch = q.passages_without_vectors(
            nightshift_embed::MODEL_NAME,
            &semantic::EMBEDDED_SOURCES,
            20_000,
        )?;
        if batch.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(batch.len());
        for p in batch {
            let v = cache
                .entry(p.text.clone())
                .or_insert_with(|| semantic::quantize(&model.embed(&[p.text.as_str()])[0]));
            rows.push((p.passage_id, v.clone()));
        }
        q.put_vectors(nightshift_embed::MODEL_NAME, &rows)?;
    }
}

fn time_queries(label: &str, searcher: &mut Searcher, q: &mut Queue) -> Result<()> {
    let queries = [
        "production migration",
        "when is the database switched over",
        "\"missing index\"",
        "rotat*",
        "who sends the agenda to the customer",
        "budget forecast for next quarter",
    ];
    // Warm up (loads the embeddings into memory once).
    searcher.search(q, &Query::new("warm up"))?;
    for text in queries {
        let mut ms = Vec::new();
        let mut n = 0;
        for _ in 0..5 {
            let t = Instant::now();
            n = searcher.search(q, &Query::new(text))?.len();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{label:10} {text:40} median {:7.1} ms  max {:7.1} ms  ({n} hits)",
            ms[2], ms[4]
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hours: f64 = args
        .first()
        .map(|h| h.parse())
        .transpose()?
        .unwrap_or(100.0);
    let tmp = tempfile::TempDir::new()?;
    let root = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("home"));
    let home = Home::at(root);
    if !home.db_path().is_file() {
        let s = sentences()?;
        let t = Instant::now();
        build(&home, hours, &s)?;
        println!("built {hours} h in {:.1} s", t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let mut searcher = Searcher::open(&home)?;
    println!("model load {:.0} ms", t.elapsed().as_secs_f64() * 1000.0);
    let t = Instant::now();
    embed_copies(&home, &searcher)?;
    println!("embeddings stored in {:.1} s", t.elapsed().as_secs_f64());
    let mut q = Queue::open(home.db_path())?;
    println!(
        "{} passages, {} embedded",
        q.count_without_vectors("none", &semantic::EMBEDDED_SOURCES)?,
        q.vectors_stamp(nightshift_embed::MODEL_NAME)?.0
    );
    let t = Instant::now();
    searcher.prepare(&mut q, |_, _| {})?;
    let mut cache_probe = Searcher::full_text_only(&home, "benchmark")?;
    println!("prepare {:.0} ms", t.elapsed().as_secs_f64() * 1000.0);
    time_queries("full-text", &mut cache_probe, &mut q)?;
    time_queries("hybrid", &mut searcher, &mut q)?;
    phases(&home, &mut q)?;
    Ok(())
}

/// Where a hybrid query's time goes: the steps of `Searcher::search` timed one by one.
fn phases(home: &Home, q: &mut Queue) -> Result<()> {
    let dir = semantic::model_dir(home).map_err(anyhow::Error::msg)?;
    let model = nightshift_embed::Embedder::load(&dir)?;
    let text = "when is the database switched over";
    let mut cache = semantic::VectorCache::default();
    let t = Instant::now();
    cache.refresh(q)?;
    println!(
        "phase  load {} vectors        {:7.1} ms",
        cache.len(),
        ms(t)
    );
    let step = |label: &str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let mut all = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            f()?;
            all.push(ms(t));
        }
        all.sort_by(f64::total_cmp);
        println!("phase  {label:24} {:7.1} ms (median of 5)", all[2]);
        Ok(())
    };
    step("prepare (nothing new)", &mut || {
        semantic::pending(q)?;
        Ok(())
    })?;
    step("cache refresh (same)", &mut || cache.refresh(q))?;
    step("embed query", &mut || {
        model.embed(&[text]);
        Ok(())
    })?;
    let qv = model.embed(&[text]).remove(0);
    step("nearest (brute force)", &mut || {
        cache.nearest(&qv, 200, 0.25, |_| true);
        Ok(())
    })?;
    step("meetings list", &mut || {
        q.meetings()?;
        Ok(())
    })?;
    Ok(())
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
