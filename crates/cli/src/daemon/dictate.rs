//! `nightshift dictate`: push-to-talk dictation through the session daemon.
//!
//! The key is read globally from the kernel's input devices (evdev, `/dev/input/event*`; needs
//! read access: root or the `input` group), so it works in any window, on X11 and Wayland. Where
//! those devices cannot be read, the terminal is the fallback: Enter starts, Enter stops.
//! While the key is held the microphone is recorded (cpal, through `nightshift-capture`); on
//! release the audio goes to the daemon and the text is typed into the focused window
//! (`xdotool` on X11, `wtype` on Wayland) or printed (`--output stdout`).

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nightshift_capture::{Block, Source};

use crate::args::{DictateArgs, DictateOutput};
use nightshift_pipeline::home::Home;

pub fn run(home: &Home, args: &DictateArgs) -> Result<ExitCode> {
    if args.source != "mic" {
        // A file stands in for the microphone (scripts, tests): one dictation.
        let path = PathBuf::from(&args.source);
        let bytes =
            std::fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
        let name = path
            .file_name()
            .map_or("audio".into(), |f| f.to_string_lossy().into_owned());
        let text = ask_daemon(home, &name, &bytes, args.timeout)?;
        deliver(&text, args.output)?;
        return Ok(ExitCode::SUCCESS);
    }
    let code = key_code(&args.key)?;
    let mut keys = KeySource::open(code);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    // Start the daemon (and so the model) before the first key press.
    nightshift_pipeline::session::client::ensure_daemon(home)?;
    eprintln!("{}", keys.prompt(&args.key));
    while !stop.load(Ordering::SeqCst) {
        if !keys.wait_press(&stop)? {
            break;
        }
        let mut source = nightshift_capture::start_source(&Source::Default, 1.0)
            .map_err(|e| anyhow::anyhow!("microphone: {e}"))?;
        let mut samples: Vec<f32> = Vec::new();
        let released = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&released);
        // The key is watched on its own thread while this one collects audio.
        let watcher = {
            let mut k = keys.try_clone()?;
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let _ = k.wait_release(&stop);
                flag.store(true, Ordering::SeqCst);
            })
        };
        while !released.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) {
            match source.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Block::Samples(s)) => samples.extend(s),
                Ok(Block::Failed(e)) => bail!("microphone: {e}"),
                Ok(Block::End) => break,
                Err(_) => {}
            }
        }
        source.stop();
        while let Ok(Block::Samples(s)) = source.rx.try_recv() {
            samples.extend(s);
        }
        let _ = watcher.join();
        let wav = wav_bytes(&samples);
        match ask_daemon(home, "dictation.wav", &wav, args.timeout) {
            Ok(text) if !text.trim().is_empty() => deliver(text.trim(), args.output)?,
            Ok(_) => eprintln!("(nothing heard)"),
            Err(e) => eprintln!("error: {e:#}"),
        }
        if args.once {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ask_daemon(home: &Home, name: &str, bytes: &[u8], timeout: u64) -> Result<String> {
    let addr = nightshift_pipeline::session::client::ensure_daemon(home)?;
    nightshift_pipeline::session::client::request(&addr, name, bytes, "text", timeout)
        .map(|t| t.trim().to_string())
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

/// Type into the focused window, or print.
fn deliver(text: &str, output: DictateOutput) -> Result<()> {
    match output {
        DictateOutput::Stdout => {
            println!("{text}");
            Ok(())
        }
        DictateOutput::Type => {
            let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some();
            let (tool, args): (&str, Vec<&str>) = if wayland {
                ("wtype", vec!["--", text])
            } else {
                (
                    "xdotool",
                    vec!["type", "--clearmodifiers", "--delay", "0", "--", text],
                )
            };
            let status = Command::new(tool).args(&args).status();
            match status {
                Ok(s) if s.success() => Ok(()),
                Ok(s) => bail!("{tool} failed ({s}); use --output stdout"),
                Err(_) => bail!(
                    "{tool} is not installed (apt-get install {tool}); or use --output stdout"
                ),
            }
        }
    }
}

/// 16 kHz mono 16-bit WAV in memory.
fn wav_bytes(samples: &[f32]) -> Vec<u8> {
    let data = (samples.len() * 2) as u32;
    let mut v = Vec::with_capacity(44 + data as usize);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&16_000u32.to_le_bytes());
    v.extend_from_slice(&32_000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data.to_le_bytes());
    for &x in samples {
        v.extend_from_slice(&(nightshift_media::chunk_io::to_i16(x) as i16).to_le_bytes());
    }
    v
}

/// Linux input key codes (`linux/input-event-codes.h`) for the keys people pick.
fn key_code(name: &str) -> Result<u16> {
    let code = match name.to_ascii_lowercase().as_str() {
        "insert" => 110,
        "pause" => 119,
        "scrolllock" | "scroll_lock" => 70,
        "rightctrl" | "right_ctrl" => 97,
        "rightalt" | "right_alt" | "altgr" => 100,
        "capslock" | "caps_lock" => 58,
        "menu" | "compose" => 127,
        "f13" => 183,
        n if n.starts_with('f') && n[1..].parse::<u16>().is_ok_and(|k| (1..=12).contains(&k)) => {
            let k: u16 = n[1..].parse()?;
            if k <= 10 { 58 + k } else { 87 + (k - 11) }
        }
        _ => bail!(
            "--key {name}: use Insert, Pause, ScrollLock, RightCtrl, RightAlt, CapsLock, Menu or F1–F13"
        ),
    };
    Ok(code)
}

/// Key presses from evdev devices, or the terminal.
enum KeySource {
    Evdev { devices: Vec<PathBuf>, code: u16 },
    Terminal,
}

impl KeySource {
    fn open(code: u16) -> KeySource {
        let devices: Vec<PathBuf> = std::fs::read_dir("/dev/input")
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("event"))
                    })
                    .filter(|p| File::open(p).is_ok())
                    .collect()
            })
            .unwrap_or_default();
        if devices.is_empty() {
            KeySource::Terminal
        } else {
            KeySource::Evdev { devices, code }
        }
    }

    fn try_clone(&self) -> Result<KeySource> {
        Ok(match self {
            KeySource::Evdev { devices, code } => KeySource::Evdev {
                devices: devices.clone(),
                code: *code,
            },
            KeySource::Terminal => KeySource::Terminal,
        })
    }

    fn prompt(&self, key: &str) -> String {
        match self {
            KeySource::Evdev { .. } => format!("hold {key} to dictate (Ctrl-C to quit)"),
            KeySource::Terminal => "no readable input devices (/dev/input: join the `input` group for a global key): press Enter to start, Enter to stop".into(),
        }
    }

    fn wait_press(&mut self, stop: &AtomicBool) -> Result<bool> {
        self.wait_value(1, stop)
    }

    fn wait_release(&mut self, stop: &AtomicBool) -> Result<bool> {
        self.wait_value(0, stop)
    }

    /// Wait for the key event with `value` (1 press, 0 release); false when stopped.
    fn wait_value(&mut self, value: i32, stop: &AtomicBool) -> Result<bool> {
        match self {
            KeySource::Terminal => {
                let mut line = String::new();
                let n = std::io::stdin().lock().read_line(&mut line)?;
                let _ = std::io::stderr().write_all(if value == 1 {
                    b"recording... (Enter to stop)\n"
                } else {
                    b""
                });
                Ok(n > 0 && !stop.load(Ordering::SeqCst))
            }
            KeySource::Evdev { devices, code } => {
                let (tx, rx) = std::sync::mpsc::channel();
                let done = Arc::new(AtomicBool::new(false));
                for d in devices.iter() {
                    let (tx, done, d, code) = (tx.clone(), Arc::clone(&done), d.clone(), *code);
                    std::thread::spawn(move || {
                        let Ok(mut f) = File::open(&d) else { return };
                        // struct input_event: timeval (16 bytes on 64-bit), type u16, code u16, value i32.
                        let mut ev = [0u8; 24];
                        while !done.load(Ordering::SeqCst) {
                            if f.read_exact(&mut ev).is_err() {
                                return;
                            }
                            let ty = u16::from_ne_bytes([ev[16], ev[17]]);
                            let c = u16::from_ne_bytes([ev[18], ev[19]]);
                            let v = i32::from_ne_bytes([ev[20], ev[21], ev[22], ev[23]]);
                            if ty == 1 && c == code && v == value {
                                let _ = tx.send(());
                                return;
                            }
                        }
                    });
                }
                drop(tx);
                loop {
                    if stop.load(Ordering::SeqCst) {
                        done.store(true, Ordering::SeqCst);
                        return Ok(false);
                    }
                    match rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(()) => {
                            done.store(true, Ordering::SeqCst);
                            return Ok(true);
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(_) => bail!("the input devices closed"),
                    }
                }
            }
        }
    }
}
