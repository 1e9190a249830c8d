//! Who may use the web app: a browser that opened the one-time link `nightshift open` printed
//! (it then holds a session cookie), or a script with the daemon's bearer token.
//!
//! Why a one-time link: the daemon listens on loopback, where any local web page could reach it.
//! The link's code is a file only the home's owner can write (`<run>/web-codes/CODE`); the
//! daemon trades it, once and within `CODE_LIFETIME`, for a random session id kept in memory.
//! The cookie is `HttpOnly; SameSite=Strict`, and every request that carries an `Origin` must
//! come from the app's own origin, so a page elsewhere can neither read nor change anything.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use hyper::HeaderMap;
use hyper::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};

use super::super::http::is_loopback_host;

/// How long a link from `nightshift open` can be opened.
pub const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Sessions open at once; the oldest are forgotten beyond this (each `open` makes one).
const MAX_SESSIONS: usize = 64;

/// Where `nightshift open` leaves codes for the daemon of `run`.
pub fn codes_dir(run: &Path) -> PathBuf {
    run.join("web-codes")
}

/// `n` random bytes as lowercase hex, from the kernel.
pub fn random_hex(n: usize) -> std::io::Result<String> {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Leave a new one-time code for the daemon (mode 0600) and return it.
pub fn new_code(run: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = codes_dir(run);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let code = random_hex(24)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(&code))?;
    Ok(code)
}

pub struct Sessions {
    codes: PathBuf,
    cookie: String,
    live: Mutex<Vec<String>>,
}

impl Sessions {
    /// Sessions of the daemon whose run directory is `run`, listening on `port` (the cookie's
    /// name carries the port: cookies are shared by every port of a host).
    pub fn new(run: &Path, port: u16) -> Sessions {
        Sessions {
            codes: codes_dir(run),
            cookie: format!("nightshift_session_{port}"),
            live: Mutex::new(Vec::new()),
        }
    }

    /// Trade a one-time code for a new session id (None: unknown, used or expired code).
    pub fn redeem(&self, code: &str) -> Option<String> {
        if code.len() != 48 || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let path = self.codes.join(code);
        let made = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        // Removing it is what makes it single-use: of two requests, one remove succeeds.
        std::fs::remove_file(&path).ok()?;
        let age = SystemTime::now().duration_since(made).unwrap_or_default();
        if age > CODE_LIFETIME {
            return None;
        }
        let id = random_hex(32).ok()?;
        let mut live = self.live.lock().ok()?;
        live.push(id.clone());
        let excess = live.len().saturating_sub(MAX_SESSIONS);
        live.drain(..excess);
        Some(id)
    }

    /// Remove codes nobody opened in time.
    pub fn sweep_codes(&self) {
        let Ok(entries) = std::fs::read_dir(&self.codes) else {
            return;
        };
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > CODE_LIFETIME);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// The `Set-Cookie` value for a new session.
    pub fn set_cookie(&self, id: &str) -> String {
        format!("{}={id}; Path=/; HttpOnly; SameSite=Strict", self.cookie)
    }

    /// Whether the request carries a live session cookie.
    pub fn has_session(&self, headers: &HeaderMap) -> bool {
        let Ok(live) = self.live.lock() else {
            return false;
        };
        let live: HashSet<&str> = live.iter().map(String::as_str).collect();
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .any(|(k, v)| k == self.cookie && live.contains(v))
    }
}

/// Why the web app refuses a request.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// Another site's page, or a foreign Host (DNS rebinding).
    Foreign(String),
    /// No session and no token: the app must be opened with `nightshift open`.
    SignedOut,
}

/// The web app's rule: a loopback Host (unless remote access was allowed), an `Origin` — when
/// the browser sends one — equal to the app's own, and a session cookie or the bearer token.
pub fn check(
    headers: &HeaderMap,
    loopback_only: bool,
    token: Option<&str>,
    sessions: &Sessions,
) -> Result<(), Refusal> {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if loopback_only && !host.is_empty() && !is_loopback_host(host) {
        return Err(Refusal::Foreign(format!(
            "Host {host:?} is not a loopback address"
        )));
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = String::from_utf8_lossy(origin.as_bytes());
        if host.is_empty() || origin != format!("http://{host}") {
            return Err(Refusal::Foreign(format!(
                "requests from other sites ({origin}) are refused"
            )));
        }
    }
    let bearer = token.is_some_and(|t| {
        headers
            .get_all(AUTHORIZATION)
            .iter()
            .any(|h| h.as_bytes().strip_prefix(b"Bearer ") == Some(t.as_bytes()))
    });
    if bearer || sessions.has_session(headers) {
        Ok(())
    } else {
        Err(Refusal::SignedOut)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::http::tests::headers;
    use super::*;

    #[test]
    fn a_code_opens_one_session_once() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::new(dir.path(), 8080);
        let code = new_code(dir.path()).unwrap();
        assert_eq!(sessions.redeem("../../etc/passwd"), None);
        let id = sessions.redeem(&code).unwrap();
        assert_eq!(sessions.redeem(&code), None, "a code works once");
        let cookie = format!("other=1; nightshift_session_8080={id}");
        let h = headers(&[("host", "127.0.0.1:8080"), ("cookie", &cookie)]);
        assert_eq!(check(&h, true, None, &sessions), Ok(()));
        let wrong = headers(&[
            ("host", "127.0.0.1:8080"),
            ("cookie", "nightshift_session_8080=00"),
        ]);
        assert_eq!(
            check(&wrong, true, None, &sessions),
            Err(Refusal::SignedOut)
        );
        // The same cookie under another port's name is not this daemon's.
        let other_port = format!("nightshift_session_9090={id}");
        let h = headers(&[("host", "127.0.0.1:8080"), ("cookie", &other_port)]);
        assert_eq!(check(&h, true, None, &sessions), Err(Refusal::SignedOut));
    }

    #[test]
    fn other_sites_and_foreign_hosts_are_refused_even_with_a_session() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::new(dir.path(), 8080);
        let id = sessions.redeem(&new_code(dir.path()).unwrap()).unwrap();
        let cookie = format!("nightshift_session_8080={id}");
        let own = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("cookie", &cookie),
        ]);
        assert_eq!(check(&own, true, None, &sessions), Ok(()));
        for (host, origin) in [
            ("127.0.0.1:8080", "http://127.0.0.1:9999"),
            ("127.0.0.1:8080", "http://evil.example"),
            ("127.0.0.1:8080", "null"),
            ("evil.example:8080", "http://evil.example:8080"),
        ] {
            let h = headers(&[("host", host), ("origin", origin), ("cookie", &cookie)]);
            assert!(
                matches!(check(&h, true, None, &sessions), Err(Refusal::Foreign(_))),
                "{host} {origin}"
            );
        }
    }

    #[test]
    fn a_bearer_token_works_without_a_session() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::new(dir.path(), 1);
        let h = headers(&[("host", "localhost:1"), ("authorization", "Bearer t")]);
        assert_eq!(check(&h, true, Some("t"), &sessions), Ok(()));
        assert_eq!(
            check(&h, true, Some("u"), &sessions),
            Err(Refusal::SignedOut)
        );
        assert_eq!(check(&h, true, None, &sessions), Err(Refusal::SignedOut));
    }

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "127.0.0.1:80", "localhost:1", "[::1]:8", "::1"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["evil.example", "127.0.0.2:1", "localhost.evil:1", "[::2]:1"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
