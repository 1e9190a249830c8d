//! Where a queue lives: `sqlite:PATH` (the embedded default, a file in the home) or
//! `postgres://…` (one database many machines share).

use std::fmt;
use std::path::{Path, PathBuf};

/// A queue location. Shown to users without any password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    /// A libpq-style URL (`postgres://user:pass@host:port/db?…` or `postgresql://…`).
    Postgres(String),
}

impl DbUrl {
    /// Parse `sqlite:PATH`, `sqlite://PATH`, `postgres://…` or `postgresql://…`; a bare path is
    /// a SQLite file. `Err` carries a sentence for the user.
    pub fn parse(text: &str) -> Result<DbUrl, String> {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(text.to_string()));
        }
        if let Some(rest) = text.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(format!(
                    "{text:?}: a sqlite URL needs a file path (sqlite:PATH)"
                ));
            }
            return Ok(DbUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "{scheme}: unknown database scheme (use sqlite:PATH or postgres://…)"
            ));
        }
        if text.is_empty() {
            return Err("empty database URL (use sqlite:PATH or postgres://…)".to_string());
        }
        Ok(DbUrl::Sqlite(PathBuf::from(text)))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DbUrl::Postgres(_))
    }

    /// The same PostgreSQL server and credentials with another database name (`None` for
    /// SQLite).
    pub fn with_database(&self, name: &str) -> Option<DbUrl> {
        let DbUrl::Postgres(url) = self else {
            return None;
        };
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (url.as_str(), String::new()),
        };
        let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
        let base = match base[after_scheme..].find('/') {
            Some(i) => &base[..after_scheme + i],
            None => base,
        };
        Some(DbUrl::Postgres(format!("{base}/{name}{query}")))
    }

    /// The URL with its password, for handing to a child process (never for display).
    pub fn to_secret_string(&self) -> String {
        match self {
            DbUrl::Sqlite(p) => format!("sqlite:{}", p.display()),
            DbUrl::Postgres(u) => u.clone(),
        }
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            DbUrl::Sqlite(p) => Some(p),
            DbUrl::Postgres(_) => None,
        }
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::Sqlite(p) => write!(f, "{}", p.display()),
            DbUrl::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl From<&Path> for DbUrl {
    fn from(p: &Path) -> DbUrl {
        DbUrl::Sqlite(p.to_path_buf())
    }
}

impl From<PathBuf> for DbUrl {
    fn from(p: PathBuf) -> DbUrl {
        DbUrl::Sqlite(p)
    }
}

impl From<&PathBuf> for DbUrl {
    fn from(p: &PathBuf) -> DbUrl {
        DbUrl::Sqlite(p.clone())
    }
}

impl From<&DbUrl> for DbUrl {
    fn from(u: &DbUrl) -> DbUrl {
        u.clone()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; a `password=` query
/// parameter is masked too.
fn redact_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail: Vec<String> = tail
        .split('&')
        .map(|kv| match kv.split_once("password=") {
            Some((before, _)) => format!("{before}password=***"),
            None => kv.to_string(),
        })
        .collect();
    format!("{scheme}://{authority}{}", tail.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_passwords_never_show() {
        assert_eq!(
            DbUrl::parse("sqlite:/h/nightshift.db").unwrap(),
            DbUrl::Sqlite("/h/nightshift.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite:///h/x.db").unwrap(),
            DbUrl::Sqlite("/h/x.db".into())
        );
        assert_eq!(
            DbUrl::parse("rel.db").unwrap(),
            DbUrl::Sqlite("rel.db".into())
        );
        assert!(DbUrl::parse("mysql://x").is_err());
        assert!(DbUrl::parse("sqlite:").is_err());
        let pg =
            DbUrl::parse("postgres://ns:s3cret@db.lan:5432/nightshift?sslmode=disable").unwrap();
        assert!(pg.is_postgres());
        assert_eq!(
            pg.to_string(),
            "postgres://ns:***@db.lan:5432/nightshift?sslmode=disable"
        );
        let q = DbUrl::parse("postgresql://h/db?user=a&password=pw").unwrap();
        assert_eq!(q.to_string(), "postgresql://h/db?user=a&password=***");
        assert_eq!(
            pg.with_database("other").unwrap().to_secret_string(),
            "postgres://ns:s3cret@db.lan:5432/other?sslmode=disable"
        );
        assert_eq!(
            DbUrl::parse("postgres://h:5432")
                .unwrap()
                .with_database("x")
                .unwrap(),
            DbUrl::Postgres("postgres://h:5432/x".into())
        );
    }
}
