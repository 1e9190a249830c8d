//! Running a batch of SUMMARY steps (map and reduce prompts) through the llama worker.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use nightshift_queue::{ClaimedJob, Queue};
use nightshift_summarize::{
    MeetingMeta, l1_messages, l1_schema, l2_messages, l2_schema, parse_l1, parse_l2,
};
use nightshift_supervisor::{BatchOptions, LLAMA_WORKER, LlamaEvent};
use nightshift_worker_protocol::{ChatMessage, CompleteItem, FinishReason, LlamaLoad, Sampling};
use serde_json::{Value, json};

use super::summary::{self, LlmStep, MAP_MAX_TOKENS, REDUCE_MAX_TOKENS};
use crate::args::RunArgs;
use crate::config::SummaryConfig;
use crate::home::Home;

/// What the completion of each item must turn into.
struct Pending {
    step: &'static str,
    is_final: bool,
    gaps: Vec<Value>,
}

pub fn run_batch(
    home: &Home,
    args: &RunArgs,
    cfg: &SummaryConfig,
    queue: &mut Queue,
    owner: &str,
    jobs: Vec<ClaimedJob>,
    stop: &Arc<AtomicBool>,
) -> Result<()> {
    let mut items = Vec::new();
    let mut pending: HashMap<i64, Pending> = HashMap::new();
    for job in &jobs {
        let Some(step) = summary::prepare(queue, owner, job, cfg)? else {
            continue;
        };
        let meta = match queue.meeting(&job.meeting_id)? {
            Some(m) => MeetingMeta {
                title: m.title,
                duration_s: m.duration_s,
            },
            None => continue,
        };
        let (messages, schema, max_tokens, p) = match step {
            LlmStep::Map { window } => (
                l1_messages(&meta, &window),
                l1_schema(),
                MAP_MAX_TOKENS,
                Pending {
                    step: "map",
                    is_final: false,
                    gaps: Vec::new(),
                },
            ),
            LlmStep::Reduce {
                inputs,
                is_final,
                gaps,
            } => (
                l2_messages(&meta, &inputs, None),
                l2_schema(),
                REDUCE_MAX_TOKENS,
                Pending {
                    step: "reduce",
                    is_final,
                    gaps,
                },
            ),
        };
        pending.insert(job.job_id, p);
        items.push(CompleteItem {
            json_schema: Some(schema),
            max_tokens,
            sampling: Sampling {
                temperature: cfg.temperature,
                top_p: cfg.top_p,
                repeat_penalty: cfg.repeat_penalty,
                ..Sampling::default()
            },
            ..CompleteItem::chat(
                job.job_id,
                messages
                    .into_iter()
                    .map(|m| ChatMessage::new(m.role, m.content))
                    .collect(),
            )
        });
    }
    if items.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = items.iter().map(|i| i.job_id).collect();
    let (model, bin) = super::model_and_worker(home, queue, owner, &ids, &cfg.model, LLAMA_WORKER)?;
    let threads = super::worker_threads(args);
    let load = LlamaLoad {
        n_ctx: cfg.n_ctx,
        ..LlamaLoad::new(model.to_string_lossy(), threads)
    };
    let opts = BatchOptions {
        threads,
        timeout: Duration::from_secs(args.batch_timeout),
        sched_idle: args.sched_idle,
        stop_flag: Some(Arc::clone(stop)),
        ..BatchOptions::default()
    };
    let mut store_error: Option<anyhow::Error> = None;
    let mut on_event = |ev: LlamaEvent| -> ControlFlow<()> {
        let stored: Result<()> = match ev {
            LlamaEvent::Ready {
                model,
                load_s,
                device,
                n_ctx,
                ..
            } => {
                tracing::info!(
                    "llama worker ready: {model} on {device}, n_ctx {n_ctx}, loaded in {load_s:.2} s"
                );
                Ok(())
            }
            LlamaEvent::ItemDone {
                job_id,
                text,
                tokens_in,
                tokens_out,
                finish_reason,
                metrics,
            } => {
                let p = pending.remove(&job_id);
                let parsed = match p.as_ref().map(|p| p.step) {
                    Some("map") => parse_l1(&text).map(|v| json!(v)),
                    _ => parse_l2(&text).map(|v| json!(v)),
                };
                let metrics = json!({
                    "wall_s": metrics.wall_s, "tokens_in": tokens_in, "tokens_out": tokens_out,
                    "prompt_tokens_per_s": metrics.prompt_tokens_per_s, "gen_tokens_per_s": metrics.gen_tokens_per_s,
                });
                match (parsed, p) {
                    (Ok(output), Some(p)) => {
                        tracing::info!(
                            job_id,
                            step = p.step,
                            tokens_in,
                            tokens_out,
                            "summary step done"
                        );
                        let result = json!({"step": p.step, "final": p.is_final, "output": output, "gaps": p.gaps});
                        queue
                            .complete(job_id, owner, &result, &metrics)
                            .map_err(Into::into)
                    }
                    (Err(e), _) => {
                        let why = if finish_reason == FinishReason::Stop {
                            String::new()
                        } else {
                            format!(" (generation stopped: {finish_reason:?})")
                        };
                        queue
                            .fail(job_id, owner, &format!("{e}{why}"), true)
                            .map(|_| ())
                            .map_err(Into::into)
                    }
                    (Ok(_), None) => Ok(()),
                }
            }
            LlamaEvent::ItemFailed { job_id, message } => {
                tracing::warn!(job_id, "summary step failed: {message}");
                queue
                    .fail(job_id, owner, &message, true)
                    .map(|_| ())
                    .map_err(Into::into)
            }
        };
        match stored {
            Ok(()) if stop.load(Ordering::SeqCst) => ControlFlow::Break(()),
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                store_error = Some(e);
                ControlFlow::Break(())
            }
        }
    };
    let report = nightshift_supervisor::run_llama_batch(&bin, &load, &items, &opts, &mut on_event)?;
    if let Some(e) = store_error {
        tracing::warn!("summary batch stopped early: {e:#}");
    }
    super::audio::settle_unanswered(queue, owner, &report)
}
