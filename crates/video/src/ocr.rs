//! OCR of keyframes with the Tesseract CLI (Debian `tesseract-ocr` + `tesseract-ocr-eng`), on a
//! small thread pool; lines are de-duplicated across a scene's keyframes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::VideoError;

/// Text lines of one image. Tesseract wants dark text on a light background at a good size:
/// the image is upscaled 3× to grayscale first (slide text at 360p is below its sweet spot),
/// and negated when `dark` (light text on a dark slide).
pub fn ocr_image(image: &Path, dark: bool) -> Result<Vec<String>, VideoError> {
    let prepared = image.with_extension(format!("ocr-{}.png", std::process::id()));
    let filter = format!(
        "scale=iw*3:ih*3:flags=bicubic,format=gray{}",
        if dark { ",negate" } else { "" }
    );
    let made = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(image)
        .args(["-vf", &filter])
        .arg(&prepared)
        .status()
        .map_err(|e| VideoError::Io("starting ffmpeg".into(), e))?;
    let source = if made.success() {
        prepared.as_path()
    } else {
        image
    };
    // Page layout analysis (psm 3) reads slides line by line but skips sparse labels (chart
    // axes, values); one uniform block (psm 6) reads those. Lines of the second pass are added
    // only when they carry words the first did not.
    let outcome = tesseract(source, "3").and_then(|mut lines| {
        let mut seen: std::collections::HashSet<String> =
            lines.iter().flat_map(|l| words(l)).collect();
        for l in tesseract(source, "6")? {
            if words(&l).iter().any(|w| !seen.contains(w)) {
                seen.extend(words(&l));
                lines.push(l);
            }
        }
        Ok(lines)
    });
    let _ = std::fs::remove_file(&prepared);
    outcome
}

fn words(line: &str) -> Vec<String> {
    line.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn tesseract(image: &Path, psm: &str) -> Result<Vec<String>, VideoError> {
    let out = Command::new("tesseract")
        .arg(image)
        .args(["stdout", "--psm", psm])
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
        .filter(|l| l.chars().any(|c| c.is_alphanumeric()))
        .collect())
}

/// One image's lines, or why OCR failed.
pub type OcrResult = Result<Vec<String>, VideoError>;

/// OCR many images with `threads` workers, each with whether it is a dark (light-on-dark)
/// picture; results in input order.
pub fn ocr_all(images: &[(PathBuf, bool)], threads: usize) -> Vec<OcrResult> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<OcrResult>>> =
        images.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((img, dark)) = images.get(i) else {
                        return;
                    };
                    let r = ocr_image(img, *dark);
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
