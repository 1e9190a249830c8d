//! The session daemon's engine room: a whisper worker kept warm between requests (`model`), and
//! the spool directory scripts drop requests into (`spool`). The HTTP surface lives in the
//! binary and talks to the model thread through [`model::Job`]s; [`client`] finds, starts or
//! replaces the daemon and sends it audio (`transcribe`, `dictate`).

pub mod client;
pub mod model;
pub mod spool;
