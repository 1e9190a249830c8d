//! The daemon's HTTP surface on hyper (HTTP/1.1), on a small tokio runtime of its own.
//!
//! Why not a blocking one-thread server: a client that sends slowly, or claims a body it never
//! sends, must not stall the others or cost memory. Here every connection is its own task; the
//! request head is bounded in size and time; a body is streamed — an upload straight to a file
//! under `run/uploads`, other fields into small bounded buffers — and the limit (`--max-upload`)
//! is enforced on the declared length before anything is read and again on every byte that
//! arrives, so no allocation ever follows a client's claim. Transcription itself happens on the
//! model thread (`model.rs`); a handler waits for its answer on a oneshot channel.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, oneshot};

use nightshift_pipeline::session::model;

use super::http::{Answer, Guard};

/// Open connections at once; more wait in the kernel's accept backlog.
const MAX_CONNECTIONS: usize = 256;
/// A request head (request line + headers) must arrive within this time…
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// …and fit in this many bytes (hyper answers 431 beyond it).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A body that sends nothing for this long is abandoned (408).
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Text fields of the form (`model`, `prompt`, `response_format`, …).
const MAX_FIELD_BYTES: usize = 64 * 1024;
/// A refused request's unread body is read and discarded up to this much (so a well-behaved
/// client that sent an oversized upload reads our 413 instead of a reset), then the connection
/// is closed.
const MAX_DRAIN_BYTES: u64 = 16 << 20;
const DRAIN_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// What every connection shares.
pub struct Shared {
    pub guard: Guard,
    pub max_upload: u64,
    pub uploads_dir: PathBuf,
    pub jobs: mpsc::Sender<model::Job>,
    pub state: Arc<Mutex<model::State>>,
    /// `/status`'s document, built from the model thread's state.
    pub status: Box<dyn Fn(&model::State) -> Value + Send + Sync>,
    pub uploads: AtomicU64,
    /// The web app on every other path.
    pub web: Arc<super::web::Web>,
}

/// Accept connections until the runtime is shut down.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: wait a moment instead of spinning.
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(&shared, req, peer).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer}: {e}");
            }
            drop(permit);
        });
    }
}

async fn handle(
    shared: &Shared,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ResponseBody> {
    let (head, body) = req.into_parts();
    let answer = match route(shared, &head, body).await {
        Ok(answer) => answer,
        Err((answer, body)) => {
            // Refused before its body was read: discard a bounded amount, then close.
            drain(body).await;
            answer.closing()
        }
    };
    if answer.status >= 400 {
        tracing::debug!(
            "{peer} {} {}: {}",
            head.method,
            head.uri.path(),
            answer.status
        );
    }
    answer.into_response()
}

type Refused = (Answer, Incoming);

async fn route(
    shared: &Shared,
    head: &hyper::http::request::Parts,
    body: Incoming,
) -> Result<Answer, Refused> {
    if super::web::owns(head.uri.path()) {
        return super::web::route(&shared.web, head, body).await;
    }
    if let Err((status, why)) = shared.guard.check(&head.headers) {
        return Err((Answer::error(status, &why), body));
    }
    match (&head.method, head.uri.path()) {
        (&Method::GET, "/health") => Ok(Answer::json(200, &json!({"status": "ok"}))),
        (&Method::GET, "/status") => {
            let s = shared.state.lock().map(|s| s.clone()).unwrap_or_default();
            Ok(Answer::json(200, &(shared.status)(&s)))
        }
        (&Method::POST, "/v1/audio/transcriptions") => transcription(shared, head, body).await,
        _ => Err((Answer::error(404, "not found"), body)),
    }
}

async fn transcription(
    shared: &Shared,
    head: &hyper::http::request::Parts,
    body: Incoming,
) -> Result<Answer, Refused> {
    let declared = head
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.max_upload) {
        return Err((too_large(shared.max_upload), body));
    }
    let ctype = head
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Ok(boundary) = multer::parse_boundary(ctype) else {
        return Err((
            Answer::error(
                400,
                "Content-Type is not multipart/form-data with a boundary",
            ),
            body,
        ));
    };
    let n = shared.uploads.fetch_add(1, Ordering::Relaxed) + 1;
    let form = match read_form(body, &boundary, shared, n).await {
        Ok(form) => form,
        Err((status, message)) => return Ok(Answer::error(status, &message).closing()),
    };
    let (reply, answered) = oneshot::channel();
    if let Ok(mut s) = shared.state.lock() {
        s.queued += 1;
    }
    let job = model::Job {
        reply: model::Reply::Channel(reply),
        files: vec![form.upload],
        owned: true,
        response_format: form.response_format.clone(),
        prompt: form.prompt,
        received: Instant::now(),
    };
    if shared.jobs.send(job).is_err() {
        return Ok(Answer::error(503, "the daemon is stopping"));
    }
    Ok(match answered.await {
        Ok(Ok(transcript)) => render(&transcript, &form.response_format),
        Ok(Err((status, message))) => Answer::error(status, &message),
        Err(_) => Answer::error(503, "the daemon is stopping"),
    })
}

/// A transcript in the requested `response_format`.
fn render(t: &model::Transcript, format: &str) -> Answer {
    let text = model::plain_text(t);
    match format {
        "text" => Answer::with_type(200, format!("{text}\n"), "text/plain; charset=utf-8"),
        "srt" => Answer::with_type(
            200,
            nightshift_export::render_srt(&t.segments),
            "text/plain; charset=utf-8",
        ),
        "vtt" => Answer::with_type(
            200,
            nightshift_export::render_vtt(&t.segments),
            "text/vtt; charset=utf-8",
        ),
        "verbose_json" => Answer::json(200, &model::verbose(t, &text)),
        _ => Answer::json(200, &json!({"text": text})),
    }
}

fn too_large(max: u64) -> Answer {
    Answer::error(
        413,
        &format!("upload larger than the limit ({max} bytes, --max-upload)"),
    )
}

/// The transcription form as stored: the upload's file and the text fields we use.
struct Form {
    upload: PathBuf,
    response_format: String,
    prompt: Option<String>,
}

/// Why a body stream ended early; carried through multer as its stream error.
#[derive(Debug)]
enum BodyError {
    TooLarge,
    Idle,
    Read(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge => write!(f, "body over the limit"),
            BodyError::Idle => write!(f, "no data for {} s", BODY_IDLE_TIMEOUT.as_secs()),
            BodyError::Read(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// The body as a stream of data chunks that fails once more than `max` bytes arrived or
/// nothing arrived for `BODY_IDLE_TIMEOUT`.
fn limited(body: Incoming, max: u64) -> impl Stream<Item = Result<Bytes, BodyError>> + Send {
    stream::unfold(
        (body, 0u64, false),
        move |(mut body, seen, done)| async move {
            if done {
                return None;
            }
            loop {
                let frame = match tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame()).await {
                    Err(_) => return Some((Err(BodyError::Idle), (body, seen, true))),
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

/// Stream the multipart form: the `file` field to `<uploads>/<pid>-<n>.<ext>`, the text fields
/// into bounded strings. Nothing of a failed upload is left on disk.
async fn read_form(
    body: Incoming,
    boundary: &str,
    shared: &Shared,
    n: u64,
) -> Result<Form, (u16, String)> {
    let mut multipart = multer::Multipart::new(limited(body, shared.max_upload), boundary);
    // (path, bytes written): registered before the first write, so a failure removes it.
    let mut upload: Option<(PathBuf, u64)> = None;
    let mut fields: Vec<(String, String)> = Vec::new();
    let read = read_fields(&mut multipart, shared, n, &mut upload, &mut fields).await;
    let checked = read.and_then(|()| check_form(upload.as_ref(), &fields));
    match (checked, upload) {
        (Ok(response_format), Some((path, _))) => Ok(Form {
            upload: path,
            response_format,
            prompt: field(&fields, "prompt").filter(|p| !p.is_empty()),
        }),
        (Err(e), upload) => {
            if let Some((path, _)) = upload {
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
        (Ok(_), None) => Err((400, "no `file` field in the form".to_string())),
    }
}

/// Read every field: the first `file` field to disk, the others as text.
async fn read_fields(
    multipart: &mut multer::Multipart<'_>,
    shared: &Shared,
    n: u64,
    upload: &mut Option<(PathBuf, u64)>,
    fields: &mut Vec<(String, String)>,
) -> Result<(), (u16, String)> {
    let max = shared.max_upload;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| form_error(e, max))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" && upload.is_none() {
            let path = shared.uploads_dir.join(format!(
                "{}-{n}.{}",
                std::process::id(),
                extension(field.file_name())
            ));
            *upload = Some((path.clone(), 0));
            let written = write_field(field, &path, max).await?;
            *upload = Some((path, written));
        } else {
            let value = text_field(field, &name, max).await?;
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
    let mut file = tokio::fs::File::create(path).await.map_err(storing)?;
    let mut written = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(|e| form_error(e, max))? {
        file.write_all(&chunk).await.map_err(storing)?;
        written += chunk.len() as u64;
    }
    file.flush().await.map_err(storing)?;
    Ok(written)
}

/// One text field, at most `MAX_FIELD_BYTES`, trimmed.
async fn text_field(
    mut field: multer::Field<'_>,
    name: &str,
    max: u64,
) -> Result<String, (u16, String)> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| form_error(e, max))? {
        if value.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err((
                400,
                format!("form field `{name}` is longer than {MAX_FIELD_BYTES} bytes"),
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
    upload: Option<&(PathBuf, u64)>,
    fields: &[(String, String)],
) -> Result<String, (u16, String)> {
    match upload {
        None => return Err((400, "no `file` field in the form".to_string())),
        Some((_, 0)) => return Err((400, "the uploaded file is empty".to_string())),
        Some(_) => {}
    }
    let format = field(fields, "response_format").unwrap_or_else(|| "json".into());
    if ["json", "text", "srt", "vtt", "verbose_json"].contains(&format.as_str()) {
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
            BodyError::TooLarge => (
                413,
                format!("upload larger than the limit ({max} bytes, --max-upload)"),
            ),
            BodyError::Idle => (408, format!("reading the upload: {body}")),
            BodyError::Read(_) => (400, format!("reading the upload: {body}")),
        };
    }
    (400, format!("malformed multipart form: {e}"))
}

/// The upload's extension, kept only when it is plain ASCII letters and digits (the decoder may
/// use it as a hint; never a path).
fn extension(file_name: Option<&str>) -> String {
    file_name
        .and_then(|f| Path::new(f).extension())
        .and_then(|e| e.to_str())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("bin")
        .to_string()
}

/// Read and discard what remains of a refused request's body, within bounds of size and time.
async fn drain(mut body: Incoming) {
    let mut seen = 0u64;
    while seen <= MAX_DRAIN_BYTES {
        match tokio::time::timeout(DRAIN_IDLE_TIMEOUT, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                seen += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            _ => return,
        }
    }
}

impl Answer {
    /// Ask hyper to close the connection after this answer (its request body may be unread).
    fn closing(mut self) -> Answer {
        self.close = true;
        self
    }

    fn into_response(self) -> Response<ResponseBody> {
        let body = match &self.file {
            Some(slice) => file_body(slice.clone()),
            None => Full::new(Bytes::from(self.body))
                .map_err(|never| match never {})
                .boxed(),
        };
        let mut response = Response::new(body);
        *response.status_mut() = hyper::StatusCode::from_u16(self.status)
            .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.content_type) {
            headers.insert(CONTENT_TYPE, v);
        }
        if let Some(slice) = &self.file {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(slice.len));
        }
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                hyper::header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(n, v);
            }
        }
        if self.close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// A response body: bytes in memory, or a file range streamed in 64 KiB reads.
type ResponseBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// Stream `slice` of its file; a read error ends the body (the client sees a short response).
fn file_body(slice: super::http::FileSlice) -> ResponseBody {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    const READ: u64 = 64 * 1024;
    let frames = stream::unfold(
        (None::<tokio::fs::File>, slice, 0u64),
        |(file, slice, sent)| async move {
            if sent >= slice.len {
                return None;
            }
            let mut file = match file {
                Some(f) => f,
                None => {
                    let opened = async {
                        let mut f = tokio::fs::File::open(&slice.path).await?;
                        f.seek(std::io::SeekFrom::Start(slice.start)).await?;
                        Ok::<_, std::io::Error>(f)
                    };
                    match opened.await {
                        Ok(f) => f,
                        Err(e) => return Some((Err(e), (None, slice, u64::MAX))),
                    }
                }
            };
            let want = READ.min(slice.len - sent) as usize;
            let mut buf = vec![0u8; want];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    let frame = hyper::body::Frame::data(Bytes::from(buf));
                    Some((Ok(frame), (Some(file), slice, sent + n as u64)))
                }
                Err(e) => Some((Err(e), (None, slice, u64::MAX))),
            }
        },
    );
    http_body_util::StreamBody::new(frames).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

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
