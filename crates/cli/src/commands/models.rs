//! `nightshift models list|path|pull`.

use std::process::ExitCode;

use anyhow::Result;
use nightshift_pipeline::home::{Home, KNOWN_MODELS};
use nightshift_pipeline::models::pull;

use crate::args::ModelsAction;

pub fn run(home: &Home, action: &ModelsAction) -> Result<ExitCode> {
    match action {
        ModelsAction::List => {
            let name_w = KNOWN_MODELS.iter().map(|m| m.name.len()).max().unwrap_or(0);
            let file_w = KNOWN_MODELS.iter().map(|m| m.file.len()).max().unwrap_or(0);
            for m in KNOWN_MODELS {
                let where_ = match home.find_model(m.name) {
                    Ok(p) => p.display().to_string(),
                    Err(_) => "missing".to_string(),
                };
                println!(
                    "{:<name_w$} {:<file_w$} {:<50} {}",
                    m.name, m.file, where_, m.what
                );
            }
        }
        ModelsAction::Path { name } => println!("{}", home.find_model(name)?.display()),
        ModelsAction::Pull { name } => println!("{}", pull(home, name)?.display()),
    }
    Ok(ExitCode::SUCCESS)
}
