//! `<home>/config.toml` and the profiles it selects. Every key is optional; a missing file
//! means the built-in `dev` profile.
//!
//! ```toml
//! default_profile = "dev"     # used when `run` gets no --profile
//!
//! [storage]
//! # Delete the chunk audio of meetings whose jobs all finished more than N days ago
//! # (transcripts stay). 0 keeps chunks forever.
//! chunk_retention_days = 30
//!
//! [speakers]
//! enabled = true              # diarize every new meeting (who spoke when)
//! match_threshold = 0.86      # cosine similarity at which an enrolled voice names a speaker
//! timbre = true               # merge clusters of one timbre, split those of two
//!
//! [summary]                   # applies to every profile, under the profile's own keys
//! temperature = 0.3
//!
//! [profiles.dev]              # overrides the built-in dev profile key by key
//! asr_model = "base.en"
//! asr_beam_size = 1           # greedy whisper (default: 5 for an English-only model, else 1)
//! asr_engine = "ct2"          # CTranslate2 (default: what asr_model is for; "ct2-tiny.en" is)
//!
//! [profiles.notes.summary]    # built-in notes: dev + Qwen2.5-Coder 1.5B Q4_K_M summaries
//! n_ctx = 8192
//!
//! [profiles.prod.summary]     # built-in prod: large-v3 + an 8B Q4_K_M, q8_0 KV, flash attention
//! backend = "ollama"          # local (llama worker) | ollama | openai
//! url = "http://127.0.0.1:11434"
//! model = "llama3.1:8b-instruct-q4_K_M"
//!
//! [profiles.laptop]           # a profile of your own starts from the dev defaults
//! gpu_budget = "5GiB"
//! ```
//!
//! Resolution of a profile: built-in values (dev's for a new name) ← `[summary]` ←
//! `[profiles.NAME]`, merged table by table, then checked: unknown keys are errors.

use anyhow::{Context, Result, bail};
use nightshift_worker_protocol::{FlashAttention, KvCacheType};
use serde::Deserialize;
use toml::{Table, Value};

use crate::home::Home;

/// The built-in profiles. `dev` runs anywhere in seconds (Whisper tiny.en on CTranslate2,
/// `ct2-tiny.en`: on the corpus meetings it beat whisper.cpp's tiny.en 3–4× on time and
/// faster-whisper's batched pipeline on WER, see README); `notes` hears better (Whisper base on
/// CTranslate2, `ct2-base`: `scripts/fetch-ct2-model.sh base`; on the corpus meetings it beat
/// whisper.cpp's base on both WER and time, see README) and has a summary model
/// that can actually summarise (Qwen2.5-Coder 1.5B, ~1.1 GB: `nightshift models pull
/// qwen2.5-coder-1.5b` or `scripts/fetch-summary-model.sh`); `prod` is for a 6 GB GPU and needs
/// its models downloaded (`nightshift models`).
const BUILTIN_PROFILES: &str = r#"
[dev]
asr_model = "ct2-tiny.en"
[dev.summary]
model = "smollm2-135m"
n_ctx = 8192

[notes]
asr_model = "ct2-base"
[notes.summary]
model = "qwen2.5-coder-1.5b"
n_ctx = 4096

[prod]
asr_model = "large-v3"
[prod.summary]
model = "llama-3.1-8b-instruct-q4_k_m"
n_ctx = 16384
kv_type = "q8_0"
flash_attn = "on"
"#;

/// The built-in profiles, parsed once (a constant: the unit tests prove it parses).
fn builtin() -> &'static Table {
    static BUILTIN: std::sync::LazyLock<Table> = std::sync::LazyLock::new(|| {
        toml::from_str(BUILTIN_PROFILES).expect("built-in profiles parse")
    });
    &BUILTIN
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub storage: Storage,
    pub queue: QueueConfig,
    pub speakers: SpeakersConfig,
    pub default_profile: Option<String>,
    /// `[summary]` and `[profiles.*]` as written; resolved by [`Config::profile`].
    summary: Table,
    profiles: Table,
}

/// One resolved profile: the models and backends a run uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(skip)]
    pub name: String,
    /// Whisper model name or path (`--model` overrides it): a whisper.cpp ggml file for the
    /// `whispercpp` engine, a converted model folder (`ct2-tiny.en`) for `ct2`.
    pub asr_model: String,
    /// Which ASR worker decodes the chunks: `whispercpp` or `ct2` (CTranslate2, batched
    /// decoding of a chunk's speech windows). Unset: the one the model is for (a model folder
    /// is CTranslate2's, a file whisper.cpp's), so `--model ct2-tiny.en` just works.
    #[serde(default)]
    pub asr_engine: Option<AsrEngine>,
    /// Speech windows whisper decodes at once (each on its own state of the one loaded model,
    /// the threads shared between them). Default: one per thread on a CPU (up to 4), one on
    /// a GPU.
    #[serde(default)]
    pub asr_parallel: Option<u32>,
    /// Beam width for whisper (`--beam-size` overrides it); 1 is greedy. Default: 5 for an
    /// English-only model, greedy for a multilingual one (the whisper worker asks the loaded
    /// model which it is).
    #[serde(default)]
    pub asr_beam_size: Option<u32>,
    /// Model memory budget, e.g. `6GiB` (`--gpu-budget` overrides it; default: detected VRAM
    /// minus the display reserve, or RAM without a GPU).
    #[serde(default)]
    pub gpu_budget: Option<String>,
    /// VRAM left to the desktop when the budget comes from detection.
    #[serde(default = "default_display_reserve")]
    pub display_reserve: String,
    #[serde(default)]
    pub summary: SummaryConfig,
    /// Scene descriptions by a vision model; off unless configured.
    #[serde(default)]
    pub vision: VisionConfig,
    /// Non-speech sounds (YAMNet) over every meeting added while this is the default profile.
    #[serde(default)]
    pub events: EventsConfig,
    /// Objects on every video's keyframes (a COCO detector ONNX).
    #[serde(default)]
    pub objects: ObjectsConfig,
}

impl Profile {
    /// Settle the speech model this machine runs: the profile's `asr_model`, except that a
    /// CTranslate2 model that is not installed gives way to the same weights for whisper.cpp
    /// (dev's `ct2-tiny.en` → `ggml-tiny.en.bin`, all a bare models directory holds), unless the
    /// profile insists on CTranslate2. Returns the line to log when it gave way.
    pub fn settle_asr_model(&mut self, home: &Home) -> Option<String> {
        if self.asr_engine == Some(AsrEngine::Ct2) || home.find_model(&self.asr_model).is_ok() {
            return None;
        }
        let whisper = AsrEngine::Whispercpp.counterpart(&self.asr_model);
        if whisper == self.asr_model || home.find_model(&whisper).is_err() {
            return None;
        }
        let line = format!(
            "{} is not installed (`nightshift models pull {}` or scripts/fetch-ct2-model.sh): \
             transcribing with {whisper} on whisper.cpp",
            self.asr_model, self.asr_model
        );
        self.asr_model = whisper;
        Some(line)
    }
}

/// The engine behind the ASR worker protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AsrEngine {
    /// whisper.cpp (`nightshift-whisper-worker`): ggml models, one window per decoder state.
    Whispercpp,
    /// CTranslate2 (`nightshift-ct2-worker`): converted models, a chunk's windows in one batch.
    Ct2,
}

impl AsrEngine {
    /// The engine for the model at `path` (a CTranslate2 model is a folder, a whisper.cpp one a
    /// file); `setting` (the profile's `asr_engine`), when given, must agree with it.
    pub fn for_model(setting: Option<AsrEngine>, path: &std::path::Path) -> Result<AsrEngine> {
        let kind = if path.is_dir() {
            AsrEngine::Ct2
        } else {
            AsrEngine::Whispercpp
        };
        match setting {
            Some(s) if s != kind => bail!(
                "{}: a {} model, but the profile says asr_engine = \"{}\"",
                path.display(),
                kind.name(),
                s.name()
            ),
            _ => Ok(kind),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AsrEngine::Whispercpp => "whispercpp",
            AsrEngine::Ct2 => "ct2",
        }
    }

    /// The name of a built-in model for this engine: CTranslate2's are whisper.cpp's with a
    /// `ct2-` in front (`ct2-base` ↔ `base`). Other names and paths stay as they are.
    pub fn counterpart(self, model: &str) -> String {
        match (self, model.strip_prefix("ct2-")) {
            (AsrEngine::Whispercpp, Some(whisper)) => whisper.to_string(),
            (AsrEngine::Ct2, None)
                if crate::home::known_model(&format!("ct2-{model}")).is_some() =>
            {
                format!("ct2-{model}")
            }
            _ => model.to_string(),
        }
    }

    /// The worker binary that runs this engine.
    pub fn worker(self) -> &'static str {
        match self {
            AsrEngine::Whispercpp => nightshift_supervisor::WHISPER_WORKER,
            AsrEngine::Ct2 => nightshift_supervisor::CT2_WORKER,
        }
    }

    /// Chunks the worker holds at once: the CTranslate2 worker decodes the windows of all it
    /// holds on its model replicas, longest first, so a replica the current chunk no longer
    /// needs starts on the next chunks' (a chunk's windows rarely split evenly between
    /// replicas, a one-window chunk keeps only one busy, and a batch's last window should not
    /// run alone). Three rather than two: a chunk is answered, and the next one sent, only
    /// when its shortest window is done, which longest-first puts late.
    pub fn items_in_flight(self) -> usize {
        match self {
            AsrEngine::Whispercpp => 1,
            AsrEngine::Ct2 => 3,
        }
    }
}

/// `[profiles.NAME.events]`: audio events (music, applause, laughter, …) from YAMNet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Queue an events job for each meeting `add`ed while this profile is the default one.
    pub enabled: bool,
    /// The directory with `model.onnx`, `model.data` and `yamnet_class_map.csv` (default:
    /// `NIGHTSHIFT_EVENTS_MODELS/yamnet`, `<home>/models/yamnet`,
    /// `~/.cache/nightshift-models/yamnet`, where `scripts/fetch-events-models.sh` puts them).
    pub models_dir: Option<std::path::PathBuf>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            enabled: true,
            models_dir: None,
        }
    }
}

/// `[profiles.NAME.objects]`: a COCO detector on each keyframe. Any ONNX with one RGB picture
/// in (`[1, H, W, 3]` or `[1, 3, H, W]`) and boxes out as `[1, N, 6]` (x1, y1, x2, y2 in input
/// pixels, score, class) or YOLOv8's `[1, 4 + classes, anchors]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectsConfig {
    pub enabled: bool,
    /// A file name in the models directories, or a path.
    pub model: String,
    /// Class names, one per line (default: `coco80-labels.txt` beside the model).
    pub labels: Option<String>,
    /// Lowest score kept.
    pub threshold: f32,
    /// Overlap (IoU) above which the weaker of two boxes of a class is dropped.
    pub iou: f32,
    /// `bytes` (0–255) or `unit` (0–1); default: bytes for `[1, N, 6]` models, unit for YOLOv8.
    pub pixel_range: Option<nightshift_events::detect::PixelRange>,
}

impl Default for ObjectsConfig {
    fn default() -> Self {
        ObjectsConfig {
            enabled: true,
            model: "centernet-mobilenetv3-coco.onnx".into(),
            labels: None,
            threshold: 0.3,
            iou: 0.5,
            pixel_range: None,
        }
    }
}

/// A vision-language model that describes each video scene from its keyframes, its on-screen
/// text and what was said during it: on a server, or in the local llama worker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisionConfig {
    /// `none` (default), `local` (the llama worker with a GGUF model and its `mmproj`
    /// projector), `openai` (image content parts) or `ollama` (`images`).
    pub backend: VisionBackend,
    pub url: Option<String>,
    /// Local: a GGUF name or path. Servers: the model name the server knows.
    pub model: String,
    /// Local: the model's vision projector (`mmproj` GGUF), a name or path.
    pub mmproj: Option<String>,
    pub api_key_env: Option<String>,
    pub timeout_s: u64,
    pub retries: u32,
    /// Keyframes sent per scene.
    pub max_images: usize,
    pub max_tokens: u32,
    /// Local: context size in tokens (image tokens + prompt + description).
    pub n_ctx: u32,
    /// Local: layers offloaded when the worker has a GPU (999 = all); a CPU build ignores it.
    pub gpu_layers: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisionBackend {
    #[default]
    None,
    Local,
    Openai,
    Ollama,
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            backend: VisionBackend::None,
            url: None,
            model: "qwen2.5-vl".into(),
            mmproj: None,
            api_key_env: None,
            timeout_s: 300,
            retries: 2,
            max_images: 2,
            max_tokens: 200,
            n_ctx: 4096,
            gpu_layers: 999,
        }
    }
}

fn default_display_reserve() -> String {
    "512MiB".into()
}

/// Where summaries are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// `nightshift-llama-worker` with a local GGUF (the default).
    #[default]
    Local,
    /// Ollama's native API; the model is unloaded (`keep_alive: 0`) after each batch.
    Ollama,
    /// Any OpenAI-compatible `/v1/chat/completions` server.
    Openai,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SummaryConfig {
    pub enabled: bool,
    pub backend: Backend,
    /// Local: a GGUF name or path. Servers: the model name the server knows.
    pub model: String,
    /// Server base URL (ollama / openai backends).
    pub url: Option<String>,
    /// Name of the environment variable holding the server's API key (never the key itself).
    pub api_key_env: Option<String>,
    /// Per-request limit for server backends, seconds.
    pub timeout_s: u64,
    /// Extra attempts after a connection failure, 429 or 5xx (server backends).
    pub retries: u32,
    /// Context size in tokens; also sizes the map windows and reduce groups.
    pub n_ctx: u32,
    pub kv_type: KvCacheType,
    pub flash_attn: FlashAttention,
    /// Layers offloaded when the worker has a GPU (999 = all); a CPU build ignores it.
    pub gpu_layers: u32,
    pub temperature: f32,
    pub top_p: f32,
    pub repeat_penalty: f32,
}

impl Default for SummaryConfig {
    fn default() -> Self {
        SummaryConfig {
            enabled: true,
            backend: Backend::Local,
            model: "smollm2-135m".into(),
            url: None,
            api_key_env: None,
            timeout_s: 600,
            retries: 3,
            n_ctx: 8192,
            kv_type: KvCacheType::F16,
            flash_attn: FlashAttention::Auto,
            gpu_layers: 999,
            // 0 makes tiny models loop; the schema guarantees the structure.
            temperature: 0.3,
            top_p: 0.9,
            repeat_penalty: 1.1,
        }
    }
}

impl SummaryConfig {
    /// The server URL the backend needs, with the default port of each server.
    pub fn server_url(&self) -> String {
        let api = match self.backend {
            Backend::Ollama => nightshift_llm_http::Api::Ollama,
            _ => nightshift_llm_http::Api::OpenAi,
        };
        self.url.clone().unwrap_or_else(|| api.default_url().into())
    }
}

/// `[speakers]`: diarization and speaker names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeakersConfig {
    /// Queue a diarization job for every new meeting.
    pub enabled: bool,
    /// Cosine similarity from which an enrolled voice names a meeting's speaker.
    pub match_threshold: f32,
    /// Average cosine distance under which clusters of voices merge (the speaker count);
    /// unset: the diarization worker's measured default.
    pub cluster_threshold: Option<f32>,
    /// After clustering, merge clusters of one timbre and split clusters of two (see the
    /// diarize crate's `timbre`); off: the embedder's clusters as they are.
    pub timbre: bool,
    /// Where the diarization models are (default: `NIGHTSHIFT_DIARIZATION_MODELS`, else
    /// `<home>/models/diarization`, else `~/.cache/nightshift-models/diarization`).
    pub models_dir: Option<std::path::PathBuf>,
}

impl Default for SpeakersConfig {
    fn default() -> Self {
        SpeakersConfig {
            enabled: true,
            match_threshold: 0.86,
            cluster_threshold: None,
            timbre: true,
            models_dir: None,
        }
    }
}

/// `[queue]`: where the job queue lives.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// `sqlite:PATH` or `postgres://user:pass@host/db` (default: `<home>/nightshift.db`).
    pub url: Option<String>,
    /// Where chunks, sources and keyframes live for other hosts: `local` (this home's
    /// directories only) or `database` (also in the queue's media store). Default: `database`
    /// with a PostgreSQL queue, `local` with SQLite.
    pub media: Option<MediaMode>,
    /// Bound of the cache of media fetched from the database, e.g. `4GiB` (the default).
    pub media_cache: Option<String>,
}

/// `[queue] media`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaMode {
    Local,
    Database,
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
        Config::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// A `config.toml`'s text as a checked config: every profile must resolve (`[summary]`
    /// applies to the built-in ones too), so a typo fails now, not mid-run.
    pub fn from_toml(text: &str) -> Result<Config> {
        let config = Config::parse(text)?;
        for name in builtin().keys().chain(config.profiles.keys()) {
            config.profile(name)?;
        }
        Ok(config)
    }

    fn parse(text: &str) -> Result<Config> {
        // toml's message spans several lines (with a caret); keep the first for one error line.
        let first_line = |e: &dyn std::fmt::Display| {
            let s = e.to_string();
            s.lines().next().unwrap_or("invalid TOML").to_string()
        };
        let mut table: Table = toml::from_str(text).map_err(|e| anyhow::anyhow!(first_line(&e)))?;
        let storage = match table.remove("storage") {
            Some(v) => v
                .try_into()
                .map_err(|e| anyhow::anyhow!("[storage]: {}", first_line(&e)))?,
            None => Storage::default(),
        };
        let queue = match table.remove("queue") {
            Some(v) => v
                .try_into()
                .map_err(|e| anyhow::anyhow!("[queue]: {}", first_line(&e)))?,
            None => QueueConfig::default(),
        };
        let speakers = match table.remove("speakers") {
            Some(v) => v
                .try_into()
                .map_err(|e| anyhow::anyhow!("[speakers]: {}", first_line(&e)))?,
            None => SpeakersConfig::default(),
        };
        let default_profile = match table.remove("default_profile") {
            Some(Value::String(s)) => Some(s),
            Some(_) => bail!("default_profile must be a string"),
            None => None,
        };
        let mut take_table = |key: &str| match table.remove(key) {
            Some(Value::Table(t)) => Ok(t),
            Some(_) => bail!("{key} must be a table"),
            None => Ok(Table::new()),
        };
        let summary = take_table("summary")?;
        let profiles = take_table("profiles")?;
        if let Some(key) = table.keys().next() {
            bail!(
                "unknown key {key:?} (expected default_profile, storage, queue, speakers, summary, profiles)"
            );
        }
        Ok(Config {
            storage,
            queue,
            speakers,
            default_profile,
            summary,
            profiles,
        })
    }

    /// The profile `--profile` names, else `default_profile`, else `dev`.
    pub fn selected_profile(&self, flag: Option<&str>) -> Result<Profile> {
        let name = flag.or(self.default_profile.as_deref()).unwrap_or("dev");
        self.profile(name)
    }

    pub fn profile(&self, name: &str) -> Result<Profile> {
        let builtin = builtin();
        let base = match (builtin.get(name), self.profiles.get(name)) {
            (Some(Value::Table(t)), _) => t.clone(),
            (None, Some(_)) => match builtin.get("dev") {
                Some(Value::Table(t)) => t.clone(),
                _ => Table::new(),
            },
            _ => {
                let mut known: Vec<&String> = builtin.keys().chain(self.profiles.keys()).collect();
                known.sort();
                known.dedup();
                let known: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
                bail!("unknown profile {name:?} (known: {})", known.join(", "));
            }
        };
        let mut merged = Value::Table(base);
        merge(
            &mut merged,
            &Value::Table(Table::from_iter([(
                "summary".to_string(),
                Value::Table(self.summary.clone()),
            )])),
        );
        if let Some(own) = self.profiles.get(name) {
            if !own.is_table() {
                bail!("[profiles.{name}] must be a table");
            }
            merge(&mut merged, own);
        }
        let mut profile: Profile = merged
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("profile {name}: {}", e.message()))?;
        profile.name = name.to_string();
        let own = self.profiles.get(name).and_then(Value::as_table);
        if !own.is_some_and(|t| t.contains_key("asr_model"))
            && let Some(engine) = profile.asr_engine
        {
            // An engine chosen over an inherited model means that model for the engine
            // (`asr_engine = "whispercpp"` on dev: tiny.en, not dev's ct2-tiny.en).
            profile.asr_model = engine.counterpart(&profile.asr_model);
        }
        Ok(profile)
    }
}

/// Overlay `top` onto `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Table(b), Value::Table(t)) => {
            for (k, v) in t {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, t) => *b = t.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_the_dev_profile() {
        let p = Config::default().selected_profile(None).unwrap();
        assert_eq!(p.name, "dev");
        assert_eq!(p.asr_model, "ct2-tiny.en");
        assert_eq!(p.asr_beam_size, None, "chosen by the model");
        assert_eq!(p.summary.model, "smollm2-135m");
        assert_eq!(p.summary.backend, Backend::Local);
    }

    #[test]
    fn notes_hears_with_ct2_base_and_summarises_with_qwen() {
        let p = Config::default().profile("notes").unwrap();
        assert_eq!(p.asr_model, "ct2-base");
        assert_eq!(p.summary.model, "qwen2.5-coder-1.5b");
        assert_eq!(p.summary.backend, Backend::Local);
        assert_eq!(p.summary.n_ctx, 4096);
        assert!(
            crate::home::known_model(&p.summary.model).is_some(),
            "notes names a model `models pull` knows"
        );
        let dev = Config::default().profile("dev").unwrap();
        assert_eq!(dev.summary.model, "smollm2-135m", "dev is unchanged");
    }

    #[test]
    fn the_timbre_pass_is_on_unless_turned_off() {
        assert!(Config::default().speakers.timbre);
        let c = Config::parse("[speakers]\ntimbre = false\n").unwrap();
        assert!(!c.speakers.timbre);
    }

    #[test]
    fn prod_uses_a_quantized_kv_cache_with_flash_attention() {
        let p = Config::default().profile("prod").unwrap();
        assert_eq!(p.asr_model, "large-v3");
        assert_eq!(p.summary.kv_type, KvCacheType::Q8_0);
        assert_eq!(p.summary.flash_attn, FlashAttention::On);
    }

    #[test]
    fn layers_merge_builtin_then_summary_then_profile() {
        let c = Config::parse(
            r#"
default_profile = "prod"
[summary]
temperature = 0.5
n_ctx = 4096
[profiles.prod.summary]
backend = "ollama"
model = "llama3.1:8b"
[profiles.mine]
asr_model = "base.en"
asr_beam_size = 1
"#,
        )
        .unwrap();
        let p = c.selected_profile(None).unwrap();
        assert_eq!(p.name, "prod");
        assert_eq!(p.summary.backend, Backend::Ollama);
        assert_eq!(p.summary.model, "llama3.1:8b");
        assert_eq!(p.summary.temperature, 0.5);
        assert_eq!(p.summary.n_ctx, 4096, "[summary] applies over built-ins");
        assert_eq!(p.summary.kv_type, KvCacheType::Q8_0, "built-in kept");
        assert_eq!(p.summary.server_url(), "http://127.0.0.1:11434");
        let mine = c.profile("mine").unwrap();
        assert_eq!(mine.asr_model, "base.en");
        assert_eq!(mine.asr_beam_size, Some(1));
        assert_eq!(
            mine.summary.model, "smollm2-135m",
            "new profiles start from dev"
        );
    }

    #[test]
    fn the_asr_engine_follows_the_model_unless_the_profile_says_otherwise() {
        let c = Config::parse("[profiles.fast]\nasr_engine = \"ct2\"\n").unwrap();
        assert_eq!(c.profile("fast").unwrap().asr_engine, Some(AsrEngine::Ct2));
        assert_eq!(c.profile("fast").unwrap().asr_model, "ct2-tiny.en");
        assert_eq!(c.profile("dev").unwrap().asr_engine, None);
        let unknown =
            Config::parse("[profiles.x]\nasr_engine = \"onnx\"\n").and_then(|c| c.profile("x"));
        assert!(unknown.is_err(), "an unknown engine is refused");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ggml-tiny.en.bin");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(
            AsrEngine::for_model(None, dir.path()).unwrap(),
            AsrEngine::Ct2
        );
        assert_eq!(
            AsrEngine::for_model(None, &file).unwrap(),
            AsrEngine::Whispercpp
        );
        let e = AsrEngine::for_model(Some(AsrEngine::Ct2), &file).unwrap_err();
        assert!(e.to_string().contains("asr_engine = \"ct2\""), "{e}");
        assert_eq!(
            AsrEngine::for_model(Some(AsrEngine::Ct2), dir.path())
                .unwrap()
                .worker(),
            nightshift_supervisor::CT2_WORKER
        );
    }

    #[test]
    fn an_engine_over_an_inherited_model_takes_that_model_for_the_engine() {
        let c = Config::parse(
            "[profiles.dev]\nasr_engine = \"whispercpp\"\n\
             [profiles.notes]\nasr_engine = \"whispercpp\"\n\
             [profiles.mine]\nasr_engine = \"whispercpp\"\nasr_model = \"ct2-tiny.en\"\n\
             [profiles.back]\nasr_model = \"tiny.en\"\n[profiles.prod]\nasr_engine = \"ct2\"\n",
        )
        .unwrap();
        assert_eq!(c.profile("dev").unwrap().asr_model, "tiny.en");
        assert_eq!(c.profile("notes").unwrap().asr_model, "base");
        let mine = c.profile("mine").unwrap();
        assert_eq!(
            mine.asr_model, "ct2-tiny.en",
            "a model the profile names stays"
        );
        assert_eq!(c.profile("back").unwrap().asr_model, "tiny.en");
        assert_eq!(c.profile("back").unwrap().asr_engine, None);
        assert_eq!(
            c.profile("prod").unwrap().asr_model,
            "large-v3",
            "no CTranslate2 large-v3 is known: the name stays (and for_model refuses it)"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let e = Config::default()
            .profile("staging")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown profile \"staging\"") && e.contains("dev, notes, prod"),
            "{e}"
        );
        let c = Config::parse("[profiles.dev.summary]\nbackend = \"vllm\"\n").unwrap();
        let e = c.profile("dev").unwrap_err().to_string();
        assert!(e.contains("vllm"), "{e}");
        let c = Config::parse("[profiles.dev]\nasr_modle = \"x\"\n").unwrap();
        let e = c.profile("dev").unwrap_err().to_string();
        assert!(e.contains("asr_modle"), "{e}");
        let e = Config::parse("[storag]\n").unwrap_err().to_string();
        assert!(e.contains("storag"), "{e}");
    }
}
