//! `nightshift record` and `nightshift devices`. Capture runs in `nightshift-capture`; this
//! module owns the meeting: created first (its id printed at once), one AUDIO job per chunk
//! queued the moment the chunk closes, and marked finished when recording ends.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nightshift_capture::{ClosedChunk, PcmFormat, RecordOptions, Source};
use nightshift_pipeline::Home;
use nightshift_pipeline::recording::{Recording, parts_dir};
use nightshift_queue::Queue;

use crate::args::RecordArgs;

pub fn run(home: &Home, args: &RecordArgs) -> Result<ExitCode> {
    let chunk_s = parse_duration(&args.chunk)?;
    let format = PcmFormat::parse(&args.format).map_err(|e| anyhow::anyhow!("--format {e}"))?;
    let source = Source::parse(&args.source, Some(format));
    let system = if args.system_audio {
        Some(system_source(args)?)
    } else {
        None
    };
    home.ensure()?;
    let mut queue = Queue::open(home.db_url()?)?;
    // The source first: a missing device or unreadable file leaves no empty meeting behind.
    let mut handle = match &system {
        None => nightshift_capture::start_source(&source, args.speed),
        Some(sys) => nightshift_capture::start_mixed(&[source.clone(), sys.clone()], args.speed),
    }
    .map_err(|e| anyhow::anyhow!("{}: {e}", source.describe()))?;

    let system_name = system.as_ref().map(Source::describe);
    let mut recording = Recording::start(
        home,
        &mut queue,
        &source.describe(),
        system_name.as_deref(),
        args.title.as_deref(),
    )?;
    let meeting_id = recording.meeting_id.clone();
    println!("{meeting_id}");
    let _ = std::io::stdout().flush();

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let opts = RecordOptions {
        chunk_s,
        parts_dir: parts_dir(home, &meeting_id),
        chunks_dir: home.chunks_dir(),
        flush_every: Duration::from_secs(1),
    };
    tracing::info!(meeting = %meeting_id, "recording from {}", source.describe());
    let mut on_chunk = |c: &ClosedChunk| -> Result<(), String> {
        recording
            .queue_chunk(&mut queue, c)
            .map_err(|e| format!("{e:#}"))?;
        tracing::info!(
            "chunk {} queued: {:.1}–{:.1} s ({:.1} ms after its cut)",
            c.index,
            c.offset_s(),
            c.offset_s() + c.duration_s(),
            c.cut_at.elapsed().as_secs_f64() * 1000.0
        );
        Ok(())
    };
    let mut display = Display::new(home);
    let outcome = nightshift_capture::record(&mut handle, &opts, &stop, &mut on_chunk, &mut |p| {
        display.show(p)
    });
    display.finish();
    drop(handle);
    // What was closed is queued; on an error the open chunk's part file is picked up by the
    // next `run` (or `record`) once this process is gone.
    let stats = outcome.map_err(|e| anyhow::anyhow!("{}: {e}", source.describe()))?;
    if stats.overrun_samples > 0 {
        tracing::warn!(
            "{:.2} s of audio were dropped because the writer fell behind (overruns)",
            stats.overrun_samples as f64 / f64::from(nightshift_capture::RATE)
        );
    }
    // Speakers are found over the whole recording, once it has ended.
    recording.finish(home, &mut queue, &stats)?;
    tracing::info!(
        "recorded {:.1} s in {} chunk(s)",
        stats.samples as f64 / f64::from(nightshift_capture::RATE),
        stats.chunks
    );
    Ok(ExitCode::SUCCESS)
}

/// What `--system-audio` records: `--system-source`, else the first monitor source.
fn system_source(args: &RecordArgs) -> Result<Source> {
    if let Some(s) = &args.system_source {
        return Ok(Source::parse(s, None));
    }
    let monitors: Vec<String> = nightshift_capture::devices::list()?
        .into_iter()
        .filter(|d| d.is_monitor)
        .map(|d| d.name)
        .collect();
    match monitors.first() {
        Some(m) => Ok(Source::Device(m.clone())),
        None => bail!(
            "--system-audio: no monitor source found (PulseAudio/PipeWire show one per output; \
             see `nightshift devices`, or name one with --system-source)"
        ),
    }
}

pub fn devices() -> Result<ExitCode> {
    let list = nightshift_capture::devices::list()?;
    if list.is_empty() {
        println!("no input devices found (is a sound server or ALSA device available?)");
    }
    for d in list {
        let tags = [
            d.is_default.then_some("default"),
            d.is_monitor.then_some("monitor of an output"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        println!(
            "{}{}",
            d.name,
            if tags.is_empty() {
                String::new()
            } else {
                format!("  [{tags}]")
            }
        );
        if let Some(f) = d.default_format {
            println!("    default: {f}");
        }
        for f in d.formats {
            println!("    {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `120s`, `2m`, `1h`, `90` (seconds).
fn parse_duration(s: &str) -> Result<f64> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v * mult >= 1.0 => Ok(v * mult),
        _ => bail!("--chunk {s:?}: expected a duration of at least 1 s, e.g. 120s or 2m"),
    }
}

/// One status line on a TTY: elapsed, level meter, chunks, free disk.
struct Display {
    tty: bool,
    last: Instant,
    home: std::path::PathBuf,
}

impl Display {
    fn new(home: &Home) -> Display {
        Display {
            tty: std::io::stderr().is_terminal(),
            last: Instant::now() - Duration::from_secs(1),
            home: home.root.clone(),
        }
    }

    fn show(&mut self, p: &nightshift_capture::Progress) {
        if !self.tty || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let bars = ((p.level_db + 60.0) / 60.0 * 20.0).clamp(0.0, 20.0) as usize;
        let free = nightshift_pipeline::doctor::free_bytes(&self.home)
            .map(|b| b as f64 / (1u64 << 30) as f64)
            .map_or("?".to_string(), |g| format!("{g:.1} GiB"));
        let secs = p.elapsed_s as u64;
        let overruns = if p.overrun_samples > 0 {
            format!("  overruns {}", p.overrun_samples)
        } else {
            String::new()
        };
        eprint!(
            "\r● REC {:02}:{:02}:{:02}  [{:<20}] {:>5.0} dB  chunks {}  free {free}{overruns}   ",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            "#".repeat(bars),
            p.level_db.max(-99.0),
            p.chunks
        );
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}
