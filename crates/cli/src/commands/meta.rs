//! `nightshift completions SHELL` and `nightshift man`: both from the clap definition, so they
//! never drift from the real command line.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::args::Cli;

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "nightshift", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

pub fn man(out_dir: Option<&Path>) -> Result<ExitCode> {
    let cmd = Cli::command();
    let Some(dir) = out_dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let write = |name: &str, page: clap::Command| -> Result<()> {
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, out).with_context(|| format!("{}: cannot write", path.display()))
    };
    let mut n = 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("nightshift-{}", sub.get_name());
        write(&name, sub.clone().name(name.clone()))?;
        n += 1;
    }
    write("nightshift", cmd)?;
    eprintln!("{n} manual pages written to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
