//! `nightshift plan MODEL...`: predicted memory per model (weights, KV cache, compute buffer,
//! per-process overhead) and whether the set fits a budget together. The arithmetic is the
//! planner crate's; this module resolves names, prints and nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use nightshift_planner::{self as planner, Estimate, FlashAttn, KvType, Model, Options};
use serde_json::{Value, json};

use crate::args::{FlashAttnArg, KvTypeArg, PlanArgs};
use nightshift_pipeline::fsutil::parse_size;
use nightshift_pipeline::home::Home;

struct Planned {
    name: String,
    path: PathBuf,
    model: Model,
    estimate: Estimate,
    /// Largest context this model fits the budget at, alone (LLMs only).
    max_ctx_alone: Option<u64>,
}

pub fn run(home: &Home, args: &PlanArgs) -> Result<ExitCode> {
    let budget = parse_size(&args.budget)?;
    let opts = Options {
        n_ctx: args.ctx,
        kv_type: match args.kv_type {
            KvTypeArg::F16 => KvType::F16,
            KvTypeArg::Q8_0 => KvType::Q8_0,
            KvTypeArg::Q4_0 => KvType::Q4_0,
        },
        flash_attn: match args.flash_attn {
            FlashAttnArg::Auto => FlashAttn::Auto,
            FlashAttnArg::On => FlashAttn::On,
            FlashAttnArg::Off => FlashAttn::Off,
        },
        n_gpu_layers: args.n_gpu_layers,
        ..Options::default()
    };
    let mut opened = Vec::new();
    for name in &args.models {
        let path = home.find_model(name)?;
        let model = planner::open(&path).with_context(|| format!("{}", path.display()))?;
        opened.push(((name.clone(), path), model));
    }
    let planned: Vec<Planned> = planner::pair_projectors(opened)
        .into_iter()
        .map(|((name, path), model)| {
            let estimate = model.estimate(&opts);
            let max_ctx_alone = planner::max_ctx(std::slice::from_ref(&model), &opts, budget);
            Planned {
                name,
                path,
                model,
                estimate,
                max_ctx_alone,
            }
        })
        .collect();
    let models: Vec<Model> = planned.iter().map(|p| p.model.clone()).collect();
    let verdict = planner::verdict(&models, &opts, budget);
    if args.json {
        let names = |idx: &[usize]| -> Vec<String> {
            idx.iter().map(|&i| planned[i].name.clone()).collect()
        };
        let doc = json!({
            "budget_bytes": budget,
            "models": planned.iter().map(model_json).collect::<Vec<_>>(),
            "verdict": {
                "total_bytes": verdict.total_bytes,
                "fits_together": verdict.fits_together,
                "must_run_alone": names(&verdict.must_run_alone),
                "too_large": names(&verdict.too_large),
                "max_ctx_that_fits": verdict.max_ctx_that_fits,
            },
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(&planned);
        println!();
        print_verdict(&planned, &verdict, budget);
    }
    Ok(ExitCode::SUCCESS)
}

fn kind(m: &Model) -> &'static str {
    match m {
        Model::Llm(l) if l.projector.is_some() => "vlm",
        Model::Llm(_) => "llm",
        Model::Projector(_) => "projector",
        Model::Whisper(_) => "whisper",
    }
}

fn model_json(p: &Planned) -> Value {
    let e = &p.estimate;
    json!({
        "name": p.name,
        "path": p.path.display().to_string(),
        "kind": kind(&p.model),
        "device": e.device,
        "weights_bytes": e.weights_bytes,
        "kv_cache_bytes": e.kv_cache_bytes,
        "compute_bytes": e.compute_bytes,
        "overhead_bytes": e.overhead_bytes,
        "total_bytes": e.total_bytes(),
        "n_ctx": e.n_ctx,
        "n_ctx_train": p.model.n_ctx_train(),
        "flash_attn": e.flash_attn,
        "kv_type_k": e.kv_type_k,
        "kv_type_v": e.kv_type_v,
        "projector": e.projector,
        "max_ctx_that_fits": p.max_ctx_alone,
        "notes": e.notes,
    })
}

/// The set's verdict in words, and each model's notes.
fn print_verdict(planned: &[Planned], verdict: &planner::Verdict, budget: u64) {
    let names =
        |idx: &[usize]| -> Vec<String> { idx.iter().map(|&i| planned[i].name.clone()).collect() };
    let state = if verdict.fits_together {
        "fit together"
    } else {
        "do not fit together"
    };
    println!(
        "budget {}: the {} model(s) need {} and {state}",
        human(budget),
        planned.len(),
        human(verdict.total_bytes)
    );
    if !verdict.must_run_alone.is_empty() {
        println!(
            "must run alone: {}",
            names(&verdict.must_run_alone).join(", ")
        );
    }
    if !verdict.too_large.is_empty() {
        println!(
            "too large for the budget even alone: {}",
            names(&verdict.too_large).join(", ")
        );
    }
    if let Some(ctx) = verdict.max_ctx_that_fits {
        println!("largest context at which the set fits together: {ctx}");
    }
    for p in planned {
        for note in &p.estimate.notes {
            println!("note: {}: {note}", p.name);
        }
    }
}

fn print_table(planned: &[Planned]) {
    let width = planned
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:<width$}  {:<7} {:>6} {:>9}  {:>10} {:>10} {:>10} {:>10} {:>10}  {:>7}",
        "MODEL",
        "KIND",
        "CTX",
        "KV",
        "WEIGHTS",
        "KV CACHE",
        "COMPUTE",
        "OVERHEAD",
        "TOTAL",
        "MAX CTX"
    );
    for p in planned {
        let e = &p.estimate;
        let dash = || "-".to_string();
        let kv = match (e.kv_type_k, e.kv_type_v) {
            (Some(k), Some(v)) if k == v => k.to_string(),
            (Some(k), Some(v)) => format!("{k}/{v}"),
            _ => dash(),
        };
        println!(
            "{:<width$}  {:<7} {:>6} {:>9}  {:>10} {:>10} {:>10} {:>10} {:>10}  {:>7}",
            p.name,
            kind(&p.model),
            e.n_ctx.map_or_else(dash, |c| c.to_string()),
            kv,
            human(e.weights_bytes),
            human(e.kv_cache_bytes),
            human(e.compute_bytes),
            human(e.overhead_bytes),
            human(e.total_bytes()),
            p.max_ctx_alone.map_or_else(dash, |c| c.to_string()),
        );
    }
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    }
}
