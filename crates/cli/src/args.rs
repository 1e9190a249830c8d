//! The command line (DESIGN.md §2 is the contract).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "nightshift",
    version,
    about = "Record now, process later: local meeting transcripts and notes"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Data directory (database, media, cache, outputs, logs, config.toml).
    #[arg(long, global = true, env = "NIGHTSHIFT_HOME")]
    pub home: Option<PathBuf>,
    /// Queue database: `sqlite:PATH` or `postgres://user:pass@host/db` (default: config.toml
    /// `[queue] url`, else <home>/nightshift.db). Hosts sharing one PostgreSQL queue each keep
    /// their own home.
    #[arg(long, global = true, env = "NIGHTSHIFT_DB", value_name = "URL")]
    pub db: Option<String>,
    /// More log detail on stderr.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate inputs, cut them into chunks and queue their jobs; prints one meeting id per line.
    Add(AddArgs),
    /// Process queued jobs (the Foreman).
    Run(RunArgs),
    /// Queue and meeting state.
    Status(StatusArgs),
    /// A meeting's transcript, summary and scenes.
    Show(ShowArgs),
    /// Search every meeting's transcript, summary, on-screen text and speakers (full text and
    /// meaning).
    Search(SearchArgs),
    /// Queue failed (or cancelled) jobs again.
    Retry(RetryArgs),
    /// Cancel a meeting's unfinished jobs.
    Cancel(MeetingArg),
    /// Delete a meeting and the files derived from it (never the input).
    Rm(MeetingArg),
    /// Known models and where they are.
    Models(ModelsArgs),
    /// Check engines, ffmpeg, models, workers, disk and the database.
    Doctor,
    /// Benchmarks.
    Bench(BenchArgs),
    /// Predict the memory models need and whether they fit a budget together.
    Plan(PlanArgs),
    /// Capture live audio into chunks queued as they close; prints the meeting id.
    Record(RecordArgs),
    /// Input devices and monitor sources with their formats.
    Devices,
    /// Open the web app (meetings, transcripts with the player, search) in a browser; starts
    /// the daemon when none runs.
    Open(OpenArgs),
    /// Run `serve` and a nightly `run --when idle` as systemd user services.
    Service(ServiceArgs),
    /// The queue database itself: move a home's meetings between SQLite and PostgreSQL.
    Db(DbArgs),
    /// Shell completions for bash, zsh, fish, elvish or PowerShell, on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The manual page (roff) on stdout, or one page per command into a directory.
    Man {
        /// Write nightshift.1 and nightshift-COMMAND.1 here instead.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// The session daemon: a warm whisper model behind an OpenAI-compatible HTTP API.
    Serve(ServeArgs),
    /// Transcribe one file through the session daemon (started when needed).
    Transcribe(TranscribeArgs),
    /// Push-to-talk dictation through the session daemon.
    Dictate(DictateArgs),
    /// Voice profiles, and names for a meeting's speakers.
    Speakers(SpeakersArgs),
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Only print the sign-in link (it works once, for 10 minutes); do not start a browser.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub action: ServiceAction,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub action: DbAction,
}

#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Copy every meeting (jobs, results, speaker names), the enrolled voices and the media
    /// from one queue database to another, e.g. `--from sqlite:~/.local/share/nightshift/
    /// nightshift.db --to postgres://…`. Never overwrites: a meeting already in the target is
    /// skipped when it is the same, refused when it differs; re-run it after a failure to
    /// finish. Stop runners on the source first. Search is rebuilt on the target's first
    /// search or run.
    Migrate {
        /// Source: `sqlite:PATH` or `postgres://…`.
        #[arg(long, value_name = "URL")]
        from: String,
        /// Target: `sqlite:PATH` or `postgres://…` (created if needed).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Write and enable the user units: nightshift-serve.service, and nightshift-run.timer
    /// that starts `run --when idle --until-idle` every night.
    Install {
        /// When the nightly run starts (systemd OnCalendar time, e.g. 02:30).
        #[arg(long, default_value = "02:00")]
        at: String,
    },
    /// Stop, disable and delete the user units.
    Remove,
}

#[derive(Debug, Args)]
pub struct SpeakersArgs {
    #[command(subcommand)]
    pub action: SpeakersAction,
}

#[derive(Debug, Subcommand)]
pub enum SpeakersAction {
    /// Learn a voice from a clip (its main speaker); meetings then show the name.
    Enroll { name: String, clip: PathBuf },
    /// Enrolled voices.
    List,
    /// Forget an enrolled voice.
    Rm { name: String },
    /// Name a meeting's speaker (e.g. SPEAKER_2) after the fact.
    Rename {
        meeting: String,
        label: String,
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DictateOutput {
    /// Type into the focused window (xdotool on X11, wtype on Wayland).
    Type,
    Stdout,
}

#[derive(Debug, Args)]
pub struct DictateArgs {
    /// Push-to-talk key, held while speaking.
    #[arg(long, default_value = "Insert")]
    pub key: String,
    /// One dictation, then exit.
    #[arg(long)]
    pub once: bool,
    /// `mic`, or an audio FILE that stands in for the microphone.
    #[arg(long, default_value = "mic")]
    pub source: String,
    #[arg(long, value_enum, default_value_t = DictateOutput::Type)]
    pub output: DictateOutput,
    /// Give up waiting for the text after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Unload the model after this many seconds without requests.
    #[arg(long, default_value_t = 600)]
    pub idle_timeout: u64,
    /// Loopback address to listen on; port 0 picks a free one (written to run/daemon.json).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    #[arg(long)]
    pub profile: Option<String>,
    /// Listen on a non-loopback address (other machines can then send audio: think twice).
    #[arg(long)]
    pub allow_remote: bool,
    /// Require `Authorization: Bearer TOKEN` on every request (also NIGHTSHIFT_DAEMON_TOKEN).
    #[arg(long, env = "NIGHTSHIFT_DAEMON_TOKEN")]
    pub token: Option<String>,
    /// Largest accepted upload, e.g. 512MiB.
    #[arg(long, default_value = "2GiB")]
    pub max_upload: String,
    /// Encode the whole 30 s window for every clip (slower for short clips, as batch runs do).
    /// whisper.cpp only: the CTranslate2 engine always gives a clip's encoder as many frames as
    /// its audio needs (at least 20 s), in batch runs too.
    #[arg(long)]
    pub full_audio_ctx: bool,
    /// Run files elsewhere than <home>/run (a private daemon for `transcribe --no-daemon`).
    #[arg(long, hide = true)]
    pub run_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    pub file: PathBuf,
    /// Print the verbose JSON (segments, language, timings) instead of the text.
    #[arg(long)]
    pub json: bool,
    /// Do not use or start the shared daemon: load a model for this file alone.
    #[arg(long)]
    pub no_daemon: bool,
    /// Give up waiting for the answer after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Close a chunk at the first pause after this long (e.g. 120s, 2m, 90).
    #[arg(long, default_value = "120s")]
    pub chunk: String,
    /// `default`, a device name (see `devices`), a media FILE replayed in real time, or `-` for
    /// raw PCM on stdin.
    #[arg(long, default_value = "default")]
    pub source: String,
    /// Layout of raw PCM on stdin: FORMAT:RATE:CHANNELS.
    #[arg(long, default_value = "s16le:48000:1")]
    pub format: String,
    /// Also record what the machine plays (a PulseAudio/PipeWire monitor source), mixed in.
    #[arg(long)]
    pub system_audio: bool,
    /// The monitor device (or a FILE) for --system-audio; default: the first monitor source.
    #[arg(long)]
    pub system_source: Option<String>,
    #[arg(long)]
    pub title: Option<String>,
    /// Replay speed of a FILE source (1 = real time).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Auto,
    Audio,
    Video,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long, value_enum, default_value_t = KindArg::Auto)]
    pub kind: KindArg,
    /// Shortest chunk in seconds (cuts are placed in pauses).
    #[arg(long, default_value_t = 60.0)]
    pub min_chunk: f64,
    /// Longest chunk in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub max_chunk: f64,
    /// Number of speakers, when known (diarization then finds exactly this many).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub speakers: Option<u16>,
    /// At least this many speakers.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub min_speakers: Option<u16>,
    /// At most this many speakers.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_speakers: Option<u16>,
    /// When the meeting took place (YYYY-MM-DD): deadlines like "by Friday" resolve against
    /// it. Default: the recording's creation time tag, else the date said in the meeting.
    #[arg(long)]
    pub date: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnlyArg {
    Audio,
    Visual,
    Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WhenArg {
    Now,
    Idle,
    Ac,
    Night,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Return once no job is PENDING (backoff included) or PROCESSING.
    #[arg(long)]
    pub until_idle: bool,
    #[arg(long, value_enum)]
    pub only: Option<OnlyArg>,
    /// Memory budget for models, e.g. 6GiB (default: detected VRAM, or RAM without a GPU).
    #[arg(long)]
    pub gpu_budget: Option<String>,
    /// Profile from config.toml or built in (dev, prod); default: `default_profile`, else dev.
    #[arg(long)]
    pub profile: Option<String>,
    #[arg(long, value_enum, default_value_t = WhenArg::Now)]
    pub when: WhenArg,
    /// Whisper model file or name (overrides the profile).
    #[arg(long)]
    pub model: Option<String>,
    /// Inference threads per worker (default: all cores).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Force the spoken language (ISO 639-1), instead of detecting it.
    #[arg(long)]
    pub language: Option<String>,
    /// Whisper beam width, 1 = greedy (default: the profile's `asr_beam_size`, else 5 for an
    /// English-only model and 1 for a multilingual one).
    #[arg(long)]
    pub beam_size: Option<u32>,
    /// Most chunks per worker batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Kill a worker batch that runs longer than this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub batch_timeout: u64,
    /// Run workers with SCHED_IDLE as well as nice 10 (Linux).
    #[arg(long)]
    pub sched_idle: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    pub meeting: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub meeting: String,
    #[arg(long, default_value = "md")]
    pub format: String,
    #[arg(long, default_value = "all")]
    pub part: String,
    /// srt/vtt: also a cue for each non-speech sound (`[music]`, `[applause]`); md, txt and
    /// json always show them.
    #[arg(long)]
    pub events: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for: words (stemmed: "migrate" finds "migration"), "quoted phrases",
    /// prefix* and -excluded words; also matched by meaning when the embedding model is there.
    pub query: String,
    /// Only this meeting (id or unique prefix).
    #[arg(long)]
    pub meeting: Option<String>,
    /// Only what this speaker says, by current name (or SPEAKER_n label).
    #[arg(long)]
    pub speaker: Option<String>,
    /// Only meetings on or after this day (YYYY-MM-DD): the date given with `add --date`, else
    /// the recording's date, else the day it was added.
    #[arg(long, value_parser = since_date)]
    pub since: Option<nightshift_pipeline::search::Date>,
    /// How many hits at most.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

fn since_date(s: &str) -> Result<nightshift_pipeline::search::Date, String> {
    nightshift_pipeline::search::parse_since(s).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["meeting", "failed"]))]
pub struct RetryArgs {
    pub meeting: Option<String>,
    /// Retry every failed job of every meeting.
    #[arg(long)]
    pub failed: bool,
}

#[derive(Debug, Args)]
pub struct MeetingArg {
    pub meeting: String,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub action: ModelsAction,
}

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Known models and whether they are present.
    List,
    /// Where a model is on disk.
    Path { name: String },
    /// Download a whisper model into <home>/models, with progress and checksum (or
    /// `all-MiniLM-L6-v2`, the search embedder, into <home>/models/embeddings).
    Pull { name: String },
    /// Make a quantized copy of a whisper model with ggml's own quantizer (smaller, faster on
    /// a CPU) into <home>/models as ggml-<model>-<type>.bin; use it as `--model <model>-<type>`
    /// or `asr_model`. Prints the file, its sha256 and sizes.
    Quantize {
        /// A whisper model name or file (f16), e.g. tiny.en.
        model: String,
        /// q8_0 (nearly lossless), q5_1, q5_0, q4_1 or q4_0.
        #[arg(long = "type", default_value = "q8_0")]
        to: String,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Queue operations: µs per operation and jobs/s end to end, on a scratch SQLite file in
    /// the home, or with `--db postgres://…` in scratch databases on that server (created and
    /// dropped; the queue the URL names is not touched).
    Queue {
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        /// Consumer process counts to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        consumers: Vec<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Per-stage figures of the work done in this home (from the metrics stored per job):
    /// jobs, wall time, × real time, tokens/s, frames/s, peak memory.
    Stages {
        #[arg(long)]
        json: bool,
    },
    /// (internal) One consumer process of the queue benchmark.
    #[command(hide = true)]
    QueueConsumer { db: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KvTypeArg {
    F16,
    #[value(name = "q8_0")]
    Q8_0,
    #[value(name = "q4_0")]
    Q4_0,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlashAttnArg {
    Auto,
    On,
    Off,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Model files or known names; a projector (mmproj) joins the LLM before it.
    #[arg(required = true)]
    pub models: Vec<String>,
    /// Context length for LLMs (default 4096, capped at the model's training context).
    #[arg(long)]
    pub ctx: Option<u64>,
    #[arg(long, value_enum, default_value_t = KvTypeArg::F16)]
    pub kv_type: KvTypeArg,
    #[arg(long, value_enum, default_value_t = FlashAttnArg::Auto)]
    pub flash_attn: FlashAttnArg,
    /// Layers offloaded to the GPU (default all; 0 = plan for RAM, no GPU).
    #[arg(long)]
    pub n_gpu_layers: Option<u32>,
    /// Memory budget, e.g. 6GiB.
    #[arg(long, default_value = "6GiB")]
    pub budget: String,
    #[arg(long)]
    pub json: bool,
}
