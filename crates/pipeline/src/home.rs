//! The data directory and where models are found.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Layout of a nightshift home (DESIGN.md §2).
#[derive(Debug, Clone)]
pub struct Home {
    pub root: PathBuf,
}

impl Home {
    /// The given directory (`--home`, `NIGHTSHIFT_HOME`), or the platform data dir.
    pub fn resolve(home: Option<&Path>) -> Result<Home> {
        let root = match home {
            Some(h) => h.to_path_buf(),
            None => default_data_dir()
                .context("no --home given and no platform data directory (set NIGHTSHIFT_HOME)")?,
        };
        if root.exists() && !root.is_dir() {
            bail!("{}: home is not a directory", root.display());
        }
        Ok(Home { root })
    }

    /// Create the directories a writing command needs.
    pub fn ensure(&self) -> Result<()> {
        for dir in [
            self.chunks_dir(),
            self.root.join("cache"),
            self.root.join("out"),
            self.root.join("logs"),
        ] {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("{}: cannot create directory", dir.display()))?;
        }
        Ok(())
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join("nightshift.db")
    }

    pub fn chunks_dir(&self) -> PathBuf {
        self.root.join("media").join("chunks")
    }

    /// Keyframes of video meetings, named by content hash.
    pub fn keyframes_dir(&self) -> PathBuf {
        self.root.join("media").join("keyframes")
    }

    /// Directories searched for model files, in order.
    pub fn model_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(v) = std::env::var_os("NIGHTSHIFT_MODELS") {
            dirs.extend(std::env::split_paths(&v));
        }
        dirs.push(self.root.join("models"));
        dirs
    }

    /// Find a model by file path, file name or short name (`tiny.en` → `ggml-tiny.en.bin`).
    pub fn find_model(&self, name: &str) -> Result<PathBuf> {
        let as_path = Path::new(name);
        if as_path.components().count() > 1 || as_path.is_absolute() {
            if as_path.is_file() {
                return Ok(as_path.to_path_buf());
            }
            bail!("{name}: model file not found");
        }
        let file = known_model(name).map(|m| m.file).unwrap_or(name);
        let dirs = self.model_dirs();
        for dir in &dirs {
            let candidate = dir.join(file);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        bail!(
            "{file}: model not found (searched {}); put it in one of those directories or point NIGHTSHIFT_MODELS at the directory that holds it",
            searched.join(", ")
        )
    }
}

fn default_data_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("nightshift"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/nightshift"))
}

/// A model nightshift knows by name. `sha1` is the checksum upstream publishes for the file
/// `models pull` downloads (whisper.cpp's models/README.md); `None` = not downloadable.
pub struct KnownModel {
    pub name: &'static str,
    pub file: &'static str,
    pub what: &'static str,
    pub sha1: Option<&'static str>,
}

const fn whisper(
    name: &'static str,
    file: &'static str,
    what: &'static str,
    sha1: &'static str,
) -> KnownModel {
    KnownModel {
        name,
        file,
        what,
        sha1: Some(sha1),
    }
}

pub const KNOWN_MODELS: &[KnownModel] = &[
    whisper(
        "tiny.en",
        "ggml-tiny.en.bin",
        "Whisper tiny.en (dev profile ASR)",
        "c78c86eb1a8faa21b369bcd33207cc90d64ae9df",
    ),
    whisper(
        "tiny",
        "ggml-tiny.bin",
        "Whisper tiny, multilingual",
        "bd577a113a864445d4c299885e0cb97d4ba92b5f",
    ),
    whisper(
        "base.en",
        "ggml-base.en.bin",
        "Whisper base.en",
        "137c40403d78fd54d454da0f9bd998f78703390c",
    ),
    whisper(
        "base",
        "ggml-base.bin",
        "Whisper base, multilingual",
        "465707469ff3a37a2b9b8d8f89f2f99de7299dac",
    ),
    whisper(
        "small.en",
        "ggml-small.en.bin",
        "Whisper small.en",
        "db8a495a91d927739e50b3fc1cc4c6b8f6c2d022",
    ),
    whisper(
        "small",
        "ggml-small.bin",
        "Whisper small, multilingual",
        "55356645c2b361a969dfd0ef2c5a50d530afd8d5",
    ),
    whisper(
        "medium",
        "ggml-medium.bin",
        "Whisper medium, multilingual",
        "fd9727b6e1217c2f614f9b698455c4ffd82463b4",
    ),
    whisper(
        "large-v3",
        "ggml-large-v3.bin",
        "Whisper large-v3 (prod profile ASR)",
        "ad82bf6a9043ceed055076d0fd39f5f186ff8062",
    ),
    whisper(
        "large-v3-q5_0",
        "ggml-large-v3-q5_0.bin",
        "Whisper large-v3, q5_0",
        "e6e2ed78495d403bef4b7cff42ef4aaadcfea8de",
    ),
    whisper(
        "large-v3-turbo",
        "ggml-large-v3-turbo.bin",
        "Whisper large-v3-turbo",
        "4af2b29d7ec73d781377bfd1758ca957a807e941",
    ),
    KnownModel {
        name: "silero-vad",
        file: "ggml-silero-v6.2.3.bin",
        what: "Silero VAD v6.2.3 for whisper.cpp",
        sha1: None,
    },
    KnownModel {
        name: "smollm2-135m",
        file: "SmolLM2-135M-Instruct.Q4_1.gguf",
        what: "SmolLM2 135M instruct (dev profile summaries)",
        sha1: None,
    },
    KnownModel {
        name: "llama-3.1-8b-instruct-q4_k_m",
        file: "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
        what: "Llama 3.1 8B instruct, Q4_K_M (prod profile summaries; ~4.9 GB)",
        sha1: None,
    },
];

pub fn known_model(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS
        .iter()
        .find(|m| m.name == name || m.file == name)
}
