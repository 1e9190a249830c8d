//! `nightshift run`: the Foreman. Claims ready work batch by batch as the scheduling policy
//! decides, runs each batch in a worker process, and checkpoints every chunk as it arrives.
//!
//! Invariants: the Foreman never links an engine; every claim carries a lease that a separate
//! heartbeat thread extends; a stop request (Ctrl-C, SIGTERM) finishes the item in flight and
//! gives unstarted items back without counting an attempt.

mod audio;
mod batch;
mod diarize;
mod embeddings;
mod events;
mod llm;
mod politeness;
mod progress;
pub mod resources;
pub mod summary;
mod visual;

pub use politeness::When;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use nightshift_core::TaskType;
use nightshift_queue::{ClaimFilter, Queue, RunnerIdentity};
use nightshift_scheduler::{Decision, Policy, ReadyGroup, Resources};

use crate::home::Home;
use crate::job::BatchKind;

/// How `run` works: the binary's `run` options, as plain values.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Return once no job is PENDING (backoff included) or PROCESSING.
    pub until_idle: bool,
    /// Only this task type's jobs.
    pub only: Option<TaskType>,
    /// Memory budget for models, e.g. `6GiB` (default: the profile's, detected VRAM, or RAM).
    pub gpu_budget: Option<String>,
    pub profile: Option<String>,
    pub when: When,
    /// Whisper model file or name (overrides the profile).
    pub model: Option<String>,
    /// Inference threads per worker (default: all cores).
    pub threads: Option<u32>,
    /// Force the spoken language (ISO 639-1).
    pub language: Option<String>,
    /// Whisper beam width (overrides the profile's `asr_beam_size`; 1 = greedy).
    pub beam_size: Option<u32>,
    /// Most jobs per worker batch.
    pub batch: usize,
    /// Kill a worker batch that runs longer than this many seconds.
    pub batch_timeout: u64,
    /// Run workers with SCHED_IDLE as well as nice 10.
    pub sched_idle: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            until_idle: false,
            only: None,
            gpu_budget: None,
            profile: None,
            when: When::Now,
            model: None,
            threads: None,
            language: None,
            beam_size: None,
            batch: 16,
            batch_timeout: 3600,
            sched_idle: false,
        }
    }
}

/// How often an idle runner looks for new or unblocked work.
const POLL: Duration = Duration::from_millis(500);
/// How often a running Foreman looks for recordings whose recorder died (also at start, and
/// before `--until-idle` calls the queue drained): a recorder killed while `run` works must
/// not leave its meeting recording, and its open chunk in a part file, until the next `run`.
const RECOVER_EVERY: Duration = Duration::from_secs(5);

pub fn run(home: &Home, opts: &RunOptions) -> Result<()> {
    home.ensure()?;
    let config = crate::config::Config::load(home)?;
    let mut profile = config.selected_profile(opts.profile.as_deref())?;
    tracing::debug!(profile = %profile.name, "profile");
    if opts.model.is_none()
        && let Some(line) = profile.settle_asr_model(home)
    {
        tracing::info!("{line}");
    }
    let db = home.db_url()?;
    let mut queue = Queue::open(&db)?;
    let me = RunnerIdentity::current();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    politeness::wait_until_allowed(opts.when, &stop);
    recover_recordings(home, &mut queue)?;
    queue.register_runner(&me)?;
    let heartbeat = spawn_heartbeat(
        &db,
        &me.runner_id,
        queue.lease_duration(),
        Arc::clone(&stop),
    )?;
    let outcome = drain(
        home,
        opts,
        &profile,
        &config.speakers,
        &mut queue,
        &me,
        &stop,
    );
    if outcome.is_ok() {
        crate::retention::prune(home, &mut queue, config.storage.chunk_retention_days)?;
    }
    drop(heartbeat.stop);
    let _ = heartbeat.handle.join();
    queue.unregister_runner(&me.runner_id)?;
    outcome?;
    if stop.load(Ordering::SeqCst) {
        tracing::info!("stopped on request; the queue is consistent and `run` resumes it");
    }
    Ok(())
}

/// The main loop: until stopped, or (with `--until-idle`) until nothing is PENDING or
/// PROCESSING for this runner's filter.
fn drain(
    home: &Home,
    opts: &RunOptions,
    profile: &crate::config::Profile,
    speakers: &crate::config::SpeakersConfig,
    queue: &mut Queue,
    me: &RunnerIdentity,
    stop: &Arc<AtomicBool>,
) -> Result<()> {
    let task = opts.only;
    let filter = ClaimFilter {
        task_type: task,
        model_key: None,
    };
    let policy = Policy {
        max_batch_jobs: opts.batch.max(1),
    };
    let mut resident: Option<String> = None;
    let asr_model = opts.model.as_deref().unwrap_or(&profile.asr_model);
    let (budget, costs) = budget_and_costs(home, opts, profile, asr_model)?;
    let summaries = profile.summary.enabled && matches!(task, None | Some(TaskType::Summary));
    let audio_filter = ClaimFilter {
        task_type: Some(TaskType::Audio),
        model_key: None,
    };
    let mut progress = progress::Progress::new("audio", queue.outstanding(&audio_filter)?.0 as u64);
    let ctx = Ctx {
        home,
        opts,
        profile,
        speakers,
        asr_model,
        me,
        stop,
    };
    let mut embeddings = embeddings::Embeddings::default();
    let mut recovered_at = std::time::Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if recovered_at.elapsed() >= RECOVER_EVERY {
            recover_recordings(home, queue)?;
            recovered_at = std::time::Instant::now();
        }
        housekeeping(queue, me, summaries)?;
        let groups = ready_groups(queue, task)?;
        let resources = Resources {
            budget_bytes: budget.bytes,
            held_by_others_bytes: resources::held_by_others(queue, &me.runner_id, &budget)?,
            resident_model: resident.clone(),
        };
        match nightshift_scheduler::next_batch(&groups, &costs, &resources, &policy) {
            Decision::Run(batch) => {
                let leased = run_leased(&ctx, queue, &batch, &costs, budget.bytes, &mut |q| {
                    run_decided(&ctx, q, &batch, &mut progress, &audio_filter)
                })?;
                if leased {
                    resident = batch.model_key;
                } else {
                    thread::sleep(POLL);
                }
            }
            Decision::TooLarge {
                model_key,
                needed_bytes,
                budget_bytes,
            } => {
                anyhow::bail!(
                    "model {} needs {} MiB but the budget is {} MiB: raise --gpu-budget or choose a smaller model",
                    model_key.unwrap_or_default(),
                    needed_bytes >> 20,
                    budget_bytes >> 20
                );
            }
            Decision::WaitForMemory { .. } | Decision::Idle => {
                // Nothing to run: embed the passages stored meanwhile for search, a slice at a
                // time (off the GPU lease), before sleeping or calling the queue drained.
                if embeddings.step(home, queue)? > 0 {
                    continue;
                }
                if opts.until_idle {
                    let (left, _) = queue.outstanding(&filter)?;
                    if left == 0 && recover_recordings(home, queue)? == 0 {
                        progress.finish();
                        tracing::info!("queue drained");
                        return Ok(());
                    }
                }
                // PostgreSQL wakes us when work is queued anywhere; SQLite polls.
                queue.wait_for_jobs(POLL)?;
            }
        }
    }
    progress.finish();
    Ok(())
}

/// The memory budget (logged) and what each model key costs in it.
fn budget_and_costs(
    home: &Home,
    opts: &RunOptions,
    profile: &crate::config::Profile,
    asr_model: &str,
) -> Result<(resources::Budget, std::collections::HashMap<String, u64>)> {
    let budget = resources::budget(opts.gpu_budget.as_deref(), profile)?;
    tracing::info!(
        "model memory budget {} MiB ({})",
        budget.bytes >> 20,
        budget.source
    );
    let costs = resources::model_costs(home, asr_model, &profile.summary, &profile.vision);
    Ok((budget, costs))
}

/// Finish the recordings whose recorder died; how many.
fn recover_recordings(home: &Home, queue: &mut Queue) -> Result<usize> {
    let n = crate::recording::recover(home, queue)?;
    if n > 0 {
        tracing::info!("finished {n} interrupted recording(s)");
    }
    Ok(n)
}

/// Before each decision: requeue the work of runners that stopped, and queue the summary plan
/// of every meeting whose media jobs have finished.
fn housekeeping(queue: &mut Queue, me: &RunnerIdentity, summaries: bool) -> Result<()> {
    let reclaimed = queue.reclaim_dead_runners(me)? + queue.requeue_expired()?;
    if reclaimed > 0 {
        tracing::info!("requeued {reclaimed} job(s) of runners that stopped");
    }
    if summaries {
        summary::queue_ready(queue)?;
    }
    Ok(())
}

/// What the queue has ready, as the scheduler sees it.
fn ready_groups(queue: &Queue, task: Option<TaskType>) -> Result<Vec<ReadyGroup>> {
    Ok(queue
        .ready_groups(task)?
        .into_iter()
        .map(|g| ReadyGroup {
            model_key: g.model_key,
            task_type: g.task_type,
            ready_jobs: g.ready_jobs,
            max_priority: g.max_priority,
            oldest_job_id: g.oldest_job_id,
        })
        .collect())
}

/// Run `batch` while holding its model's memory in the shared lease table, so nobody else
/// sharing this home loads a model that does not fit beside it. `Ok(false)`: the lease was
/// refused (others hold the memory), nothing ran.
fn run_leased(
    ctx: &Ctx<'_>,
    queue: &mut Queue,
    batch: &nightshift_scheduler::Batch,
    costs: &std::collections::HashMap<String, u64>,
    budget_bytes: u64,
    run: &mut dyn FnMut(&mut Queue) -> Result<()>,
) -> Result<bool> {
    let owner = &ctx.me.runner_id;
    let cost = batch
        .model_key
        .as_ref()
        .and_then(|k| costs.get(k).map(|&c| (k.clone(), c)))
        .filter(|&(_, c)| c > 0);
    if let Some((key, bytes)) = &cost
        && let Err(denied) = queue.acquire_gpu(owner, key, *bytes, budget_bytes)?
    {
        tracing::debug!(
            "waiting for memory: {key} needs {} MiB, others hold {} MiB",
            bytes >> 20,
            denied.held_by_others_bytes >> 20
        );
        return Ok(false);
    }
    let ran = run(queue);
    if cost.is_some() {
        queue.release_gpu(owner)?;
    }
    ran.map(|()| true)
}

/// What every batch of a run shares.
struct Ctx<'a> {
    home: &'a Home,
    opts: &'a RunOptions,
    profile: &'a crate::config::Profile,
    speakers: &'a crate::config::SpeakersConfig,
    asr_model: &'a str,
    me: &'a RunnerIdentity,
    stop: &'a Arc<AtomicBool>,
}

impl Ctx<'_> {
    /// Where a worker batch of this run stores its answers, and how it may run.
    fn sink<'q>(&'q self, queue: &'q mut Queue) -> batch::Sink<'q> {
        batch::Sink {
            queue,
            owner: &self.me.runner_id,
            stop: self.stop,
            threads: worker_threads(self.opts),
            timeout: Duration::from_secs(self.opts.batch_timeout),
            sched_idle: self.opts.sched_idle,
        }
    }
}

/// Claim and run one batch the scheduler chose.
fn run_decided(
    ctx: &Ctx<'_>,
    queue: &mut Queue,
    batch: &nightshift_scheduler::Batch,
    progress: &mut progress::Progress,
    audio_filter: &ClaimFilter,
) -> Result<()> {
    let Ctx {
        home,
        opts,
        profile,
        me,
        stop,
        ..
    } = *ctx;
    // The scheduler chose one (model, task) group; a group without a model is exactly that
    // (a plan batch must not take the LLM steps that another meeting's plan just queued).
    let f = ClaimFilter {
        task_type: Some(batch.task_type),
        model_key: Some(batch.model_key.clone().unwrap_or_default()),
    };
    let jobs = queue.claim_batch(&me.runner_id, &f, batch.max_jobs)?;
    if jobs.is_empty() {
        return Ok(()); // another runner was faster
    }
    tracing::debug!(model = ?batch.model_key, reason = ?batch.reason, jobs = jobs.len(), "batch");
    let Some(kind) = BatchKind::of(batch.task_type, batch.model_key.as_deref()) else {
        for j in &jobs {
            queue.release(j.job_id, &me.runner_id)?;
        }
        anyhow::bail!(
            "{} jobs with model key {:?}: no job kind of this release; upgrade nightshift",
            batch.task_type,
            batch.model_key
        );
    };
    match kind {
        BatchKind::Diarize => diarize::run_batch(ctx, queue, jobs)?,
        BatchKind::Chunks => {
            // Jobs claimed now are outstanding no more: count them back in.
            let left = queue.outstanding(audio_filter)?.0 as u64;
            progress.grow_to(left);
            audio::run_batch(ctx, queue, jobs, progress)?
        }
        BatchKind::Plan => {
            for j in &jobs {
                summary::run_plan(queue, &me.runner_id, j, &profile.summary, ctx.speakers)?;
            }
        }
        BatchKind::LlmSteps => llm::run_batch(ctx, queue, jobs)?,
        // Audio events and objects: in process on the CPU, one job at a time.
        BatchKind::Events | BatchKind::Objects => {
            for j in &jobs {
                if stop.load(Ordering::SeqCst) {
                    queue.release(j.job_id, &me.runner_id)?;
                    continue;
                }
                let threads = worker_threads(opts) as usize;
                if kind == BatchKind::Events {
                    events::run_events(home, queue, &me.runner_id, j, &profile.events, threads)?;
                } else {
                    events::run_objects(home, queue, &me.runner_id, j, &profile.objects, threads)?;
                }
            }
        }
        BatchKind::Describe if profile.vision.backend == crate::config::VisionBackend::Local => {
            visual::describe_local(ctx, queue, jobs)?
        }
        // Scenes on the CPU, and scene descriptions by a server: one job at a time.
        BatchKind::Scenes | BatchKind::Describe => {
            for j in &jobs {
                if stop.load(Ordering::SeqCst) {
                    queue.release(j.job_id, &me.runner_id)?;
                    continue;
                }
                visual::run_job(
                    home,
                    queue,
                    &me.runner_id,
                    j,
                    worker_threads(opts) as usize,
                    profile,
                    ctx.speakers,
                )?;
            }
        }
    }
    Ok(())
}

/// Engine threads per worker: `--threads`, or every core.
fn worker_threads(opts: &RunOptions) -> u32 {
    opts.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(2)
    })
}

/// The model file and the worker binary a batch needs. When either is missing the runner
/// cannot work at all: the claimed jobs are given back untouched and the error says why.
fn model_and_worker(
    home: &Home,
    queue: &mut Queue,
    owner: &str,
    job_ids: &[i64],
    model: &str,
    worker: impl FnOnce(&std::path::Path) -> Result<&'static str>,
) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let setup = home.find_model(model).and_then(|m| {
        let bin = nightshift_supervisor::find_worker_binary(worker(&m)?)?;
        Ok((m, bin))
    });
    if setup.is_err() {
        for &id in job_ids {
            queue.release(id, owner)?;
        }
    }
    setup
}

struct Heartbeat {
    /// Dropping it ends the thread at once (a sleep loop kept a finished `run` waiting up to
    /// its tick).
    stop: mpsc::Sender<()>,
    handle: thread::JoinHandle<()>,
}

/// Extend this runner's job leases and its GPU lease from its own connection, so a long chunk
/// never loses either.
fn spawn_heartbeat(
    db: &nightshift_queue::DbUrl,
    owner: &str,
    lease: Duration,
    _stop_all: Arc<AtomicBool>,
) -> Result<Heartbeat> {
    let mut q = Queue::open(db)?;
    let owner = owner.to_string();
    let (stop, stopped) = mpsc::channel::<()>();
    let every = lease / 4;
    let handle = thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                if let Err(e) = q.heartbeat(&owner).and_then(|_| q.heartbeat_gpu(&owner)) {
                    tracing::warn!("heartbeat failed: {e}");
                }
            }
        })
        .context("starting the heartbeat thread")?;
    Ok(Heartbeat { stop, handle })
}
