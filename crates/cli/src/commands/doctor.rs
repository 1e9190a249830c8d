//! `nightshift doctor`: what is missing and how to fix it, one line per check.

use std::process::ExitCode;

use anyhow::Result;
use nightshift_pipeline::Home;

pub fn run(home: &Home) -> Result<ExitCode> {
    let mut bad = false;
    for c in nightshift_pipeline::doctor::checks(home) {
        let mark = if c.ok {
            "ok"
        } else if c.essential {
            "MISSING"
        } else {
            "note"
        };
        println!("{:<8} {:<15} {}", mark, c.name, c.detail);
        bad |= c.essential && !c.ok;
    }
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
