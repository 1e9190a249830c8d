//! A meeting's original recording for the player: byte ranges (`Range: bytes=…`), which a
//! browser needs to seek, streamed from the file — never read whole into memory.

use std::path::Path;

use super::super::http::{Answer, FileSlice};

/// The content type a browser's player needs for a file, from its extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "mp4" | "m4v" | "mov" => "video/mp4",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// What a `Range` header asks of a file of `size` bytes: `Ok(None)` for the whole file,
/// `Ok(Some((start, len)))` for one satisfiable range, `Err(())` for an unsatisfiable one (416).
/// Several ranges in one header are answered with the first (a player asks for one).
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.map(str::trim) else {
        return Ok(None);
    };
    let Some(first) = spec.strip_prefix("bytes=").map(|s| s.split(',').next()) else {
        return Ok(None); // another unit: ignore the header, as the RFC allows
    };
    let Some((a, b)) = first.unwrap_or_default().trim().split_once('-') else {
        return Err(());
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // The last N bytes.
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || size == 0 {
            return Err(());
        }
        let n = n.min(size);
        (size - n, n)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        if start >= size {
            return Err(());
        }
        let end = if b.is_empty() {
            size - 1
        } else {
            b.parse::<u64>().map_err(|_| ())?.min(size - 1)
        };
        if end < start {
            return Err(());
        }
        (start, end - start + 1)
    };
    Ok(Some(range))
}

/// Answer a GET for `path` (200 whole, 206 a range, 416 unsatisfiable, 404 gone).
pub fn serve_file(path: &Path, range: Option<&str>) -> Answer {
    let size = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m.len(),
        _ => {
            return Answer::error(
                404,
                &format!("{}: the recording is no longer there", path.display()),
            );
        }
    };
    let ctype = content_type(path);
    let mut answer = match parse_range(range, size) {
        Ok(None) => Answer::file(200, ctype, path, 0, size),
        Ok(Some((start, len))) => {
            let mut a = Answer::file(206, ctype, path, start, len);
            a.headers.push((
                "content-range".into(),
                format!("bytes {start}-{}/{size}", start + len - 1),
            ));
            a
        }
        Err(()) => {
            let mut a = Answer::error(416, "range not satisfiable");
            a.headers
                .push(("content-range".into(), format!("bytes */{size}")));
            return a;
        }
    };
    answer
        .headers
        .push(("accept-ranges".into(), "bytes".into()));
    answer
}

impl Answer {
    fn file(status: u16, content_type: &str, path: &Path, start: u64, len: u64) -> Answer {
        let mut a = Answer::with_type(status, String::new(), content_type);
        a.file = Some(FileSlice {
            path: path.to_path_buf(),
            start,
            len,
        });
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-"), 100), Ok(Some((0, 100))));
        assert_eq!(parse_range(Some("bytes=10-19"), 100), Ok(Some((10, 10))));
        assert_eq!(parse_range(Some("bytes=90-500"), 100), Ok(Some((90, 10))));
        assert_eq!(parse_range(Some("bytes=-30"), 100), Ok(Some((70, 30))));
        assert_eq!(parse_range(Some("bytes=-300"), 100), Ok(Some((0, 100))));
        assert_eq!(parse_range(Some("bytes=5-6, 8-9"), 100), Ok(Some((5, 2))));
        assert_eq!(parse_range(Some("items=1-2"), 100), Ok(None));
        for bad in [
            "bytes=100-",
            "bytes=20-10",
            "bytes=x-1",
            "bytes=-0",
            "bytes=5",
        ] {
            assert_eq!(parse_range(Some(bad), 100), Err(()), "{bad}");
        }
        assert_eq!(parse_range(Some("bytes=0-"), 0), Err(()));
        assert_eq!(
            parse_range(Some("bytes=18446744073709551615-"), 100),
            Err(())
        );
    }

    #[test]
    fn a_missing_file_is_404_and_a_range_is_206() {
        assert_eq!(
            serve_file(Path::new("/nonexistent/x.wav"), None).status,
            404
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.wav");
        std::fs::write(&f, vec![7u8; 1000]).unwrap();
        let a = serve_file(&f, Some("bytes=100-199"));
        assert_eq!(a.status, 206);
        assert_eq!(a.file.as_ref().unwrap().len, 100);
        assert!(
            a.headers
                .contains(&("content-range".into(), "bytes 100-199/1000".into()))
        );
        assert_eq!(serve_file(&f, Some("bytes=2000-")).status, 416);
        assert_eq!(serve_file(&f, None).file.unwrap().len, 1000);
    }
}
