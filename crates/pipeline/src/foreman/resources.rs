//! The memory budget and what each model costs in it.

use std::collections::HashMap;

use anyhow::Result;
use nightshift_planner::{FlashAttn, KvType, Options};
use nightshift_queue::Queue;
use nightshift_worker_protocol::{FlashAttention, KvCacheType};

use crate::config::{Backend, Profile, SummaryConfig, VisionBackend, VisionConfig};
use crate::fsutil::parse_size;
use crate::home::Home;

/// The Foreman's memory budget and where it came from.
#[derive(Debug, Clone)]
pub struct Budget {
    pub bytes: u64,
    /// Detected from the GPU: what the driver reports in use counts as held by others.
    pub from_gpu: bool,
    pub source: String,
}

/// `--gpu-budget`, else the profile's `gpu_budget`, else the primary GPU's memory minus the
/// display reserve (NVML), else — no GPU — the machine's RAM, to which the same rule applies.
pub fn budget(flag: Option<&str>, profile: &Profile) -> Result<Budget> {
    if let Some(s) = flag {
        return Ok(Budget {
            bytes: parse_size(s)?,
            from_gpu: false,
            source: "--gpu-budget".into(),
        });
    }
    if let Some(s) = &profile.gpu_budget {
        return Ok(Budget {
            bytes: parse_size(s)?,
            from_gpu: false,
            source: format!("profile {}", profile.name),
        });
    }
    let probe = nightshift_gpu::probe();
    if let Some(gpu) = probe.primary() {
        let reserve = parse_size(&profile.display_reserve)?;
        return Ok(Budget {
            bytes: gpu.total_bytes.saturating_sub(reserve),
            from_gpu: true,
            source: format!(
                "{} minus {} display reserve",
                gpu.name, profile.display_reserve
            ),
        });
    }
    Ok(Budget {
        bytes: total_ram().unwrap_or(4 << 30),
        from_gpu: false,
        source: "RAM (no GPU found)".into(),
    })
}

/// What others hold right now: the live GPU leases of other processes sharing this home (the
/// session daemon, other runners), or — with a detected GPU — everything the driver reports in
/// use, whichever is more. Called between batches, when no worker of this runner is alive.
pub fn held_by_others(queue: &mut Queue, me: &str, budget: &Budget) -> Result<u64> {
    let leases: u64 = queue
        .gpu_leases_of_others(me)?
        .iter()
        .map(|l| l.bytes)
        .sum();
    let driver = if budget.from_gpu {
        nightshift_gpu::probe()
            .primary()
            .map_or(0, |g| g.used_bytes)
    } else {
        0
    };
    Ok(leases.max(driver))
}

fn total_ram() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Memory each model key needs while loaded, predicted by the planner from the model's header
/// with the options the worker will load it with (the figures `nightshift plan` prints). A
/// file the planner cannot read falls back to a size-based guess; a model on a server the user
/// runs costs nothing here (its process owns it, and on a GPU the driver's figure counts it).
pub fn model_costs(
    home: &Home,
    asr_model: &str,
    summary: &SummaryConfig,
    vision: &VisionConfig,
) -> HashMap<String, u64> {
    let mut costs = HashMap::new();
    if let Ok(path) = home.find_model(asr_model) {
        let cost = if path.is_dir() {
            ct2_cost(&path)
        } else {
            planned(&path, &Options::default()).unwrap_or_else(|| file_len(&path) * 14 / 10)
        };
        costs.insert(crate::job::model_key::WHISPER.to_string(), cost);
    }
    if summary.backend == Backend::Local
        && let Ok(path) = home.find_model(&summary.model)
    {
        let opts = Options {
            n_ctx: Some(summary.n_ctx as u64),
            kv_type: match summary.kv_type {
                KvCacheType::F16 => KvType::F16,
                KvCacheType::Q8_0 => KvType::Q8_0,
                KvCacheType::Q4_0 => KvType::Q4_0,
            },
            flash_attn: match summary.flash_attn {
                FlashAttention::Auto => FlashAttn::Auto,
                FlashAttention::On => FlashAttn::On,
                FlashAttention::Off => FlashAttn::Off,
            },
            n_gpu_layers: Some(summary.gpu_layers),
            ..Options::default()
        };
        let cost = planned(&path, &opts).unwrap_or_else(|| file_len(&path) * 3 / 2 + (512 << 20));
        costs.insert(crate::job::model_key::LLM.to_string(), cost);
    }
    if vision.backend == VisionBackend::Local
        && let Ok(path) = home.find_model(&vision.model)
    {
        let mmproj = vision
            .mmproj
            .as_deref()
            .and_then(|p| home.find_model(p).ok());
        let opts = Options {
            n_ctx: Some(vision.n_ctx as u64),
            n_gpu_layers: Some(vision.gpu_layers),
            ..Options::default()
        };
        let cost = planned_vlm(&path, mmproj.as_deref(), &opts).unwrap_or_else(|| {
            file_len(&path) * 3 / 2 + mmproj.as_deref().map_or(0, file_len) * 2 + (512 << 20)
        });
        costs.insert(crate::job::model_key::VLM.to_string(), cost);
    }
    costs
}

/// A vision model: its LLM with the projector attached, as `plan llm.gguf mmproj.gguf` pairs
/// them (the projector is loaded by the same worker).
fn planned_vlm(
    path: &std::path::Path,
    mmproj: Option<&std::path::Path>,
    opts: &Options,
) -> Option<u64> {
    let mut models = vec![(path, nightshift_planner::open(path).ok()?)];
    if let Some(p) = mmproj {
        models.push((p, nightshift_planner::open(p).ok()?));
    }
    let paired = nightshift_planner::pair_projectors(models);
    Some(
        paired
            .iter()
            .map(|(_, m)| m.estimate(opts).total_bytes())
            .sum(),
    )
}

fn planned(path: &std::path::Path, opts: &Options) -> Option<u64> {
    match nightshift_planner::open(path) {
        Ok(model) => Some(model.estimate(opts).total_bytes()),
        Err(e) => {
            tracing::warn!(
                "{}: cannot plan its memory ({e}); using a size-based guess",
                path.display()
            );
            None
        }
    }
}

/// What a CTranslate2 model folder costs, which the ggml planner cannot read: its weights
/// (`model.bin`, float16 on disk; int8 in memory, so this is a margin) plus the batch's
/// encoder outputs, beams and oneDNN scratch, and once more for the working copies of CPU
/// replicas. The worker keeps freed memory for reuse (its `keep_freed_memory`), so its peak
/// holds some fragmentation too: on the corpus meetings (beam 5, 2 threads = 2 replicas)
/// tiny.en (75 MB on disk) peaked at 337–532 MB RSS and base (145 MB) at 619–780 MB; this
/// gives them 790 and 930 MB.
fn ct2_cost(dir: &std::path::Path) -> u64 {
    2 * file_len(dir) + (640 << 20)
}

/// A model's size: the file's, or a CTranslate2 model folder's `model.bin`.
fn file_len(path: &std::path::Path) -> u64 {
    let file = if path.is_dir() {
        path.join("model.bin")
    } else {
        path.to_path_buf()
    };
    std::fs::metadata(file).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ct2_model_folder_costs_its_weights_plus_working_memory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.bin"), vec![0u8; 1000]).unwrap();
        assert_eq!(file_len(dir.path()), 1000);
        assert_eq!(ct2_cost(dir.path()), 2000 + (640 << 20));
    }
}
