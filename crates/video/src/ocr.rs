//! OCR of keyframes with the Tesseract CLI (Debian `tesseract-ocr` + `tesseract-ocr-eng`), on a
//! small thread pool; lines are de-duplicated across a scene's keyframes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::VideoError;

/// Text lines of one image (upscaled 2× first: slide text at 360p is below Tesseract's sweet
/// spot).
pub fn ocr_image(image: &Path) -> Result<Vec<String>, VideoError> {
    let out = Command::new("tesseract")
        .arg(image)
        .args(["stdout", "--psm", "3", "-c", "tessedit_do_invert=0"])
        .output()
        .map_err(|e| {
            VideoError::Io(
                "starting tesseract (apt-get install tesseract-ocr tesseract-ocr-eng)".into(),
                e,
            )
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(VideoError::Ocr(format!(
            "{}: {}",
            image.display(),
            err.lines().last().unwrap_or("tesseract failed")
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| l.chars().filter(|c| c.is_alphanumeric()).count() >= 2)
        .collect())
}

/// OCR many images with `threads` workers; results in input order.
pub fn ocr_all(images: &[PathBuf], threads: usize) -> Vec<Result<Vec<String>, VideoError>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<Vec<String>, VideoError>>>> =
        images.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(img) = images.get(i) else { return };
                    let r = ocr_image(img);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().ok().flatten().unwrap_or(Ok(Vec::new())))
        .collect()
}

/// Lines of several OCR results, each kept once (case- and space-insensitive), in first-seen order.
pub fn dedupe(lines: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    lines
        .into_iter()
        .filter(|l| seen.insert(l.to_lowercase().split_whitespace().collect::<String>()))
        .collect()
}
