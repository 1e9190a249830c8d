//! One module per subcommand; `dispatch` wires them.

pub(crate) mod add;
mod bench;
mod bench_stages;
mod db;
mod doctor;
mod manage;
mod meta;
mod models;
mod open;
mod plan;
pub(crate) mod record;
mod search;
mod service;
mod show;
mod speakers;
mod status;

use std::process::ExitCode;

use anyhow::Result;
use nightshift_queue::Queue;

use nightshift_core::TaskType;
use nightshift_pipeline::Home;
use nightshift_pipeline::foreman::{RunOptions, When};

use crate::args::{BenchWhat, Cli, Command, OnlyArg, RunArgs, WhenArg};

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    let home = Home::resolve(cli.global.home.as_deref())?.with_db(cli.global.db.as_deref())?;
    match cli.command {
        Command::Add(a) => add::run(&home, &a),
        Command::Run(r) => {
            nightshift_pipeline::foreman::run(&home, &run_options(r))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(s) => status::run(&home, &s),
        Command::Show(s) => show::run(&home, &s),
        Command::Search(s) => search::run(&home, &s),
        Command::Retry(r) => manage::retry(&home, &r),
        Command::Cancel(m) => manage::cancel(&home, &m.meeting),
        Command::Rm(m) => manage::rm(&home, &m.meeting),
        Command::Models(m) => models::run(&home, &m.action),
        Command::Doctor => doctor::run(&home),
        Command::Plan(p) => plan::run(&home, &p),
        Command::Record(r) => record::run(&home, &r),
        Command::Devices => record::devices(),
        Command::Speakers(s) => speakers::run(&home, &s.action),
        Command::Open(o) => open::run(&home, &o),
        Command::Service(s) => service::run(&home, &s.action),
        Command::Db(d) => db::run(&home, &d.action),
        Command::Completions { shell } => meta::completions(shell),
        Command::Man { out_dir } => meta::man(out_dir.as_deref()),
        Command::Serve(s) => crate::daemon::serve(&home, &s),
        Command::Transcribe(t) => crate::daemon::client::transcribe(&home, &t),
        Command::Dictate(d) => crate::daemon::dictate::run(&home, &d),
        Command::Bench(b) => match b.what {
            BenchWhat::Queue {
                jobs,
                consumers,
                json,
            } => bench::queue(&home, jobs, &consumers, json),
            BenchWhat::QueueConsumer { db } => bench::queue_consumer(&db),
            BenchWhat::Stages { json } => bench_stages::run(&home, json),
        },
    }
}

fn run_options(r: RunArgs) -> RunOptions {
    RunOptions {
        until_idle: r.until_idle,
        only: r.only.map(|o| match o {
            OnlyArg::Audio => TaskType::Audio,
            OnlyArg::Visual => TaskType::Visual,
            OnlyArg::Summary => TaskType::Summary,
        }),
        gpu_budget: r.gpu_budget,
        profile: r.profile,
        when: match r.when {
            WhenArg::Now => When::Now,
            WhenArg::Idle => When::Idle,
            WhenArg::Ac => When::Ac,
            WhenArg::Night => When::Night,
        },
        model: r.model,
        threads: r.threads,
        language: r.language,
        beam_size: r.beam_size,
        batch: r.batch,
        batch_timeout: r.batch_timeout,
        sched_idle: r.sched_idle,
    }
}

/// Open the queue of a home that must already exist (read and manage commands).
pub(crate) fn open_existing(home: &Home) -> Result<Queue> {
    Ok(Queue::open_existing(home.db_url()?)?)
}
