//! Talking to the session daemon: finding the one that serves a home (`run/daemon.json`),
//! starting it (detached, as `nightshift serve` from the running binary) when none answers,
//! replacing one that does not answer, and sending it an audio file.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::home::Home;

/// `<home>/run/daemon.json`: the daemon's address and pid.
pub fn info_path(home: &Home) -> std::path::PathBuf {
    home.root.join("run").join("daemon.json")
}

/// POST one audio file to the daemon; the body of its answer, or the error it gave.
pub fn request(
    addr: &str,
    file_name: &str,
    bytes: &[u8],
    format: &str,
    timeout_s: u64,
) -> Result<String, String> {
    let (ctype, body) = build_multipart(&[("response_format", format)], file_name, bytes);
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(timeout_s))
        .build();
    let mut post = agent
        .post(&format!("http://{addr}/v1/audio/transcriptions"))
        .set("Content-Type", &ctype);
    if let Some(t) = token() {
        post = post.set("Authorization", &format!("Bearer {t}"));
    }
    match post.send_bytes(&body) {
        Ok(r) => r
            .into_string()
            .map_err(|e| format!("reading the daemon's answer: {e}")),
        Err(ureq::Error::Status(_, r)) => {
            let body = r.into_string().unwrap_or_default();
            Err(serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or(body))
        }
        Err(ureq::Error::Transport(t)) if t.kind() == ureq::ErrorKind::Io => Err(format!(
            "no answer from the daemon within {timeout_s} s (--timeout)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The address of a daemon that answers `/health`, starting one if needed.
pub fn ensure_daemon(home: &Home) -> Result<String> {
    if let Some((addr, pid)) = read_info(&info_path(home)) {
        if healthy(&addr) {
            return Ok(addr);
        }
        if nightshift_queue::process_alive(pid, 0) {
            tracing::warn!("the daemon (pid {pid}) does not answer: restarting it");
            // SAFETY: signalling a pid read from our own run file.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_file(info_path(home));
    }
    let exe = std::env::current_exe().context("locating the nightshift binary")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.root.join("logs").join("daemon.log"))
        .or_else(|_| std::fs::File::create("/dev/null"))
        .context("opening the daemon log")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--home")
        .arg(&home.root)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("daemon log")?)
        .stderr(log);
    // SAFETY: setsid in the child before exec: the daemon outlives this terminal session.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().context("starting the daemon")?;
    // Another client may have started one first: whoever holds the lock wins, and it is the
    // one whose address appears.
    if let Some(addr) = wait_healthy(&info_path(home), Duration::from_secs(30)) {
        return Ok(addr);
    }
    bail!(
        "the daemon did not start within 30 s; see {}",
        home.root.join("logs").join("daemon.log").display()
    )
}

/// A private daemon for one request: its own port and run directory, stopped by the caller.
pub fn start_private(home: &Home) -> Result<(String, std::process::Child)> {
    // Same code path as the daemon, on a port of its own and a throwaway home for its run
    // files, so it never meets a shared daemon's lock.
    let dir = home
        .root
        .join("run")
        .join(format!("private-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe().context("locating the nightshift binary")?;
    let mut child = std::process::Command::new(exe)
        .arg("--home")
        .arg(&home.root)
        .args(["serve", "--run-dir"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("starting a worker")?;
    match wait_healthy(&dir.join("daemon.json"), Duration::from_secs(30)) {
        Some(addr) => Ok((addr, child)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("could not start a worker for this file")
        }
    }
}

/// The address in `info` once a daemon there answers `/health`, waiting up to `within`.
fn wait_healthy(info: &std::path::Path, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some((addr, _)) = read_info(info)
            && healthy(&addr)
        {
            return Some(addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// (address, pid) from a daemon's `daemon.json`.
fn read_info(info: &std::path::Path) -> Option<(String, u32)> {
    let text = std::fs::read_to_string(info).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    Some((v["addr"].as_str()?.to_string(), v["pid"].as_u64()? as u32))
}

fn healthy(addr: &str) -> bool {
    let mut get = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(2))
        .build()
        .get(&format!("http://{addr}/health"));
    if let Some(t) = token() {
        get = get.set("Authorization", &format!("Bearer {t}"));
    }
    get.call().is_ok()
}

/// The daemon's bearer token, when it was started with one.
fn token() -> Option<String> {
    std::env::var("NIGHTSHIFT_DAEMON_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
}

/// A multipart body with text fields and one file; returns (content type, body).
pub fn build_multipart(fields: &[(&str, &str)], file_name: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("nightshift-{:016x}", rand_u64());
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            file_name.replace('"', "_")
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}
