//! The memory budget and what each model costs in it.

use std::collections::HashMap;

use anyhow::{Result, bail};
use nightshift_scheduler::Resources;

use crate::args::RunArgs;
use crate::home::Home;

/// Parse sizes such as `6GiB`, `512MiB`, `6G`, `6000000000`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = match num.parse() {
        Ok(n) => n,
        Err(_) => bail!("{s:?}: not a size (try 6GiB or 512MiB)"),
    };
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => bail!("{s:?}: unknown size unit {unit:?} (use MiB or GiB)"),
    };
    Ok((n * mult) as u64)
}

/// `--gpu-budget`, or — with no GPU support in this build — the machine's RAM, to which the
/// Foreman applies the same rule.
pub fn budget(flag: Option<&str>) -> Result<Resources> {
    let budget_bytes = match flag {
        Some(s) => parse_size(s)?,
        None => total_ram().unwrap_or(4 << 30),
    };
    Ok(Resources {
        budget_bytes,
        held_by_others_bytes: 0,
        resident_model: None,
    })
}

fn total_ram() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Memory each model key needs while loaded. Whisper on CPU: weights (file size) plus ~40 %
/// for the KV cache and compute buffers, measured with tiny.en and base.
pub fn model_costs(
    home: &Home,
    args: &RunArgs,
    summary: &crate::config::SummaryConfig,
) -> HashMap<String, u64> {
    let mut costs = HashMap::new();
    let whisper = args.model.as_deref().unwrap_or("tiny.en");
    if let Ok(meta) = home
        .find_model(whisper)
        .and_then(|p| Ok(std::fs::metadata(p)?))
    {
        costs.insert(
            crate::commands::WHISPER_MODEL_KEY.to_string(),
            meta.len() * 14 / 10,
        );
    }
    // LLM: weights plus KV cache and compute buffers; `nightshift plan` gives the exact
    // figure, this keeps the Foreman's rule simple and on the safe side.
    if let Ok(meta) = home
        .find_model(&summary.model)
        .and_then(|p| Ok(std::fs::metadata(p)?))
    {
        costs.insert(
            super::summary::LLM_MODEL_KEY.to_string(),
            meta.len() * 3 / 2 + (512 << 20),
        );
    }
    costs
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("6GiB").unwrap(), 6 << 30);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5 GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("six").is_err());
        assert!(parse_size("6 parsecs").is_err());
    }
}
