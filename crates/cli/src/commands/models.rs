//! `nightshift models list|path|pull|quantize`.

use std::process::ExitCode;

use anyhow::Result;
use nightshift_pipeline::home::{Home, KNOWN_MODELS};
use nightshift_pipeline::models::{pull, quantize};

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
        ModelsAction::Quantize { model, to } => {
            let q = quantize::quantize(home, model, to)?;
            println!("{}", q.path.display());
            eprintln!(
                "{}: {} -> {} bytes, sha256 {} (use it as --model {})",
                q.name, q.bytes_in, q.bytes_out, q.sha256, q.name
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
