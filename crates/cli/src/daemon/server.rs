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
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};

use nightshift_pipeline::session::model;

use nightshift_intake as intake;

use super::http::{Answer, Guard};

/// Open connections at once; more wait in the kernel's accept backlog.
const MAX_CONNECTIONS: usize = 256;
/// A request head (request line + headers) must arrive within this time…
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// …and fit in this many bytes (hyper answers 431 beyond it).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A body that sends nothing for this long is abandoned (408).
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Text fields of the form (`model`, `prompt`, `response_format`, …).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// A refused request's unread body is read and discarded up to this much (so a well-behaved
/// client that sent an oversized upload reads our 413 instead of a reset), then the connection
/// is closed.
const MAX_DRAIN_BYTES: u64 = 16 << 20;
const DRAIN_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// What every connection shares.
pub struct Shared {
    pub guard: Guard,
    /// The upload's size, stall and field limits (`--max-upload`).
    pub limits: intake::Limits,
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
            intake::drain(body, MAX_DRAIN_BYTES, DRAIN_IDLE_TIMEOUT).await;
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
    if let Err((status, why)) =
        intake::form::check_declared_length(head.headers.get(CONTENT_LENGTH), &shared.limits)
    {
        return Err((Answer::error(status, &why), body));
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
    let stem = format!("{}-{n}", std::process::id());
    let read = intake::read_form(body, &boundary, &shared.limits, &shared.uploads_dir, &stem);
    let form = match read.await {
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
