//! The transcription upload: a `multipart/form-data` body streamed to disk. The size limit is
//! enforced before any allocation (a declared `Content-Length` over it is refused unread) and
//! while reading (the stream fails once more bytes than allowed arrived); a body that stalls
//! is abandoned; a failed upload leaves no file behind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use http_body_util::BodyExt;
use hyper::body::Body;
use tokio::io::AsyncWriteExt;

/// How much an upload may be, and how long it may stall.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The whole body, in bytes (`serve --max-upload`).
    pub max_upload: u64,
    /// A body that sends nothing for this long is abandoned (408).
    pub body_idle: Duration,
    /// Each text field (`model`, `prompt`, `response_format`, …), in bytes.
    pub max_field: usize,
}

/// The form as stored: the upload's file and the text fields the daemon uses.
#[derive(Debug)]
pub struct Form {
    pub upload: PathBuf,
    pub response_format: String,
    pub prompt: Option<String>,
}

/// The response formats a request may ask for.
pub const RESPONSE_FORMATS: [&str; 5] = ["json", "text", "srt", "vtt", "verbose_json"];

/// Why a body stream ended early; carried through multer as its stream error.
#[derive(Debug)]
enum BodyError {
    TooLarge,
    Idle(Duration),
    Read(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge => write!(f, "body over the limit"),
            BodyError::Idle(d) => write!(f, "no data for {} s", d.as_secs()),
            BodyError::Read(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// `Err((413, why))` when the request declares a body over the limit: refuse it unread.
pub fn check_declared_length(
    content_length: Option<&hyper::header::HeaderValue>,
    limits: &Limits,
) -> Result<(), (u16, String)> {
    let declared = content_length
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_upload) {
        return Err((413, too_large(limits.max_upload)));
    }
    Ok(())
}

fn too_large(max: u64) -> String {
    format!("upload larger than the limit ({max} bytes, --max-upload)")
}

/// The body as a stream of data chunks that fails once more than `max` bytes arrived or
/// nothing arrived for `idle`.
fn limited<B>(body: B, max: u64, idle: Duration) -> impl Stream<Item = Result<Bytes, BodyError>>
where
    B: Body<Data = Bytes> + Unpin + Send,
    B::Error: std::fmt::Display,
{
    stream::unfold(
        (body, 0u64, false),
        move |(mut body, seen, done)| async move {
            if done {
                return None;
            }
            loop {
                let frame = match tokio::time::timeout(idle, body.frame()).await {
                    Err(_) => return Some((Err(BodyError::Idle(idle)), (body, seen, true))),
                    Ok(None) => return None,
                    Ok(Some(Err(e))) => {
                        return Some((Err(BodyError::Read(e.to_string())), (body, seen, true)));
                    }
                    Ok(Some(Ok(frame))) => frame,
                };
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                let seen = seen + data.len() as u64;
                if seen > max {
                    return Some((Err(BodyError::TooLarge), (body, seen, true)));
                }
                return Some((Ok(data), (body, seen, false)));
            }
        },
    )
}

/// Stream the multipart form with `boundary`: the `file` field to `<dir>/<stem>.<ext>`, the
/// text fields into bounded strings. Nothing of a failed upload is left on disk, also when
/// this future is dropped before it ends (hyper drops a request's handler when its connection
/// goes away).
pub async fn read_form<B>(
    body: B,
    boundary: &str,
    limits: &Limits,
    dir: &Path,
    stem: &str,
) -> Result<Form, (u16, String)>
where
    B: Body<Data = Bytes> + Unpin + Send,
    B::Error: std::fmt::Display,
{
    let stream = limited(body, limits.max_upload, limits.body_idle);
    let mut multipart = multer::Multipart::new(stream, boundary);
    // Registered before the file is created, so a failure — or this future dropped by a
    // connection that went away — removes it.
    let mut upload: Option<(Pending, u64)> = None;
    let mut fields: Vec<(String, String)> = Vec::new();
    read_fields(&mut multipart, limits, dir, stem, &mut upload, &mut fields).await?;
    let response_format = check_form(upload.as_ref().map(|(_, n)| *n), &fields)?;
    let Some((mut pending, _)) = upload else {
        return Err((400, "no `file` field in the form".to_string()));
    };
    Ok(Form {
        upload: pending.keep(),
        response_format,
        prompt: field(&fields, "prompt").filter(|p| !p.is_empty()),
    })
}

/// An upload's file, removed when dropped unless kept.
struct Pending(Option<PathBuf>);

impl Pending {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("not kept yet")
    }

    fn keep(&mut self) -> PathBuf {
        self.0.take().expect("kept once")
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Read every field: the first `file` field to disk, the others as text.
async fn read_fields(
    multipart: &mut multer::Multipart<'_>,
    limits: &Limits,
    dir: &Path,
    stem: &str,
    upload: &mut Option<(Pending, u64)>,
    fields: &mut Vec<(String, String)>,
) -> Result<(), (u16, String)> {
    let max = limits.max_upload;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| form_error(e, max))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" && upload.is_none() {
            let path = dir.join(format!("{stem}.{}", extension(field.file_name())));
            let (pending, written) = upload.insert((Pending(Some(path)), 0));
            *written = write_field(field, pending.path(), max).await?;
        } else {
            let value = text_field(field, &name, limits).await?;
            fields.push((name, value));
        }
    }
    Ok(())
}

/// Stream one field into a new file; the bytes written.
async fn write_field(
    mut field: multer::Field<'_>,
    path: &Path,
    max: u64,
) -> Result<u64, (u16, String)> {
    let storing = |e: std::io::Error| (500, format!("storing the upload: {e}"));
    // Created here, not on tokio's blocking pool: a create still queued there when this future
    // is dropped would make the file after its `Pending` had removed it.
    let mut file = tokio::fs::File::from_std(std::fs::File::create(path).map_err(storing)?);
    let mut written = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(|e| form_error(e, max))? {
        file.write_all(&chunk).await.map_err(storing)?;
        written += chunk.len() as u64;
    }
    file.flush().await.map_err(storing)?;
    Ok(written)
}

/// One text field, at most `limits.max_field` bytes, trimmed.
async fn text_field(
    mut field: multer::Field<'_>,
    name: &str,
    limits: &Limits,
) -> Result<String, (u16, String)> {
    let mut value = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| form_error(e, limits.max_upload))?
    {
        if value.len() + chunk.len() > limits.max_field {
            return Err((
                400,
                format!(
                    "form field `{name}` is longer than {} bytes",
                    limits.max_field
                ),
            ));
        }
        value.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&value).trim().to_string())
}

fn field(fields: &[(String, String)], key: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// A complete form has a non-empty file and a known `response_format` (returned).
fn check_form(
    upload_bytes: Option<u64>,
    fields: &[(String, String)],
) -> Result<String, (u16, String)> {
    match upload_bytes {
        None => return Err((400, "no `file` field in the form".to_string())),
        Some(0) => return Err((400, "the uploaded file is empty".to_string())),
        Some(_) => {}
    }
    let format = field(fields, "response_format").unwrap_or_else(|| "json".into());
    if RESPONSE_FORMATS.contains(&format.as_str()) {
        Ok(format)
    } else {
        Err((
            400,
            format!("response_format {format:?}: use json, text, srt, vtt or verbose_json"),
        ))
    }
}

/// A multer error as (status, message): our own stream errors keep their meaning.
fn form_error(e: multer::Error, max: u64) -> (u16, String) {
    if let multer::Error::StreamReadFailed(inner) = &e
        && let Some(body) = inner.downcast_ref::<BodyError>()
    {
        return match body {
            BodyError::TooLarge => (413, too_large(max)),
            BodyError::Idle(_) => (408, format!("reading the upload: {body}")),
            BodyError::Read(_) => (400, format!("reading the upload: {body}")),
        };
    }
    (400, format!("malformed multipart form: {e}"))
}

/// The upload's extension, kept only when it is plain ASCII letters and digits (the decoder may
/// use it as a hint; never a path).
pub fn extension(file_name: Option<&str>) -> String {
    file_name
        .and_then(|f| Path::new(f).extension())
        .and_then(|e| e.to_str())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("bin")
        .to_string()
}

/// Read and discard what remains of a refused request's body, at most `max` bytes and with
/// at most `idle` between frames, so a well-behaved client that sent an oversized upload reads
/// the refusal instead of a reset; the caller then closes the connection.
pub async fn drain<B>(mut body: B, max: u64, idle: Duration)
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut seen = 0u64;
    while seen <= max {
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                seen += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use http_body_util::{Full, StreamBody};

    const LIMITS: Limits = Limits {
        max_upload: 1000,
        body_idle: Duration::from_secs(5),
        max_field: 16,
    };

    fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, file, data) in parts {
            b.extend_from_slice(b"--XyZ\r\n");
            let disp = match file {
                Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
                None => format!("form-data; name=\"{name}\""),
            };
            b.extend_from_slice(format!("Content-Disposition: {disp}\r\n\r\n").as_bytes());
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    async fn read(body: Vec<u8>, dir: &Path) -> Result<Form, (u16, String)> {
        read_form(Full::new(Bytes::from(body)), "XyZ", &LIMITS, dir, "u-1").await
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn a_form_is_stored_with_its_fields() {
        block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let body = form(&[
                ("response_format", None, b"srt"),
                ("prompt", None, b" names "),
                ("file", Some("../../x.wav"), b"RIFF--XyZ\x00"),
            ]);
            let f = read(body, dir.path()).await.unwrap();
            assert_eq!(f.upload, dir.path().join("u-1.wav"));
            assert_eq!(std::fs::read(&f.upload).unwrap(), b"RIFF--XyZ\x00");
            assert_eq!(
                (f.response_format.as_str(), f.prompt.as_deref()),
                ("srt", Some("names"))
            );
        });
    }

    #[test]
    fn refused_forms_leave_nothing_behind() {
        block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let big = vec![7u8; 2000];
            let cases: [(Vec<u8>, u16); 5] = [
                (form(&[("file", Some("a.wav"), &big)]), 413),
                (form(&[("file", Some("a.wav"), b"")]), 400),
                (form(&[("model", None, b"whisper-1")]), 400),
                (
                    form(&[("file", Some("a.wav"), b"x"), ("prompt", None, &[b'p'; 17])]),
                    400,
                ),
                (
                    form(&[
                        ("file", Some("a.wav"), b"x"),
                        ("response_format", None, b"pdf"),
                    ]),
                    400,
                ),
            ];
            for (body, status) in cases {
                assert_eq!(read(body, dir.path()).await.unwrap_err().0, status);
                assert_eq!(files_in(dir.path()), 0);
            }
            // Cut off in the middle of the file.
            let mut cut = form(&[("file", Some("a.wav"), b"0123456789")]);
            cut.truncate(cut.len() - 12);
            assert_eq!(read(cut, dir.path()).await.unwrap_err().0, 400);
            assert_eq!(files_in(dir.path()), 0);
        });
    }

    #[test]
    fn a_stalled_body_is_abandoned() {
        block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let head = form(&[("file", Some("a.wav"), b"x")])[..60].to_vec();
            let frames = stream::iter([Ok::<_, std::convert::Infallible>(
                hyper::body::Frame::data(Bytes::from(head)),
            )])
            .chain(stream::pending());
            let limits = Limits {
                body_idle: Duration::from_millis(50),
                ..LIMITS
            };
            let got = read_form(StreamBody::new(frames), "XyZ", &limits, dir.path(), "s").await;
            assert_eq!(got.unwrap_err().0, 408);
            assert_eq!(files_in(dir.path()), 0);
        });
    }

    /// Found by the `daemon_http` fuzz target: hyper drops a handler whose connection went
    /// away, and the half-written upload stayed on disk.
    #[test]
    fn an_upload_dropped_midway_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let whole = form(&[("file", Some("a.wav"), &[5u8; 500])]);
        let frames = stream::iter([Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(
            Bytes::from(whole[..300].to_vec()),
        ))])
        .chain(stream::pending());
        block_on(async {
            let read = read_form(StreamBody::new(frames), "XyZ", &LIMITS, dir.path(), "d");
            let cut = tokio::time::timeout(Duration::from_millis(50), read).await;
            assert!(cut.is_err(), "still reading when dropped");
        });
        assert_eq!(files_in(dir.path()), 0);
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_unread() {
        let v = |s: &str| hyper::header::HeaderValue::from_str(s).unwrap();
        assert!(check_declared_length(Some(&v("1000")), &LIMITS).is_ok());
        assert_eq!(
            check_declared_length(Some(&v("1000000000000")), &LIMITS)
                .unwrap_err()
                .0,
            413
        );
        assert!(check_declared_length(None, &LIMITS).is_ok());
    }

    #[test]
    fn upload_extensions_never_become_paths() {
        assert_eq!(extension(Some("clip.wav")), "wav");
        assert_eq!(extension(Some("../../etc/passwd")), "bin");
        assert_eq!(extension(Some("a.w/av")), "bin");
        assert_eq!(extension(Some("x.wav\0.sh")), "sh");
        assert_eq!(extension(Some("noext")), "bin");
        assert_eq!(extension(Some("a.verylongextension")), "bin");
        assert_eq!(extension(None), "bin");
    }
}
