//! `nightshift models list|path`.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::ModelsAction;
use crate::home::{Home, KNOWN_MODELS};

pub fn run(home: &Home, action: &ModelsAction) -> Result<ExitCode> {
    match action {
        ModelsAction::List => {
            for m in KNOWN_MODELS {
                let where_ = match home.find_model(m.name) {
                    Ok(p) => p.display().to_string(),
                    Err(_) => "missing".to_string(),
                };
                println!("{:<14} {:<34} {:<50} {}", m.name, m.file, where_, m.what);
            }
        }
        ModelsAction::Path { name } => println!("{}", home.find_model(name)?.display()),
    }
    Ok(ExitCode::SUCCESS)
}
