//! The Foreman's scheduling policy, as a pure function.
//!
//! No I/O and no clock: the caller reads the queue, asks [`next_batch`] what to run, then claims
//! exactly that. The decision carries its reason so logs and `status` can say why a model runs
//! (or why nothing does).

use std::collections::HashMap;

use nightshift_core::TaskType;

/// Ready (claimable now) jobs that share a model and a task type.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyGroup {
    pub model_key: Option<String>,
    pub task_type: TaskType,
    pub ready_jobs: usize,
    pub max_priority: i64,
    /// Smallest job id in the group: older work first among equals.
    pub oldest_job_id: i64,
}

/// What memory the Foreman may use and what is already taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// Memory budget for models (VRAM with a GPU, RAM otherwise).
    pub budget_bytes: u64,
    /// Held by someone else right now (the session daemon's warm model, another runner).
    pub held_by_others_bytes: u64,
    /// The model this runner had loaded last, if any worker of it may be reused or is warm.
    pub resident_model: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// At most this many jobs per worker batch (bounds the work lost to a crash).
    pub max_batch_jobs: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { max_batch_jobs: 16 }
    }
}

/// Why a batch was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Higher priority than any other ready work.
    Priority,
    /// Same model as the one resident: no model swap.
    ResidentModel,
    /// The model with the most ready work (fewest swaps overall).
    MostReadyWork,
    /// The only ready work.
    OnlyWork,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub model_key: Option<String>,
    pub task_type: TaskType,
    pub max_jobs: usize,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Run(Batch),
    /// Ready work exists but none of it fits next to what others hold: wait for them to yield.
    WaitForMemory {
        model_key: Option<String>,
        needed_bytes: u64,
        free_bytes: u64,
    },
    /// A model needs more than the whole budget: it can never run under this budget.
    TooLarge {
        model_key: Option<String>,
        needed_bytes: u64,
        budget_bytes: u64,
    },
    Idle,
}

/// Choose the next batch.
///
/// Order: highest priority first; among equals prefer the resident model, then the model with
/// the most ready work, then the oldest job. A group runs only if its model (cost from `costs`,
/// unknown = 0, e.g. CPU-only work) fits in the budget next to what others hold.
pub fn next_batch(
    groups: &[ReadyGroup],
    costs: &HashMap<String, u64>,
    res: &Resources,
    policy: &Policy,
) -> Decision {
    let cost = |g: &ReadyGroup| {
        g.model_key
            .as_ref()
            .and_then(|m| costs.get(m).copied())
            .unwrap_or(0)
    };
    let mut candidates: Vec<&ReadyGroup> = groups.iter().filter(|g| g.ready_jobs > 0).collect();
    if candidates.is_empty() {
        return Decision::Idle;
    }
    if let Some(g) = candidates.iter().find(|g| cost(g) > res.budget_bytes) {
        return Decision::TooLarge {
            model_key: g.model_key.clone(),
            needed_bytes: cost(g),
            budget_bytes: res.budget_bytes,
        };
    }
    let is_resident = |g: &ReadyGroup| g.model_key.is_some() && g.model_key == res.resident_model;
    candidates.sort_by(|a, b| {
        b.max_priority
            .cmp(&a.max_priority)
            .then(is_resident(b).cmp(&is_resident(a)))
            .then(b.ready_jobs.cmp(&a.ready_jobs))
            .then(a.oldest_job_id.cmp(&b.oldest_job_id))
    });
    let free = res.budget_bytes.saturating_sub(res.held_by_others_bytes);
    let Some(pick) = candidates.iter().find(|g| cost(g) <= free) else {
        let first = candidates[0];
        return Decision::WaitForMemory {
            model_key: first.model_key.clone(),
            needed_bytes: cost(first),
            free_bytes: free,
        };
    };
    let reason = if candidates.len() == 1 {
        Reason::OnlyWork
    } else if candidates
        .iter()
        .any(|g| g.max_priority < pick.max_priority)
    {
        Reason::Priority
    } else if is_resident(pick) {
        Reason::ResidentModel
    } else {
        Reason::MostReadyWork
    };
    Decision::Run(Batch {
        model_key: pick.model_key.clone(),
        task_type: pick.task_type,
        max_jobs: policy.max_batch_jobs.max(1),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn group(model: &str, task: TaskType, ready: usize, prio: i64, oldest: i64) -> ReadyGroup {
        ReadyGroup {
            model_key: Some(model.to_string()),
            task_type: task,
            ready_jobs: ready,
            max_priority: prio,
            oldest_job_id: oldest,
        }
    }

    fn costs() -> HashMap<String, u64> {
        HashMap::from([
            ("whisper".to_string(), GIB),
            ("llm".to_string(), 4 * GIB),
            ("huge".to_string(), 40 * GIB),
        ])
    }

    fn run(model: &str, reason: Reason) -> Decision {
        Decision::Run(Batch {
            model_key: Some(model.to_string()),
            task_type: if model == "llm" {
                TaskType::Summary
            } else {
                TaskType::Audio
            },
            max_jobs: 16,
            reason,
        })
    }

    #[test]
    fn table() {
        use TaskType::*;
        let six = Resources {
            budget_bytes: 6 * GIB,
            ..Default::default()
        };
        let cases: Vec<(&str, Vec<ReadyGroup>, Resources, Decision)> = vec![
            ("nothing ready", vec![], six.clone(), Decision::Idle),
            (
                "single group",
                vec![group("whisper", Audio, 3, 0, 1)],
                six.clone(),
                run("whisper", Reason::OnlyWork),
            ),
            (
                "most ready work wins without a resident model",
                vec![
                    group("llm", Summary, 2, 0, 1),
                    group("whisper", Audio, 9, 0, 5),
                ],
                six.clone(),
                run("whisper", Reason::MostReadyWork),
            ),
            (
                "resident model beats more work elsewhere (no swap)",
                vec![
                    group("llm", Summary, 2, 0, 1),
                    group("whisper", Audio, 9, 0, 5),
                ],
                Resources {
                    resident_model: Some("llm".into()),
                    ..six.clone()
                },
                run("llm", Reason::ResidentModel),
            ),
            (
                "priority beats the resident model",
                vec![
                    group("llm", Summary, 2, 5, 1),
                    group("whisper", Audio, 9, 0, 5),
                ],
                Resources {
                    resident_model: Some("whisper".into()),
                    ..six.clone()
                },
                run("llm", Reason::Priority),
            ),
            (
                "a model that does not fit next to the daemon's waits; a smaller one runs",
                vec![
                    group("llm", Summary, 9, 0, 1),
                    group("whisper", Audio, 1, 0, 5),
                ],
                Resources {
                    held_by_others_bytes: 3 * GIB,
                    ..six.clone()
                },
                run("whisper", Reason::MostReadyWork),
            ),
            (
                "nothing fits: wait for memory",
                vec![group("llm", Summary, 9, 0, 1)],
                Resources {
                    held_by_others_bytes: 5 * GIB,
                    ..six.clone()
                },
                Decision::WaitForMemory {
                    model_key: Some("llm".into()),
                    needed_bytes: 4 * GIB,
                    free_bytes: GIB,
                },
            ),
            (
                "larger than the whole budget",
                vec![group("huge", Summary, 1, 0, 1)],
                six.clone(),
                Decision::TooLarge {
                    model_key: Some("huge".into()),
                    needed_bytes: 40 * GIB,
                    budget_bytes: 6 * GIB,
                },
            ),
            (
                "equal work: the oldest job first",
                vec![group("a", Audio, 2, 0, 9), group("whisper", Audio, 2, 0, 3)],
                six.clone(),
                run("whisper", Reason::MostReadyWork),
            ),
        ];
        for (name, groups, res, want) in cases {
            let got = next_batch(&groups, &costs(), &res, &Policy::default());
            assert_eq!(got, want, "case: {name}");
        }
    }

    /// The 6 GiB card with planner-sized costs (`nightshift plan`: totals including the
    /// per-process CUDA overhead): an 8B Q4_K_M LLM (4.9 GB) and a VLM (4.7 GB) are never
    /// resident together; whisper tiny (~0.66 GiB) may sit beside the LLM; a 14B never runs.
    #[test]
    fn six_gib_budget_never_co_locates_two_heavy_models() {
        use TaskType::*;
        const GB: u64 = 1_000_000_000;
        let costs = HashMap::from([
            ("llm-8b".to_string(), 49 * GB / 10),
            ("vlm".to_string(), 47 * GB / 10),
            ("whisper-tiny".to_string(), 690_000_000),
            ("llm-14b".to_string(), 9 * GB),
        ]);
        let budget = 6 * GIB;
        let held = |model: &str| Resources {
            budget_bytes: budget,
            held_by_others_bytes: costs[model],
            resident_model: None,
        };
        let batch = |model: &str, task, reason| {
            Decision::Run(Batch {
                model_key: Some(model.to_string()),
                task_type: task,
                max_jobs: 16,
                reason,
            })
        };
        let wait = |model: &str, held_by: &str| Decision::WaitForMemory {
            model_key: Some(model.to_string()),
            needed_bytes: costs[model],
            free_bytes: budget - costs[held_by],
        };
        let cases: Vec<(&str, Vec<ReadyGroup>, Resources, Decision)> = vec![
            (
                "LLM held by the daemon: the VLM waits",
                vec![group("vlm", Visual, 4, 0, 1)],
                held("llm-8b"),
                wait("vlm", "llm-8b"),
            ),
            (
                "VLM held by another runner: the LLM waits",
                vec![group("llm-8b", Summary, 2, 0, 1)],
                held("vlm"),
                wait("llm-8b", "vlm"),
            ),
            (
                "LLM held: of VLM and whisper work, only whisper runs beside it",
                vec![
                    group("vlm", Visual, 9, 0, 1),
                    group("whisper-tiny", Audio, 1, 0, 5),
                ],
                held("llm-8b"),
                batch("whisper-tiny", Audio, Reason::MostReadyWork),
            ),
            (
                "whisper tiny held: the LLM fits beside it",
                vec![group("llm-8b", Summary, 1, 0, 1)],
                held("whisper-tiny"),
                batch("llm-8b", Summary, Reason::OnlyWork),
            ),
            (
                "nothing held: the VLM runs alone",
                vec![group("vlm", Visual, 1, 0, 1)],
                Resources {
                    budget_bytes: budget,
                    ..Default::default()
                },
                batch("vlm", Visual, Reason::OnlyWork),
            ),
            (
                "a 9 GB model never fits 6 GiB: too large, not a wait",
                vec![group("llm-14b", Summary, 1, 0, 1)],
                held("whisper-tiny"),
                Decision::TooLarge {
                    model_key: Some("llm-14b".into()),
                    needed_bytes: 9 * GB,
                    budget_bytes: budget,
                },
            ),
        ];
        for (name, groups, res, want) in cases {
            let got = next_batch(&groups, &costs, &res, &Policy::default());
            assert_eq!(got, want, "case: {name}");
            // Whatever runs fits next to what is held.
            if let Decision::Run(b) = &got {
                let cost = costs[b.model_key.as_deref().unwrap()];
                assert!(
                    cost + res.held_by_others_bytes <= res.budget_bytes,
                    "case: {name}"
                );
            }
        }
    }
}
