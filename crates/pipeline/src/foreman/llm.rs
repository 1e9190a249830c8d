//! Running a batch of SUMMARY steps (map and reduce prompts): through the local llama worker,
//! or through an Ollama / OpenAI-compatible server. A server's reply is read as the llama
//! protocol's own answer, so parsing, checkpointing and failure handling are one adapter
//! ([`Steps`]) for both.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use nightshift_llm_http::{Api, ChatRequest, Client, Endpoint, HttpError};
use nightshift_queue::{ClaimedJob, Queue};
use nightshift_summarize::{
    MeetingMeta, estimate_tokens, l1_messages, l1_schema_for, l2_messages, l2_schema_for,
    max_tokens_for, one_step_messages, parse_l1, parse_l2,
};
use nightshift_supervisor::{LLAMA_WORKER, Llama};
use nightshift_worker_protocol::{
    ChatMessage, CompleteItem, CompletionMetrics, FinishReason, LlamaLoad, LlamaRequest,
    LlamaResponse, Sampling,
};
use serde_json::{Value, json};

use super::batch::{self, Adapter, Settle, WorkerBatch};
use super::summary::{self, LlmStep};
use crate::config::{Backend, SummaryConfig};
use crate::job::SummaryStepResult;

/// What the completion of each item must turn into.
struct Pending {
    step: &'static str,
    is_final: bool,
    gaps: Vec<Value>,
}

pub fn run_batch(ctx: &super::Ctx<'_>, queue: &mut Queue, jobs: Vec<ClaimedJob>) -> Result<()> {
    let cfg = &ctx.profile.summary;
    let owner = ctx.me.runner_id.as_str();
    let mut items = Vec::new();
    let mut pending: HashMap<i64, Pending> = HashMap::new();
    let mut metas: HashMap<String, MeetingMeta> = HashMap::new();
    for job in &jobs {
        let Some(step) = summary::prepare(queue, owner, job, cfg)? else {
            continue;
        };
        if !metas.contains_key(&job.meeting_id) {
            let Some(meta) = meeting_meta(queue, &job.meeting_id, ctx.speakers)? else {
                continue;
            };
            metas.insert(job.meeting_id.clone(), meta);
        }
        let meta = &metas[&job.meeting_id];
        let (messages, schema, p) = step_prompt(queue, &job.meeting_id, meta, step)?;
        let max_tokens = max_tokens_for(&schema);
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
    let mut steps = Steps { pending };
    match cfg.backend {
        Backend::Local => run_local(ctx, queue, &mut steps, items),
        Backend::Ollama => run_server(Api::Ollama, ctx, queue, &mut steps, &items),
        Backend::Openai => run_server(Api::OpenAi, ctx, queue, &mut steps, &items),
    }
}

/// The local llama worker: one model load for the whole batch, freed when the worker exits.
fn run_local(
    ctx: &super::Ctx<'_>,
    queue: &mut Queue,
    steps: &mut Steps,
    items: Vec<CompleteItem>,
) -> Result<()> {
    let cfg = &ctx.profile.summary;
    let ids: Vec<i64> = items.iter().map(|i| i.job_id).collect();
    let owner = ctx.me.runner_id.as_str();
    let (model, bin) = super::model_and_worker(ctx.home, queue, owner, &ids, &cfg.model, |_| {
        Ok(LLAMA_WORKER)
    })?;
    let load = LlamaLoad {
        n_ctx: cfg.n_ctx,
        kv_cache_type: cfg.kv_type,
        flash_attention: cfg.flash_attn,
        gpu_layers: cfg.gpu_layers,
        ..LlamaLoad::new(model.to_string_lossy(), super::worker_threads(ctx.opts))
    };
    let items = items
        .into_iter()
        .map(|i| (i.job_id, LlamaRequest::Complete(i)))
        .collect();
    batch::run(
        ctx.sink(queue),
        WorkerBatch::<Llama> { bin, load, items },
        steps,
    )
}

/// A server the user runs: one request per step, in order. When the server cannot be reached
/// even after the client's retries, the rest of the batch fails with the same error (each job
/// keeps it and is retried later with backoff) instead of waiting out every retry again.
/// Ollama is told to unload the model afterwards, so the next model has the memory.
fn run_server(
    api: Api,
    ctx: &super::Ctx<'_>,
    queue: &mut Queue,
    steps: &mut Steps,
    items: &[CompleteItem],
) -> Result<()> {
    let cfg = &ctx.profile.summary;
    let owner = ctx.me.runner_id.as_str();
    let mut store_error: Option<anyhow::Error> = None;
    let mut unstored: Vec<i64> = Vec::new();
    let endpoint = Endpoint {
        api_key: api_key(cfg)?,
        timeout: Duration::from_secs(cfg.timeout_s.max(1)),
        retries: cfg.retries,
        n_ctx: Some(cfg.n_ctx),
        ..Endpoint::new(api, cfg.server_url(), cfg.model.clone())
    };
    let client = Client::new(endpoint);
    tracing::info!(
        "summary steps on {} server {} (model {})",
        api.name(),
        client.endpoint().base_url,
        cfg.model
    );
    let mut down: Option<String> = None;
    for (i, item) in items.iter().enumerate() {
        if ctx.stop.load(Ordering::SeqCst) || store_error.is_some() {
            for rest in &items[i..] {
                queue.release(rest.job_id, owner)?;
            }
            break;
        }
        let answer = match &down {
            Some(message) => LlamaResponse::JobError {
                job_id: item.job_id,
                message: message.clone(),
            },
            None => ask(&client, item, &mut down),
        };
        // Storing asks to stop only for a stop request or a store error, both checked at the
        // top of the loop.
        let stored = batch::store(queue, owner, None, steps.answer(answer), &mut unstored);
        let _ = batch::after_store(stored, ctx.stop, &mut store_error);
    }
    if let Some(e) = store_error {
        tracing::warn!("summary batch stopped early: {e:#}");
    }
    batch::give_back(queue, owner, &unstored)?;
    if api == Api::Ollama && down.is_none() {
        match client.unload(Duration::from_secs(10)) {
            Ok(true) => tracing::info!("ollama unloaded {}", cfg.model),
            Ok(false) => tracing::warn!("ollama still lists {} after keep_alive 0", cfg.model),
            Err(e) => tracing::warn!("could not unload the model from ollama: {e}"),
        }
    }
    Ok(())
}

/// What the prompts say about a meeting: title, length, date and participants' names.
fn meeting_meta(
    queue: &Queue,
    meeting_id: &str,
    speakers: &crate::config::SpeakersConfig,
) -> Result<Option<MeetingMeta>> {
    let Some(m) = queue.meeting(meeting_id)? else {
        return Ok(None);
    };
    let doc = crate::transcript::build_doc(queue, &m, speakers)?;
    let date = crate::transcript::meeting_date(&m, &doc.segments)
        .map(|(d, _)| format!("{d} {}", d.weekday_name()));
    Ok(Some(MeetingMeta {
        title: m.title,
        duration_s: m.duration_s,
        date,
        participants: doc
            .speakers
            .iter()
            .filter(|s| s.source != "label")
            .map(|s| s.name.clone())
            .collect(),
    }))
}

/// A step's chat messages and output schema (sized to its input), and what its answer becomes.
fn step_prompt(
    queue: &Queue,
    meeting_id: &str,
    meta: &MeetingMeta,
    step: LlmStep,
) -> Result<(Vec<nightshift_summarize::Message>, Value, Pending)> {
    Ok(match step {
        LlmStep::Map { window } => (
            l1_messages(meta, &window),
            l1_schema_for(window.est_tokens),
            Pending {
                step: "map",
                is_final: false,
                gaps: Vec::new(),
            },
        ),
        LlmStep::Summarize { window, gaps } => (
            one_step_messages(meta, &window, visual_notes(queue, meeting_id)?.as_deref()),
            l2_schema_for(window.est_tokens),
            Pending {
                step: "summarize",
                is_final: true,
                gaps,
            },
        ),
        LlmStep::Reduce {
            inputs,
            is_final,
            gaps,
        } => {
            let notes = if is_final {
                visual_notes(queue, meeting_id)?
            } else {
                None
            };
            let tokens = inputs.iter().map(|i| estimate_tokens(i)).sum();
            (
                l2_messages(meta, &inputs, notes.as_deref()),
                l2_schema_for(tokens),
                Pending {
                    step: "reduce",
                    is_final,
                    gaps,
                },
            )
        }
    })
}

/// One step on the server, its reply read as the llama protocol's answer. A server that cannot
/// be reached even after the client's retries sets `down` with the error.
fn ask(client: &Client, item: &CompleteItem, down: &mut Option<String>) -> LlamaResponse {
    let sent = client.chat(&ChatRequest {
        messages: &item.messages,
        json_schema: item.json_schema.as_ref(),
        max_tokens: item.max_tokens,
        sampling: &item.sampling,
        images: &[],
    });
    match sent {
        Ok(reply) => LlamaResponse::Completion {
            job_id: item.job_id,
            text: reply.text,
            tokens_in: reply.tokens_in,
            tokens_out: reply.tokens_out,
            finish_reason: reply.finish_reason,
            metrics: CompletionMetrics {
                wall_s: reply.wall_s,
                prompt_tokens_per_s: reply.prompt_tokens_per_s.unwrap_or(0.0),
                gen_tokens_per_s: reply.gen_tokens_per_s.unwrap_or(0.0),
                ..CompletionMetrics::default()
            },
        },
        Err(e) => {
            let message = e.to_string();
            if matches!(e, HttpError::Unreachable { .. }) {
                *down = Some(message.clone());
            }
            LlamaResponse::JobError {
                job_id: item.job_id,
                message,
            }
        }
    }
}

/// Visual notes budget in the final reduce prompt (characters, ~300 tokens): the prompt's
/// fixed overhead allowance covers it.
const VISUAL_NOTES_MAX_CHARS: usize = 1200;

/// What was on screen, scene by scene, for the final reduce of a video meeting: the vision
/// model's description when there is one, and the on-screen text.
fn visual_notes(queue: &Queue, meeting_id: &str) -> Result<Option<String>> {
    let jobs = queue.jobs_of(meeting_id)?;
    let scenes = crate::transcript::scenes(&jobs, &[])?;
    // Sounds other than speech: a meeting that opens with two minutes of music is not two
    // minutes of silence.
    let events = crate::transcript::audio_events(&jobs)?;
    if scenes.is_empty() && events.is_empty() {
        return Ok(None);
    }
    let mut out = String::new();
    if !events.is_empty() {
        out.push_str(&format!(
            "- Sounds other than speech: {}\n",
            crate::transcript::events_text(&events[..events.len().min(20)])
        ));
    }
    let mut left_out = 0;
    for (i, s) in scenes.iter().enumerate() {
        let mut what = Vec::new();
        if let Some(d) = &s.description {
            what.push(d.clone());
        }
        if !s.ocr_text.is_empty() {
            what.push(format!("on screen: {}", s.ocr_text.replace('\n', " / ")));
        }
        if !s.objects.is_empty() {
            what.push(format!("seen: {}", s.objects));
        }
        if what.is_empty() {
            what.push("(no text on screen)".into());
        }
        let line = format!(
            "- Scene {} [{:.0}–{:.0} s]: {}\n",
            i + 1,
            s.start,
            s.end,
            what.join(" — ")
        );
        if out.len() + line.len() > VISUAL_NOTES_MAX_CHARS {
            left_out += 1;
        } else {
            out.push_str(&line);
        }
    }
    if left_out > 0 {
        // Said, not hidden: the model knows the list is incomplete.
        out.push_str(&format!("- ({left_out} more scenes not listed)\n"));
    }
    Ok(Some(out))
}

fn api_key(cfg: &SummaryConfig) -> Result<Option<String>> {
    match &cfg.api_key_env {
        None => Ok(None),
        Some(var) => match std::env::var(var) {
            Ok(k) if !k.is_empty() => Ok(Some(k)),
            _ => anyhow::bail!(
                "summary.api_key_env names {var}, which is not set in the environment"
            ),
        },
    }
}

/// Summary step answers: parsed against the step's schema and stored with the step's place
/// in the reduce tree; output that does not parse fails the step (retryable).
struct Steps {
    pending: HashMap<i64, Pending>,
}

impl Adapter for Steps {
    type P = Llama;

    fn name(&self) -> &'static str {
        "llama worker"
    }

    fn env(&self) -> Vec<(String, String)> {
        batch::llama_spin_env()
    }

    fn answer(&mut self, response: LlamaResponse) -> Settle {
        match response {
            LlamaResponse::Completion {
                job_id,
                text,
                tokens_in,
                tokens_out,
                finish_reason,
                metrics,
            } => {
                let Some(p) = self.pending.remove(&job_id) else {
                    return Settle::Nothing;
                };
                let parsed = match p.step {
                    "map" => parse_l1(&text).map(|v| json!(v)),
                    _ => parse_l2(&text).map(|v| json!(v)),
                };
                match parsed {
                    Ok(output) => {
                        tracing::info!(
                            job_id,
                            step = p.step,
                            tokens_in,
                            tokens_out,
                            "summary step done"
                        );
                        Settle::Complete {
                            job_id,
                            result: SummaryStepResult {
                                step: p.step.into(),
                                is_final: p.is_final,
                                output: Some(output),
                                gaps: p.gaps,
                                ..SummaryStepResult::default()
                            }
                            .to_value(),
                            metrics: json!({
                                "wall_s": metrics.wall_s, "tokens_in": tokens_in, "tokens_out": tokens_out,
                                "prompt_tokens_per_s": metrics.prompt_tokens_per_s, "gen_tokens_per_s": metrics.gen_tokens_per_s,
                            }),
                        }
                    }
                    Err(e) => {
                        let why = if finish_reason == FinishReason::Stop {
                            String::new()
                        } else {
                            format!(" (generation stopped: {finish_reason:?})")
                        };
                        Settle::Fail {
                            job_id,
                            message: format!("{e}{why}"),
                        }
                    }
                }
            }
            LlamaResponse::JobError { job_id, message } => {
                tracing::warn!(job_id, "summary step failed: {message}");
                Settle::Fail { job_id, message }
            }
            LlamaResponse::Ready { .. } | LlamaResponse::Fatal { .. } => Settle::Nothing,
        }
    }
}
