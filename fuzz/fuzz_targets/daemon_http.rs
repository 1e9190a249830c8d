//! Bytes from a client, as `nightshift serve` reads them on a connection: hyper's HTTP/1.1
//! parser with the daemon's limits, the request guard, and the transcription upload streamed
//! to disk (`nightshift-intake`), everything the daemon does before a model sees the file.
//! Besides "no panic, no hang": every answer is a 2xx or 4xx, a stored upload is non-empty and
//! within the limit, and nothing is left in the uploads directory.
#![no_main]

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use libfuzzer_sys::fuzz_target;
use nightshift_intake::{Guard, Limits, drain, form, read_form};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMITS: Limits = Limits {
    max_upload: 16 * 1024,
    body_idle: Duration::from_secs(1),
    max_field: 256,
};

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    static DIR: PathBuf = {
        let d = std::env::temp_dir().join(format!("nightshift-fuzz-http-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("the uploads directory");
        d
    };
}

fuzz_target!(|data: &[u8]| {
    let dir = DIR.with(Clone::clone);
    RT.with(|rt| rt.block_on(connection(data.to_vec(), dir.clone())));
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "uploads left behind: {left:?}");
});

/// One connection: the client writes `data` and closes its side while reading the answers.
async fn connection(data: Vec<u8>, dir: PathBuf) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let service = hyper::service::service_fn(move |req| {
        let dir = dir.clone();
        async move { Ok::<_, Infallible>(handle(req, &dir).await) }
    });
    // The daemon's connection settings (`crates/cli/src/daemon/server.rs`).
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(1))
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(server), service);
    let (mut rd, mut wr) = tokio::io::split(client);
    let write = async move {
        let _ = wr.write_all(&data).await;
        let _ = wr.shutdown().await;
    };
    let read = async move {
        let mut out = Vec::new();
        let _ = rd.read_to_end(&mut out).await;
        out
    };
    let (_, _, answers) = tokio::join!(conn, write, read);
    check_answers(&answers);
}

/// Every status line hyper wrote is 2xx or 4xx (a 5xx would be the daemon failing).
fn check_answers(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for line in text.split("\r\n").filter(|l| l.starts_with("HTTP/1.")) {
        let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!(
            (200..300).contains(&status) || (400..500).contains(&status),
            "answered {line:?}"
        );
    }
}

/// The daemon's API path up to the model: guard, route, declared length, form.
async fn handle(req: Request<Incoming>, dir: &Path) -> Response<Full<Bytes>> {
    let (head, body) = req.into_parts();
    let guard = Guard {
        loopback_only: true,
        token: None,
    };
    let refused = match guard.check(&head.headers) {
        Err((status, _)) => Some(status),
        Ok(()) if (head.method != Method::POST || head.uri.path() != "/v1/audio/transcriptions") => {
            Some(404)
        }
        Ok(()) => form::check_declared_length(head.headers.get(hyper::header::CONTENT_LENGTH), &LIMITS)
            .err()
            .map(|(s, _)| s),
    };
    if let Some(status) = refused {
        drain(body, 64 * 1024, Duration::from_millis(100)).await;
        return answer(status, true);
    }
    let ctype = head
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Ok(boundary) = multer::parse_boundary(ctype) else {
        drain(body, 64 * 1024, Duration::from_millis(100)).await;
        return answer(400, true);
    };
    match read_form(body, &boundary, &LIMITS, dir, "upload").await {
        Ok(form) => {
            let len = std::fs::metadata(&form.upload).map(|m| m.len()).unwrap_or(0);
            assert!(
                len > 0 && len <= LIMITS.max_upload,
                "stored upload of {len} bytes"
            );
            assert!(form.upload.starts_with(dir), "{:?} outside the uploads", form.upload);
            assert!(form::RESPONSE_FORMATS.contains(&form.response_format.as_str()));
            std::fs::remove_file(&form.upload).unwrap();
            answer(200, false)
        }
        Err((status, why)) => {
            assert!((400..500).contains(&status), "{status} {why}");
            answer(status, true)
        }
    }
}

fn answer(status: u16, close: bool) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    if close {
        r.headers_mut()
            .insert(hyper::header::CONNECTION, "close".parse().unwrap());
    }
    r
}
