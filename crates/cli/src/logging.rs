//! Logs go to stderr (stdout carries only the data asked for).

use tracing_subscriber::EnvFilter;

use crate::args::{Global, LogFormat};

pub fn init(global: &Global) {
    let default = if global.verbose { "debug" } else { "info" };
    let filter =
        EnvFilter::try_from_env("NIGHTSHIFT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match global.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.without_time().init(),
    }
}
