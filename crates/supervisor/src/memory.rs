//! What a worker holds while it works: its peak resident memory so far (`VmHWM`) and, with an
//! NVIDIA driver, the GPU memory the driver reports for it. Sampled by the batch runner right
//! before each answer is handed on, so the caller can store the figures with that item's
//! result — the per-job numbers `nightshift bench stages` reports.

use std::sync::Mutex;

/// One reading of a worker's memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerMemory {
    /// Peak resident set size of the worker so far, bytes.
    pub peak_rss_bytes: u64,
    /// GPU memory the worker holds now (NVML); `None` without a driver or when it holds none.
    pub vram_bytes: Option<u64>,
}

/// The latest reading, shared between the batch runner (which samples) and the caller's
/// answer callback (which reads). Give one to [`crate::BatchOptions::memory`].
#[derive(Debug, Default)]
pub struct MemoryGauge {
    state: Mutex<GaugeState>,
}

#[derive(Debug, Default)]
struct GaugeState {
    last: Option<WorkerMemory>,
    /// The VRAM peak of this batch so far (the driver reports the current figure).
    peak_vram: Option<u64>,
    /// NVML was found missing once: not asked again.
    no_gpu: bool,
}

impl MemoryGauge {
    pub fn new() -> MemoryGauge {
        MemoryGauge::default()
    }

    /// The reading taken before the answer being handled.
    pub fn last(&self) -> Option<WorkerMemory> {
        self.state.lock().ok().and_then(|s| s.last)
    }

    /// Read `pid`'s figures now.
    pub(crate) fn sample(&self, pid: u32) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let peak_rss_bytes = peak_rss(pid).unwrap_or(0);
        let vram = if s.no_gpu {
            None
        } else {
            let probe = nightshift_gpu::probe();
            if matches!(probe, nightshift_gpu::Probe::Unavailable(_)) {
                s.no_gpu = true;
            }
            nightshift_gpu::used_by(&probe, &[pid])
        };
        s.peak_vram = match (s.peak_vram, vram) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        s.last = Some(WorkerMemory {
            peak_rss_bytes,
            vram_bytes: s.peak_vram,
        });
    }
}

/// `VmHWM` (peak resident memory so far) of a live process, bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_degrades_without_a_gpu() {
        let gauge = MemoryGauge::new();
        assert_eq!(gauge.last(), None);
        gauge.sample(std::process::id());
        let m = gauge.last().expect("a reading");
        assert!(m.peak_rss_bytes > 1 << 20, "{m:?}");
        // A process that does not exist reads as zero, never an error.
        gauge.sample(u32::MAX - 1);
        assert_eq!(gauge.last().unwrap().peak_rss_bytes, 0);
    }
}
