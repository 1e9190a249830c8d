//! `<home>/config.toml`. Every key is optional; a missing file means the built-in defaults.
//!
//! ```toml
//! [storage]
//! # Delete the chunk audio of meetings whose jobs all finished more than N days ago
//! # (transcripts stay). 0 keeps chunks forever.
//! chunk_retention_days = 30
//!
//! [summary]
//! enabled = true
//! model = "smollm2-135m"      # name or path of a GGUF chat model
//! n_ctx = 8192
//! temperature = 0.3           # 0 makes tiny models loop; the schema guarantees structure
//! top_p = 0.9
//! repeat_penalty = 1.1
//! ```

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::home::Home;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub summary: SummaryConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SummaryConfig {
    pub enabled: bool,
    pub model: String,
    pub n_ctx: u32,
    pub temperature: f32,
    pub top_p: f32,
    pub repeat_penalty: f32,
}

impl Default for SummaryConfig {
    fn default() -> Self {
        SummaryConfig {
            enabled: true,
            model: "smollm2-135m".into(),
            n_ctx: 8192,
            temperature: 0.3,
            top_p: 0.9,
            repeat_penalty: 1.1,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    #[serde(default = "default_retention_days")]
    pub chunk_retention_days: f64,
}

fn default_retention_days() -> f64 {
    30.0
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            chunk_retention_days: default_retention_days(),
        }
    }
}

impl Config {
    pub fn load(home: &Home) -> Result<Config> {
        let path = home.root.join("config.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
        };
        // toml's message spans several lines (with a caret); keep the first for one error line.
        toml::from_str(&text).map_err(|e| {
            let first = e
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string();
            anyhow::anyhow!("{}: {first}", path.display())
        })
    }
}
