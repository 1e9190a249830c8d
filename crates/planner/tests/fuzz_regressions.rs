//! Inputs the `gguf` and `whisper_ggml` fuzz targets crashed on (`fuzz/`, README "Fuzzing"),
//! replayed through the same calls on stable: each must be refused with an error, never panic
//! or produce an estimate from garbage.

use std::io::Cursor;
use std::path::Path;

fn inputs(target: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no regression inputs", dir.display());
    files
}

#[test]
fn crashing_model_headers_are_refused() {
    for path in inputs("gguf") {
        let bytes = std::fs::read(&path).expect("regression input");
        let len = bytes.len() as u64;
        match nightshift_planner::read(Cursor::new(bytes), len) {
            Err(e) => assert!(!e.to_string().is_empty(), "{}", path.display()),
            Ok(model) => panic!(
                "{}: garbage header read as a model: {model:?}",
                path.display()
            ),
        }
    }
}
