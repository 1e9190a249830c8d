//! `nightshift service install|remove`: systemd user units for the daemon and a nightly run.
//!
//! Everything is checked before anything is written: where systemd's user manager is absent
//! (a container, a non-systemd distribution) the command says so and changes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};

use crate::args::ServiceAction;
use nightshift_pipeline::Home;

const SERVE: &str = "nightshift-serve.service";
const RUN: &str = "nightshift-run.service";
const TIMER: &str = "nightshift-run.timer";

pub fn run(home: &Home, action: &ServiceAction) -> Result<ExitCode> {
    user_manager()?;
    let dir = units_dir()?;
    match action {
        ServiceAction::Install { at } => install(home, &dir, at),
        ServiceAction::Remove => remove(&dir),
    }
}

/// systemd's user manager must answer, or nothing is done.
fn user_manager() -> Result<()> {
    let status = Command::new("systemctl")
        .args(["--user", "show-environment"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Err(_) => bail!(
            "systemd is not available here (no systemctl): nothing was installed; run `nightshift serve` yourself and `nightshift run --when idle --until-idle` from cron"
        ),
        Ok(s) if !s.success() => bail!(
            "systemd's user manager does not answer (`systemctl --user` failed; no login session?): nothing was installed; run `nightshift serve` yourself and `nightshift run --when idle --until-idle` from cron"
        ),
        Ok(_) => Ok(()),
    }
}

fn units_dir() -> Result<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(config.join("systemd").join("user"))
}

/// `HH:MM` (24 h), as the timer's daily time.
fn check_time(at: &str) -> Result<()> {
    let ok = at.split_once(':').is_some_and(|(h, m)| {
        h.len() == 2
            && m.len() == 2
            && h.parse::<u8>().is_ok_and(|h| h < 24)
            && m.parse::<u8>().is_ok_and(|m| m < 60)
    });
    if !ok {
        bail!("--at {at:?}: expected a time of day as HH:MM, e.g. 02:30");
    }
    Ok(())
}

/// The three unit files for this binary and home.
pub fn units(exe: &Path, home: &Path, at: &str) -> Vec<(&'static str, String)> {
    let exe = quote(exe);
    let home = quote(home);
    vec![
        (
            SERVE,
            format!(
                "[Unit]\nDescription=nightshift session daemon (warm transcription model, web app)\n\n\
                 [Service]\nExecStart={exe} --home {home} serve\nRestart=on-failure\nNice=10\n\n\
                 [Install]\nWantedBy=default.target\n"
            ),
        ),
        (
            RUN,
            format!(
                "[Unit]\nDescription=nightshift: process queued meetings while the machine is idle\n\n\
                 [Service]\nType=oneshot\nExecStart={exe} --home {home} run --when idle --until-idle\n\
                 Nice=10\nIOSchedulingClass=idle\n"
            ),
        ),
        (
            TIMER,
            format!(
                "[Unit]\nDescription=nightshift: nightly processing of queued meetings\n\n\
                 [Timer]\nOnCalendar=*-*-* {at}:00\nPersistent=true\n\n\
                 [Install]\nWantedBy=timers.target\n"
            ),
        ),
    ]
}

/// A path as one systemd command-line word.
fn quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    if s.chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s.into_owned()
    }
}

fn install(home: &Home, dir: &Path, at: &str) -> Result<ExitCode> {
    check_time(at)?;
    home.ensure()?;
    let exe = std::env::current_exe()
        .and_then(|e| e.canonicalize())
        .context("locating the nightshift binary")?;
    let root = home
        .root
        .canonicalize()
        .unwrap_or_else(|_| home.root.clone());
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    for (name, text) in units(&exe, &root, at) {
        let path = dir.join(name);
        nightshift_pipeline::fsutil::write_atomic(&path, text.as_bytes())?;
        println!("wrote {}", path.display());
    }
    systemctl(&["daemon-reload"])?;
    systemctl(&["enable", "--now", SERVE, TIMER])?;
    println!(
        "enabled {SERVE} and {TIMER} (nightly at {at}); see `systemctl --user cat {SERVE} {RUN} {TIMER}`"
    );
    Ok(ExitCode::SUCCESS)
}

fn remove(dir: &Path) -> Result<ExitCode> {
    // Units that are not installed are fine to disable: ignore its failure.
    let _ = systemctl(&["disable", "--now", SERVE, TIMER]);
    let mut removed = 0;
    for name in [SERVE, RUN, TIMER] {
        if std::fs::remove_file(dir.join(name)).is_ok() {
            removed += 1;
        }
    }
    systemctl(&["daemon-reload"])?;
    println!("{removed} unit file(s) removed from {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn systemctl(args: &[&str]) -> Result<()> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running systemctl")?;
    if !out.status.success() {
        bail!(
            "systemctl --user {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_run_this_binary_on_this_home() {
        let u = units(
            Path::new("/opt/ns/nightshift"),
            Path::new("/data/my home"),
            "03:15",
        );
        assert_eq!(u.len(), 3);
        assert!(
            u[0].1
                .contains("ExecStart=/opt/ns/nightshift --home \"/data/my home\" serve")
        );
        assert!(u[1].1.contains("run --when idle --until-idle"));
        assert!(u[2].1.contains("OnCalendar=*-*-* 03:15:00"));
    }

    #[test]
    fn times_of_day() {
        for ok in ["00:00", "02:30", "23:59"] {
            assert!(check_time(ok).is_ok(), "{ok}");
        }
        for bad in ["24:00", "2:30", "02:60", "0230", "02:30:00", "", "ab:cd"] {
            assert!(check_time(bad).is_err(), "{bad}");
        }
    }
}
