//! Who may talk to the daemon's API.

use hyper::HeaderMap;

/// Requests from a browser page (an `Origin` header) are always refused: a web page can POST a
/// multipart form to 127.0.0.1 without a preflight. On loopback, a `Host` that is not a
/// loopback name is refused too (DNS rebinding). A token, when set, is required as
/// `Authorization: Bearer TOKEN`.
pub struct Guard {
    pub loopback_only: bool,
    pub token: Option<String>,
}

impl Guard {
    /// `Err((status, why))` for a request that may not pass.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), (u16, String)> {
        if headers.contains_key(hyper::header::ORIGIN) {
            return Err((
                403,
                "requests from web pages (Origin header) are refused".into(),
            ));
        }
        // A browser always sends Host; a request without one (HTTP/1.0) is no rebinding attempt.
        if self.loopback_only
            && let Some(host) = headers.get(hyper::header::HOST)
        {
            let host = String::from_utf8_lossy(host.as_bytes()).into_owned();
            if !is_loopback_host(&host) {
                return Err((403, format!("Host {host:?} is not a loopback address")));
            }
        }
        let authorized = match &self.token {
            None => true,
            Some(t) => headers
                .get_all(hyper::header::AUTHORIZATION)
                .iter()
                .any(|h| h.as_bytes().strip_prefix(b"Bearer ") == Some(t.as_bytes())),
        };
        if authorized {
            Ok(())
        } else {
            Err((401, "missing or wrong bearer token".into()))
        }
    }
}

/// Whether a `Host` header names this machine's loopback (`127.0.0.1`, `localhost`, `::1`,
/// with or without a port; IPv6 in brackets).
pub fn is_loopback_host(host: &str) -> bool {
    let name = host
        .rsplit_once(':')
        .filter(|(n, _)| !n.ends_with(':'))
        .map_or(host, |(n, _)| n)
        .trim_matches(['[', ']']);
    matches!(name, "127.0.0.1" | "localhost" | "::1")
}
