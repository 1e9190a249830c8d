//! The daemon's HTTP pieces: multipart/form-data parsing (OpenAI's transcription upload),
//! building one for the client, the loopback-only request guard, and JSON responses.

use std::io::Cursor;

use serde_json::Value;

/// One field of a multipart form.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// Parse a `multipart/form-data` body given its Content-Type header.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or("Content-Type is not multipart/form-data with a boundary")?;
    let delim = format!("--{boundary}");
    let next_delim = format!("\r\n--{boundary}");
    let mut pos =
        find(body, delim.as_bytes(), 0).ok_or("no multipart boundary in the body")? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            break; // closing delimiter
        }
        pos = skip_crlf(body, pos);
        let head_end = find(body, b"\r\n\r\n", pos).ok_or("a multipart part has no header end")?;
        let head = String::from_utf8_lossy(&body[pos..head_end]).into_owned();
        let data_start = head_end + 4;
        let data_end = find(body, next_delim.as_bytes(), data_start)
            .ok_or("a multipart part is not closed")?;
        let (name, filename) = disposition(&head).ok_or("a multipart part has no name")?;
        parts.push(Part {
            name,
            filename,
            data: body[data_start..data_end].to_vec(),
        });
        pos = data_end + next_delim.len();
        if pos >= body.len() {
            break;
        }
    }
    Ok(parts)
}

fn skip_crlf(body: &[u8], pos: usize) -> usize {
    if body[pos..].starts_with(b"\r\n") {
        pos + 2
    } else {
        pos
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// `name` and `filename` of a part's Content-Disposition.
fn disposition(head: &str) -> Option<(String, Option<String>)> {
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    let value = |key: &str| {
        line.split(';').map(str::trim).find_map(|p| {
            p.strip_prefix(&format!("{key}="))
                .map(|v| v.trim_matches('"').to_string())
        })
    };
    Some((value("name")?, value("filename")))
}

/// A multipart body with text fields and one file; returns (content type, body).
pub fn build_multipart(fields: &[(&str, &str)], file_name: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("nightshift-{:016x}", rand_u64());
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            file_name.replace('"', "_")
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Who may talk to the daemon. Requests from a browser page (an `Origin` header) are always
/// refused: a web page can POST a multipart form to 127.0.0.1 without a preflight. On loopback,
/// a `Host` that is not a loopback name is refused too (DNS rebinding). A token, when set, is
/// required as `Authorization: Bearer TOKEN`.
pub struct Guard {
    pub loopback_only: bool,
    pub token: Option<String>,
}

impl Guard {
    pub fn check(&self, req: &tiny_http::Request) -> Result<(), (u16, String)> {
        let mut authorized = self.token.is_none();
        for h in req.headers() {
            if h.field.equiv("Origin") {
                return Err((
                    403,
                    "requests from web pages (Origin header) are refused".into(),
                ));
            }
            if h.field.equiv("Host") && self.loopback_only {
                let host = h.value.as_str();
                let name = host
                    .rsplit_once(':')
                    .map_or(host, |(n, _)| n)
                    .trim_matches(['[', ']']);
                if !matches!(name, "127.0.0.1" | "localhost" | "::1") {
                    return Err((403, format!("Host {host} is not a loopback address")));
                }
            }
            if h.field.equiv("Authorization")
                && let Some(t) = &self.token
                && h.value.as_str().strip_prefix("Bearer ") == Some(t.as_str())
            {
                authorized = true;
            }
        }
        if authorized {
            Ok(())
        } else {
            Err((401, "missing or wrong bearer token".into()))
        }
    }
}

pub fn json(status: u16, v: &Value) -> tiny_http::Response<Cursor<Vec<u8>>> {
    with_type(status, v.to_string(), "application/json")
}

pub fn error(status: u16, message: &str) -> tiny_http::Response<Cursor<Vec<u8>>> {
    json(status, &serde_json::json!({"error": {"message": message}}))
}

pub fn with_type(status: u16, body: String, ctype: &str) -> tiny_http::Response<Cursor<Vec<u8>>> {
    tiny_http::Response::from_data(body.into_bytes())
        .with_status_code(status)
        .with_header(
            tiny_http::Header::from_bytes(&b"Content-Type"[..], ctype.as_bytes())
                .expect("static header"),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_form_parses_back() {
        let (ct, body) = build_multipart(
            &[("model", "whisper-1"), ("response_format", "verbose_json")],
            "clip.wav",
            b"RIFF\r\n--not a boundary\r\n\x00\xff",
        );
        let parts = parse_multipart(&ct, &body).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, "model");
        assert_eq!(parts[0].data, b"whisper-1");
        assert_eq!(parts[2].filename.as_deref(), Some("clip.wav"));
        assert_eq!(parts[2].data, b"RIFF\r\n--not a boundary\r\n\x00\xff");
    }

    #[test]
    fn a_body_without_a_boundary_is_an_error() {
        assert!(parse_multipart("application/json", b"{}").is_err());
        assert!(parse_multipart("multipart/form-data; boundary=x", b"garbage").is_err());
    }
}
