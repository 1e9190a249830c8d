//! The daemon's HTTP pieces that need no network: the request guard (from `nightshift-intake`,
//! with the upload form reader), and the answers (status, type, body) handlers produce.

use serde_json::Value;

pub use nightshift_intake::{Guard, is_loopback_host};

/// One HTTP answer, built by handlers and the model thread, turned into a response by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Close the connection after answering (the request's body may be unread).
    pub close: bool,
    /// More response headers (lowercase names): `set-cookie`, `location`, `content-range`, …
    pub headers: Vec<(String, String)>,
    /// Stream these bytes of a file as the body instead of `body` (media for the web app).
    pub file: Option<FileSlice>,
}

/// Bytes `start..start + len` of a file, streamed by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSlice {
    pub path: std::path::PathBuf,
    pub start: u64,
    pub len: u64,
}

impl Answer {
    pub fn json(status: u16, v: &Value) -> Answer {
        Answer::with_type(status, v.to_string(), "application/json")
    }

    pub fn error(status: u16, message: &str) -> Answer {
        Answer::json(status, &serde_json::json!({"error": {"message": message}}))
    }

    pub fn with_type(status: u16, body: String, content_type: &str) -> Answer {
        Answer {
            status,
            content_type: content_type.to_string(),
            body: body.into_bytes(),
            close: false,
            headers: Vec::new(),
            file: None,
        }
    }

    /// A `303 See Other` to `location` (after a form is handled).
    pub fn redirect(location: &str) -> Answer {
        let mut a = Answer::with_type(303, String::new(), "text/plain; charset=utf-8");
        a.headers.push(("location".into(), location.to_string()));
        a
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hyper::HeaderMap;

    #[test]
    fn a_built_form_parses_back() {
        let (ct, body) = nightshift_pipeline::session::client::build_multipart(
            &[("model", "whisper-1"), ("response_format", "verbose_json")],
            "clip.wav",
            b"RIFF\r\n--not a boundary\r\n\x00\xff",
        );
        let boundary = multer::parse_boundary(&ct).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let parts = rt.block_on(async {
            let stream = futures_util::stream::once(async move {
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(body))
            });
            let mut form = multer::Multipart::new(stream, boundary);
            let mut parts = Vec::new();
            while let Some(field) = form.next_field().await.unwrap() {
                let name = field.name().unwrap().to_string();
                let file_name = field.file_name().map(str::to_string);
                parts.push((name, file_name, field.bytes().await.unwrap().to_vec()));
            }
            parts
        });
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].0, "model");
        assert_eq!(parts[0].2, b"whisper-1");
        assert_eq!(parts[2].1.as_deref(), Some("clip.wav"));
        assert_eq!(parts[2].2, b"RIFF\r\n--not a boundary\r\n\x00\xff");
    }

    pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_guard_refuses_pages_foreign_hosts_and_missing_tokens() {
        let open = Guard {
            loopback_only: true,
            token: None,
        };
        assert!(open.check(&headers(&[("host", "127.0.0.1:9")])).is_ok());
        assert!(open.check(&headers(&[("host", "[::1]:9")])).is_ok());
        assert!(open.check(&headers(&[("host", "localhost")])).is_ok());
        assert_eq!(
            open.check(&headers(&[("host", "evil.example:9")]))
                .unwrap_err()
                .0,
            403
        );
        assert!(open.check(&headers(&[])).is_ok());
        let page = headers(&[("host", "127.0.0.1"), ("origin", "http://x")]);
        assert_eq!(open.check(&page).unwrap_err().0, 403);
        let locked = Guard {
            loopback_only: true,
            token: Some("t".into()),
        };
        assert_eq!(
            locked
                .check(&headers(&[("host", "localhost")]))
                .unwrap_err()
                .0,
            401
        );
        let wrong = headers(&[("host", "localhost"), ("authorization", "Bearer u")]);
        assert_eq!(locked.check(&wrong).unwrap_err().0, 401);
        let right = headers(&[("host", "localhost"), ("authorization", "Bearer t")]);
        assert!(locked.check(&right).is_ok());
    }
}
