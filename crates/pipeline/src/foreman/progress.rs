//! Progress for `run`: a bar per stage on a TTY (chunks done/total, audio seconds per second,
//! ETA), plain log lines otherwise.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    audio_done_s: f64,
    done: u64,
    total: u64,
}

impl Progress {
    /// `total` chunks are outstanding for the stage when the run starts.
    pub fn new(stage: &str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix:>7} [{bar:30}] {pos}/{len} chunks · {msg} · ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(stage.to_string());
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            audio_done_s: 0.0,
            done: 0,
            total,
        }
    }

    /// Whether log lines per chunk should be printed (no bar to show it).
    pub fn is_plain(&self) -> bool {
        self.bar.is_none()
    }

    /// More work appeared while running (another `add`).
    pub fn grow_to(&mut self, outstanding: u64) {
        let want = self.done + outstanding;
        if want > self.total {
            self.total = want;
            if let Some(bar) = &self.bar {
                bar.set_length(want);
            }
        }
    }

    pub fn chunk_done(&mut self, audio_s: f64) {
        self.done += 1;
        self.audio_done_s += audio_s;
        let speed = self.audio_done_s / self.started.elapsed().as_secs_f64().max(1e-3);
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{speed:.1}× real time"));
            bar.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Print a log line without tearing the bar.
    pub fn log(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }
}
