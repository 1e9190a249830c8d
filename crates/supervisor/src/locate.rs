//! Finding worker binaries: they ship beside the `nightshift` binary, so look there first
//! (DESIGN.md §6), then one folder up (test binaries live in `target/<profile>/deps/`), then on
//! `PATH`.

use std::path::{Path, PathBuf};

use crate::SupervisorError;

/// Locate the worker binary `name` (e.g. `nightshift-whisper-worker`).
pub fn find_worker_binary(name: &str) -> Result<PathBuf, SupervisorError> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = exe_dir {
        if let Some(parent) = dir.parent() {
            dirs.push(dir.clone());
            dirs.push(parent.to_path_buf());
        } else {
            dirs.push(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    find_in(name, &dirs).ok_or_else(|| SupervisorError::WorkerNotFound {
        name: name.to_owned(),
        searched: dirs
            .iter()
            .take(2)
            .map(|d| d.display().to_string())
            .collect(),
    })
}

/// The first `dir/name` that is an executable file.
pub fn find_in(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    dirs.iter()
        .map(|d| d.join(&file))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_executable_wins_and_plain_files_do_not_count() {
        use std::os::unix::fs::PermissionsExt;
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let not_exec = a.path().join("w");
        std::fs::write(&not_exec, b"x").unwrap();
        let exec = b.path().join("w");
        std::fs::write(&exec, b"x").unwrap();
        std::fs::set_permissions(&exec, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(find_in("w", &dirs), Some(exec));
        assert_eq!(find_in("other", &dirs), None);
    }

    #[test]
    fn a_missing_worker_says_how_to_build_it() {
        let err = find_worker_binary("nightshift-no-such-worker").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("nightshift-no-such-worker"), "{msg}");
        assert!(
            msg.contains("cargo build --release -p nightshift-no-such-worker"),
            "{msg}"
        );
    }
}
