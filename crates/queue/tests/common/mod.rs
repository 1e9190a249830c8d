#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nightshift_core::TaskType;
use nightshift_queue::{Clock, DbUrl, NewJob, NewMeeting, Queue, QueueOptions};
use tempfile::TempDir;

/// The backends every queue test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// Where the tests' PostgreSQL server is: a URL to a database the tests may create databases
/// from. `./scripts/test.sh` starts a throwaway cluster and sets it.
pub const TEST_PG_ENV: &str = "NIGHTSHIFT_TEST_PG";

/// A fresh, empty queue database of one kind, removed when dropped.
pub struct TestDb {
    pub url: DbUrl,
    pub dir: TempDir,
    /// (admin URL, database name) of a PostgreSQL database to drop.
    pg: Option<(String, String)>,
}

impl TestDb {
    pub fn new(kind: Kind) -> TestDb {
        let dir = TempDir::new().unwrap();
        match kind {
            Kind::Sqlite => TestDb {
                url: DbUrl::Sqlite(dir.path().join("nightshift.db")),
                dir,
                pg: None,
            },
            Kind::Postgres => {
                let admin = pg_admin_url();
                static N: AtomicU64 = AtomicU64::new(0);
                let name = format!(
                    "ns_test_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                );
                let mut c = postgres::Client::connect(&admin, postgres::NoTls)
                    .unwrap_or_else(|e| panic!("{TEST_PG_ENV}: cannot connect: {e}"));
                c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
                TestDb {
                    url: DbUrl::Postgres(admin.clone()).with_database(&name).unwrap(),
                    dir,
                    pg: Some((admin, name)),
                }
            }
        }
    }

    pub fn open(&self, clock: &ManualClock) -> Queue {
        Queue::open_with(&self.url, QueueOptions::default(), clock.clock()).expect("open queue")
    }

    /// One integer from a query, read behind the queue's back.
    pub fn query_i64(&self, sql: &str) -> i64 {
        match &self.url {
            DbUrl::Sqlite(p) => rusqlite::Connection::open(p)
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            DbUrl::Postgres(u) => postgres::Client::connect(u, postgres::NoTls)
                .unwrap()
                .query_one(sql, &[])
                .unwrap()
                .get(0),
        }
    }

    /// Run SQL behind the queue's back (to plant bad rows).
    pub fn exec_raw(&self, sql: &str) {
        match &self.url {
            DbUrl::Sqlite(p) => {
                rusqlite::Connection::open(p)
                    .unwrap()
                    .execute_batch(sql)
                    .unwrap();
            }
            DbUrl::Postgres(u) => {
                postgres::Client::connect(u, postgres::NoTls)
                    .unwrap()
                    .batch_execute(sql)
                    .unwrap();
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut c) = postgres::Client::connect(admin, postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// The tests' PostgreSQL URL; a test that needs it fails (never skips) without it.
pub fn pg_admin_url() -> String {
    std::env::var(TEST_PG_ENV).unwrap_or_else(|_| {
        panic!(
            "{TEST_PG_ENV} is not set: the PostgreSQL backend tests need a server. \
             Run ./scripts/test.sh (it starts a throwaway cluster), or \
             `eval \"$(./scripts/test-postgres.sh start)\"` first."
        )
    })
}

/// Generate one `#[test]` per backend for each named `fn(Kind)`: `sqlite::NAME` and
/// `postgres::NAME`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::common::Kind::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::common::Kind::Postgres) } )*
        }
    };
}

/// A clock the test moves by hand.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn at(t: f64) -> ManualClock {
        let c = ManualClock::default();
        c.set(t);
        c
    }
    pub fn set(&self, t: f64) {
        self.0.store(t.to_bits(), Ordering::SeqCst);
    }
    pub fn advance(&self, dt: f64) {
        self.set(self.now() + dt);
    }
    pub fn now(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::SeqCst))
    }
    pub fn clock(&self) -> Clock {
        let me = self.clone();
        Arc::new(move || me.now())
    }
}

pub fn open_manual(path: &Path, clock: &ManualClock) -> Queue {
    Queue::open_with(path, QueueOptions::default(), clock.clock()).expect("open queue")
}

pub fn meeting(id: &str) -> NewMeeting {
    NewMeeting {
        meeting_id: id.to_string(),
        title: format!("meeting {id}"),
        source_path: format!("/inputs/{id}.wav"),
        source_sha256: format!("sha-{id}"),
        kind: "audio".into(),
        duration_s: 60.0,
        info: serde_json::json!({}),
    }
}

pub fn audio_jobs(n: usize) -> Vec<NewJob> {
    (0..n)
        .map(|i| NewJob {
            seq: i as i64,
            chunk_path: Some(format!("chunk-{i}.flac")),
            model_key: Some("whisper:tiny.en".into()),
            ..NewJob::new(TaskType::Audio)
        })
        .collect()
}
