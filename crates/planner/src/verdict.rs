//! Whether a set of models fits a budget together, which must run alone, and the largest
//! context that fits. Each model is its own worker process, so totals simply add.

use serde::Serialize;

use crate::estimate::{CTX_PAD, Options, pad};
use crate::model::Model;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub budget_bytes: u64,
    /// Sum of the models' totals at the requested options.
    pub total_bytes: u64,
    pub fits_together: bool,
    /// Indices of models that fit the budget alone but beside no other model of the set.
    pub must_run_alone: Vec<usize>,
    /// Indices of models that do not fit even alone.
    pub too_large: Vec<usize>,
    /// Largest context (a multiple of 256, each LLM capped at its training context) at which
    /// the whole set fits together; `None` without LLMs or when even 256 does not fit.
    pub max_ctx_that_fits: Option<u64>,
}

pub fn verdict(models: &[Model], opts: &Options, budget: u64) -> Verdict {
    let totals: Vec<u64> = models
        .iter()
        .map(|m| m.estimate(opts).total_bytes())
        .collect();
    let total_bytes = totals.iter().sum();
    let mut must_run_alone = Vec::new();
    let mut too_large = Vec::new();
    for (i, &t) in totals.iter().enumerate() {
        let smallest_other = totals
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, &o)| o)
            .min();
        if t > budget {
            too_large.push(i);
        } else if smallest_other.is_some_and(|o| t + o > budget) {
            must_run_alone.push(i);
        }
    }
    Verdict {
        budget_bytes: budget,
        total_bytes,
        fits_together: total_bytes <= budget,
        must_run_alone,
        too_large,
        max_ctx_that_fits: max_ctx(models, opts, budget),
    }
}

/// Largest context at which `models` (one model, or the whole set) fit `budget` together.
pub fn max_ctx(models: &[Model], opts: &Options, budget: u64) -> Option<u64> {
    let ceiling = models.iter().filter_map(Model::n_ctx_train).max()?;
    let total_at = |ctx: u64| -> u64 {
        models
            .iter()
            .map(|m| {
                let n_ctx = m.n_ctx_train().map(|train| ctx.min(pad(train, CTX_PAD)));
                m.estimate(&Options {
                    n_ctx,
                    ..opts.clone()
                })
                .total_bytes()
            })
            .sum()
    };
    // Totals grow with the context: binary search over multiples of CTX_PAD.
    let (mut lo, mut hi) = (0u64, pad(ceiling, CTX_PAD) / CTX_PAD);
    if total_at(CTX_PAD) > budget {
        return None;
    }
    lo += 1;
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if total_at(mid * CTX_PAD) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(lo * CTX_PAD)
}
