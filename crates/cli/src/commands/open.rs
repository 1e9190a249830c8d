//! `nightshift open`: sign a browser into the web app with a one-time link.

use std::process::{ExitCode, Stdio};

use anyhow::{Context, Result};

use crate::args::OpenArgs;
use crate::daemon::{run_dir, web};
use nightshift_pipeline::Home;

pub fn run(home: &Home, args: &OpenArgs) -> Result<ExitCode> {
    home.ensure()?;
    let addr = nightshift_pipeline::session::client::ensure_daemon(home)?;
    let code = web::auth::new_code(&run_dir(home)).context("writing the sign-in code")?;
    let url = format!("http://{addr}/open?code={code}");
    println!("{url}");
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if !args.print && has_display {
        let launched = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if launched.is_err() {
            eprintln!("no browser could be started (xdg-open): open the link above yourself");
        }
    } else if !args.print {
        eprintln!(
            "open the link above in a browser on this machine (it works once, for 10 minutes)"
        );
    }
    Ok(ExitCode::SUCCESS)
}
