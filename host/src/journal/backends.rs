//! The journal's tests run against both backends: [`both!`] makes one test
//! per backend from one body, each on a fresh journal — a new SQLite file,
//! or a new schema in the throw-away PostgreSQL cluster of this test binary
//! (`postgres/throwaway.rs`; `RELIVE_TEST_PG_URL` names a server to use
//! instead).

use super::postgres::{PgJournal, throwaway};
use super::sqlite::SqliteJournal;
use super::{Journal, Location, NewRun, SyncPolicy};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh journal for one test.
pub(crate) struct TestJournal {
    pub backend: Backend,
    pub location: Location,
    pub journal: Arc<dyn Journal>,
    concrete: Concrete,
    _dir: tempfile::TempDir,
}

enum Concrete {
    Sqlite(Arc<SqliteJournal>),
    Postgres(Arc<PgJournal>),
}

impl std::ops::Deref for TestJournal {
    type Target = dyn Journal;
    fn deref(&self) -> &(dyn Journal + 'static) {
        &*self.journal
    }
}

/// A location no other test uses.
pub(crate) fn fresh_location(backend: Backend, dir: &std::path::Path, test: &str) -> Location {
    static N: AtomicUsize = AtomicUsize::new(0);
    match backend {
        Backend::Sqlite => Location::Sqlite(dir.join("j.db")),
        Backend::Postgres => {
            let server = throwaway::shared().unwrap_or_else(|e| panic!("{e}"));
            let n = N.fetch_add(1, Ordering::Relaxed);
            let name = format!("t{}_{n}_{}", std::process::id(), test.to_lowercase());
            let name: String = name.chars().take(60).collect();
            Location::Postgres(
                throwaway::schema_url(&server, &name).unwrap_or_else(|e| panic!("{e}")),
            )
        }
    }
}

impl TestJournal {
    pub fn new(backend: Backend, test: &str) -> TestJournal {
        TestJournal::with(backend, test, SyncPolicy::Critical)
    }

    pub fn with(backend: Backend, test: &str, sync: SyncPolicy) -> TestJournal {
        let dir = tempfile::tempdir().unwrap();
        let location = fresh_location(backend, dir.path(), test);
        let concrete = open(&location, sync);
        let journal: Arc<dyn Journal> = match &concrete {
            Concrete::Sqlite(j) => j.clone(),
            Concrete::Postgres(j) => j.clone(),
        };
        TestJournal {
            backend,
            location,
            journal,
            concrete,
            _dir: dir,
        }
    }

    /// Closes the journal; returns its location and the folder that holds
    /// it (for a look at the SQLite file once nothing has it open).
    pub fn close(self) -> (Location, tempfile::TempDir) {
        let TestJournal {
            location,
            journal,
            concrete,
            _dir,
            ..
        } = self;
        drop(journal);
        drop(concrete);
        (location, _dir)
    }

    /// The integer a query answers, asked of the storage directly.
    pub fn scalar(&self, sql: &str) -> i64 {
        match &self.location {
            Location::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.query_row(sql, [], |r| r.get(0)).unwrap()
            }
            Location::Postgres(url) => {
                let row = pg(url, format!("SELECT ({sql})::bigint"), true);
                row.unwrap().unwrap()
            }
        }
    }

    /// Runs `sql` (statements) on the PostgreSQL database directly.
    pub fn pg_execute(&self, sql: &str) -> Result<(), String> {
        let Location::Postgres(url) = &self.location else {
            panic!("not a PostgreSQL journal");
        };
        pg(url, sql.to_string(), false).map(drop)
    }

    /// Stops the writer, as a crash of it would.
    pub fn kill_writer(&self) {
        match &self.concrete {
            Concrete::Sqlite(j) => j.kill_writer(),
            Concrete::Postgres(j) => j.kill_writer(),
        }
    }

    /// Creates run `id` (component `sha256:c`), unleased.
    pub fn new_run(&self, id: &str) {
        self.put_component("sha256:c", b"bytes")
            .wait_blocking()
            .unwrap();
        self.create_run(NewRun {
            id: id.into(),
            agent: "a".into(),
            component_digest: "sha256:c".into(),
            input: "in".into(),
            config_path: None,
            policy: None,
            parent: None,
            lease: None,
        })
        .wait_blocking()
        .unwrap();
    }
}

fn open(location: &Location, sync: SyncPolicy) -> Concrete {
    match location {
        Location::Sqlite(path) => {
            Concrete::Sqlite(Arc::new(SqliteJournal::open(path, sync).unwrap()))
        }
        Location::Postgres(url) => {
            Concrete::Postgres(Arc::new(PgJournal::open(url, sync, true).unwrap()))
        }
    }
}

/// Runs `sql` on a session of its own (on a thread of its own: the caller
/// may be in a runtime); with `scalar`, returns the first column of its
/// one row.
fn pg(url: &str, sql: String, scalar: bool) -> Result<Option<i64>, String> {
    let url = url.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            if scalar {
                let row = client
                    .query_one(&sql, &[])
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                Ok(Some(row.get::<_, i64>(0)))
            } else {
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                Ok(None)
            }
        })
    })
    .join()
    .unwrap()
}

/// One test per backend from one body: `both!(fn name(j) { ... })` makes
/// `name::sqlite` and `name::postgres`, each given a fresh [`TestJournal`].
macro_rules! both {
    ($(#[$meta:meta])* fn $name:ident($j:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::journal::backends::{Backend, TestJournal};

            fn body($j: TestJournal) $body

            #[test]
            fn sqlite() {
                body(TestJournal::new(Backend::Sqlite, stringify!($name)));
            }

            #[test]
            fn postgres() {
                body(TestJournal::new(Backend::Postgres, stringify!($name)));
            }
        }
    };
}

pub(crate) use both;
