//! `nightshift bench stages`: what each stage cost on this machine, from the metrics every job
//! stores when it completes — the figures for choosing models for a given machine: wall time,
//! speed (× real time, tokens/s, frames/s), the worker's peak resident memory, and the GPU
//! memory the driver reported for it (NVIDIA, when a driver is present).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use nightshift_core::JobStatus;
use nightshift_queue::Queue;
use serde_json::{Value, json};

use nightshift_pipeline::home::Home;
use nightshift_pipeline::job::JobKind;

#[derive(Default)]
struct Stage {
    jobs: u64,
    wall_s: f64,
    audio_s: f64,
    tokens_in: u64,
    tokens_out: u64,
    gen_tps: Vec<f64>,
    frames: u64,
    decode_s: f64,
    ocr_s: f64,
    peak_rss: u64,
    peak_vram: u64,
}

pub fn run(home: &Home, as_json: bool) -> Result<ExitCode> {
    let queue = Queue::open_existing(home.db_url()?)?;
    let mut stages: BTreeMap<String, Stage> = BTreeMap::new();
    for m in queue.meetings()? {
        for j in queue.jobs_of(&m.meeting_id)? {
            if j.status != JobStatus::Completed {
                continue;
            }
            let name = match JobKind::of_row(&j)?.stored_step() {
                None => j.task_type.to_string(),
                Some(step) => format!("{} {step}", j.task_type),
            };
            let s = stages.entry(name).or_default();
            let m = j.metrics.clone().unwrap_or(Value::Null);
            let f = |k: &str| m[k].as_f64().unwrap_or(0.0);
            s.jobs += 1;
            s.wall_s += f("wall_s");
            s.audio_s += f("audio_s");
            s.tokens_in += m["tokens_in"].as_u64().unwrap_or(0);
            s.tokens_out += m["tokens_out"].as_u64().unwrap_or(0);
            if f("gen_tokens_per_s") > 0.0 {
                s.gen_tps.push(f("gen_tokens_per_s"));
            }
            s.frames += m["frames"].as_u64().unwrap_or(0);
            // Frames decoded (scenes) or run through the detector (objects): their seconds.
            s.decode_s += f("decode_s") + f("frames_s");
            s.ocr_s += f("ocr_s");
            s.peak_rss = s.peak_rss.max(m["peak_rss_bytes"].as_u64().unwrap_or(0));
            s.peak_vram = s.peak_vram.max(m["vram_bytes"].as_u64().unwrap_or(0));
        }
    }
    let rows: Vec<Value> = stages
        .iter()
        .map(|(name, s)| {
            let mean_tps = if s.gen_tps.is_empty() {
                None
            } else {
                Some(s.gen_tps.iter().sum::<f64>() / s.gen_tps.len() as f64)
            };
            json!({
                "stage": name,
                "jobs": s.jobs,
                "wall_s": s.wall_s,
                "audio_s": (s.audio_s > 0.0).then_some(s.audio_s),
                "x_real_time": (s.audio_s > 0.0 && s.wall_s > 0.0).then(|| s.audio_s / s.wall_s),
                "tokens_in": (s.tokens_in > 0).then_some(s.tokens_in),
                "tokens_out": (s.tokens_out > 0).then_some(s.tokens_out),
                "gen_tokens_per_s": mean_tps,
                "frames": (s.frames > 0).then_some(s.frames),
                "frames_per_s": (s.frames > 0 && s.decode_s > 0.0).then(|| s.frames as f64 / s.decode_s),
                "ocr_s": (s.ocr_s > 0.0).then_some(s.ocr_s),
                "peak_rss_bytes": (s.peak_rss > 0).then_some(s.peak_rss),
                "peak_vram_bytes": (s.peak_vram > 0).then_some(s.peak_vram),
            })
        })
        .collect();
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"stages": rows}))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&rows);
    Ok(ExitCode::SUCCESS)
}

fn print_table(rows: &[Value]) {
    println!(
        "{:<18} {:>6} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "stage", "jobs", "wall s", "× RT", "gen tok/s", "frames/s", "peak MiB", "VRAM MiB"
    );
    let num = |v: &Value, prec: usize| {
        v.as_f64()
            .map_or("-".to_string(), |x| format!("{x:.prec$}"))
    };
    let mib = |v: &Value| {
        v.as_u64()
            .map_or("-".to_string(), |b| format!("{}", b >> 20))
    };
    for r in rows {
        println!(
            "{:<18} {:>6} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9}",
            r["stage"].as_str().unwrap_or(""),
            r["jobs"],
            num(&r["wall_s"], 1),
            num(&r["x_real_time"], 1),
            num(&r["gen_tokens_per_s"], 1),
            num(&r["frames_per_s"], 0),
            mib(&r["peak_rss_bytes"]),
            mib(&r["peak_vram_bytes"]),
        );
    }
}
