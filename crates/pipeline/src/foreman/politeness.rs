//! `run --when idle|ac|night`: defer work until the machine is idle, on mains power, or inside
//! the night window. Checked before work starts; a stop request ends the wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// When `run` may start work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum When {
    #[default]
    Now,
    /// The load average is low.
    Idle,
    /// On mains power.
    Ac,
    /// Inside the night window.
    Night,
}

const RECHECK: Duration = Duration::from_secs(30);
/// Night window in local hours: [start, end).
const NIGHT: (u32, u32) = (22, 7);

pub fn wait_until_allowed(when: When, stop: &AtomicBool) {
    let mut logged = false;
    while !stop.load(Ordering::SeqCst) {
        let (ok, why) = allowed(when);
        if ok {
            return;
        }
        if !logged {
            tracing::info!("deferring work: {why}");
            logged = true;
        }
        let mut slept = Duration::ZERO;
        while slept < RECHECK && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
            slept += Duration::from_millis(200);
        }
    }
}

fn allowed(when: When) -> (bool, String) {
    match when {
        When::Now => (true, String::new()),
        When::Idle => {
            let load = load_average().unwrap_or(0.0);
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as f64;
            (
                load < 0.25 * cores,
                format!("waiting for an idle machine (load {load:.2} on {cores} cores)"),
            )
        }
        When::Ac => (on_mains_power(), "waiting for AC power".into()),
        When::Night => {
            let h = local_hour();
            let inside = h >= NIGHT.0 || h < NIGHT.1;
            (
                inside,
                format!(
                    "waiting for the night window {:02}:00–{:02}:00 (now {h:02}h)",
                    NIGHT.0, NIGHT.1
                ),
            )
        }
    }
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// True on mains power, or when the machine has no battery at all (a desktop).
fn on_mains_power() -> bool {
    let Ok(entries) = std::fs::read_dir("/sys/class/power_supply") else {
        return true;
    };
    let mut has_battery = false;
    for e in entries.flatten() {
        let p = e.path();
        let kind = std::fs::read_to_string(p.join("type")).unwrap_or_default();
        match kind.trim() {
            "Mains" | "USB"
                if std::fs::read_to_string(p.join("online"))
                    .map(|s| s.trim() == "1")
                    .unwrap_or(false) =>
            {
                return true;
            }
            "Battery" => has_battery = true,
            _ => {}
        }
    }
    !has_battery
}

fn local_hour() -> u32 {
    // SAFETY: time() and localtime_r() only write into the struct we own.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 12;
        }
        tm.tm_hour as u32
    }
}
