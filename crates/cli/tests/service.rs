//! `service install|remove`, `completions`, `man`. systemd's user manager does not run in
//! test machines (containers), so the install path runs against a `systemctl` stand-in on
//! PATH that records its arguments; the refusal where systemd is absent runs for real.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Env, stderr, stdout};

#[test]
fn without_systemd_service_install_says_so_and_writes_nothing() {
    let env = Env::new();
    let config = tempfile::tempdir().unwrap();
    let empty_path = tempfile::tempdir().unwrap();
    let out = env
        .cmd()
        .args(["service", "install"])
        .env("PATH", empty_path.path())
        .env("XDG_CONFIG_HOME", config.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("systemd is not available"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!config.path().join("systemd").exists());
}

#[test]
fn service_install_writes_enables_and_remove_deletes_the_units() {
    let env = Env::new();
    let config = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("calls.log");
    let fake = bin.path().join("systemctl");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str]| {
        env.cmd()
            .args(args)
            .env("PATH", &path)
            .env("XDG_CONFIG_HOME", config.path())
            .output()
            .unwrap()
    };
    let bad = run(&["service", "install", "--at", "25:00"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("HH:MM"), "{}", stderr(&bad));

    let out = run(&["service", "install", "--at", "03:15"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let units = config.path().join("systemd/user");
    let serve = std::fs::read_to_string(units.join("nightshift-serve.service")).unwrap();
    let home = env.home().canonicalize().unwrap();
    assert!(
        serve.contains(&format!("--home {} serve", home.display())),
        "{serve}"
    );
    let timer = std::fs::read_to_string(units.join("nightshift-run.timer")).unwrap();
    assert!(timer.contains("OnCalendar=*-*-* 03:15:00"), "{timer}");
    let run_unit = std::fs::read_to_string(units.join("nightshift-run.service")).unwrap();
    assert!(
        run_unit.contains("run --when idle --until-idle"),
        "{run_unit}"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("--user daemon-reload"), "{calls}");
    assert!(
        calls.contains("--user enable --now nightshift-serve.service nightshift-run.timer"),
        "{calls}"
    );

    let out = run(&["service", "remove"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 unit file(s) removed"),
        "{}",
        stdout(&out)
    );
    assert!(!units.join("nightshift-serve.service").exists());
}

#[test]
fn completions_and_man_pages_come_from_the_command_line() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains("nightshift") && text.contains("transcribe"),
            "{shell}"
        );
    }
    let man = env.run(&["man"]);
    assert!(man.status.success());
    assert!(stdout(&man).contains(".TH nightshift"), "{}", stdout(&man));
    let dir = tempfile::tempdir().unwrap();
    let out = env.run(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for page in [
        "nightshift.1",
        "nightshift-add.1",
        "nightshift-show.1",
        "nightshift-open.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
}
