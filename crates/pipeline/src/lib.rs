//! The pipeline as a library: what `nightshift` does between parsing arguments and printing.
//!
//! - [`job`]: the typed job model — every job kind, its payload, task type, stage, model key and
//!   whether its model is held under the GPU lease; the only reader and writer of stored payloads.
//! - [`meetings`] and [`recording`]: a file or a live recording becomes a meeting with its jobs.
//! - [`foreman`]: `run` — scheduling, the GPU lease, one batch runner for every worker kind.
//! - [`transcript`], [`speakers`]: the `show` document from stored results, speaker names.
//! - [`search`]: hybrid search (FTS5 full text + sentence embeddings) across meetings.
//! - [`session`]: the daemon's warm model and spool directory (the HTTP surface is the binary's).
//! - [`config`], [`home`]: `<home>/config.toml` profiles and the data directory layout.
//!
//! No clap types: callers pass plain option structs.

pub mod config;
pub mod doctor;
pub mod foreman;
pub mod fsutil;
pub mod home;
pub mod job;
pub mod media_store;
pub mod meetings;
pub mod models;
pub mod recording;
pub mod retention;
pub mod search;
pub mod session;
pub mod speakers;
pub mod transcript;

pub use config::Config;
pub use home::Home;
