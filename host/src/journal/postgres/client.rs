//! Connections to PostgreSQL: settings every session gets, a connection
//! that reconnects when its server session is gone, prepared statements
//! kept per session, and how PostgreSQL's errors become the journal's.
//!
//! The client is tokio-postgres: the maintained async client of the
//! rust-postgres project (no libpq); futures polled together go out in one
//! write (pipelining), and LISTEN/NOTIFY arrives on the connection's
//! message stream (`listen.rs`).

use crate::journal::JournalError;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

/// A transaction left idle this long is ended by the server: a relive
/// process paused (SIGSTOP) or cut off in the middle of a write must not
/// hold its row locks, or nobody could take its runs over. The writer never
/// waits for anything but the database inside a transaction.
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a statement may run: a journal statement takes milliseconds;
/// one that takes this long meets a lock held by a stuck session.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting may take, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP keepalives notice a dead server (or network) on an idle connection.
const KEEPALIVES_IDLE: Duration = Duration::from_secs(30);

pub(super) type Result<T> = std::result::Result<T, JournalError>;

/// Where the journal lives: the parsed URL, and how it is shown (without
/// its password).
pub(super) struct Target {
    pub config: tokio_postgres::Config,
    pub shown: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target> {
        let shown = redact(url);
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            JournalError::Other(format!(
                "{shown} is not a PostgreSQL URL ({e}); write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
            ))
        })?;
        // No TLS connector is built in: a URL that demands TLS is refused
        // here, by name, rather than by the handshake's "not supported".
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(JournalError::Other(format!(
                "{shown} asks for TLS (sslmode=require), and relive connects to PostgreSQL without TLS; keep the database on a private network or reach it through a TLS tunnel (stunnel, a service mesh, an SSH tunnel), and remove sslmode=require from the URL"
            )));
        }
        if config.get_application_name().is_none() {
            config.application_name("relive");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives_idle(KEEPALIVES_IDLE);
        let ours = format!(
            "-c idle_in_transaction_session_timeout={} -c statement_timeout={}",
            IDLE_IN_TRANSACTION_TIMEOUT.as_millis(),
            STATEMENT_TIMEOUT.as_millis()
        );
        let options = match config.get_options() {
            Some(theirs) if !theirs.is_empty() => format!("{theirs} {ours}"),
            _ => ours,
        };
        config.options(&options);
        Ok(Target { config, shown })
    }

    /// A new session; its connection is driven on the current runtime.
    pub async fn connect(&self) -> Result<Client> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| {
            JournalError::Other(format!(
                "cannot connect to the journal database {}: {}",
                self.shown,
                describe(&e)
            ))
        })?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the session is gone;
            // whoever uses the client then sees it closed.
            let _ = connection.await;
        });
        Ok(client)
    }
}

/// `url` with its password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// A PostgreSQL error as one line: the server's message and SQLSTATE, or
/// the client's error with its cause.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Whether retrying the whole transaction may succeed: a deadlock between
/// two processes' transactions, or a serialization failure.
pub(super) fn is_transient(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

impl From<tokio_postgres::Error> for JournalError {
    fn from(e: tokio_postgres::Error) -> Self {
        JournalError::Database(describe(&e))
    }
}

/// What is known of one session: the statements prepared on it, by SQL
/// text (tokio-postgres keeps none, and a statement given as text costs a
/// second round trip), and whether it was seen to be lost.
#[derive(Default)]
pub(super) struct Statements {
    prepared: Mutex<HashMap<String, Statement>>,
    lost: AtomicBool,
}

/// Whether `e` says the session is gone (closed, reset), not that a
/// statement failed.
pub(super) fn is_lost(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || (e.as_db_error().is_none()
            && std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()))
}

/// A session and its prepared statements, borrowed for one use.
#[derive(Clone, Copy)]
pub(super) struct Db<'a> {
    pub client: &'a Client,
    statements: &'a Statements,
}

impl<'a> Db<'a> {
    pub fn new(client: &'a Client, statements: &'a Statements) -> Db<'a> {
        Db { client, statements }
    }

    /// `sql` prepared on this session (once).
    pub async fn prepare(
        &self,
        sql: &str,
    ) -> std::result::Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.lock().get(sql) {
            return Ok(s.clone());
        }
        let statement = self.check(self.client.prepare(sql).await)?;
        self.lock().insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Statement>> {
        self.statements
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a lost session, so that its next use connects again.
    fn check<T>(
        &self,
        result: std::result::Result<T, tokio_postgres::Error>,
    ) -> std::result::Result<T, tokio_postgres::Error> {
        if let Err(e) = &result
            && is_lost(e)
        {
            self.statements.lost.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Runs statements given as text (no parameters, no results).
    pub async fn batch(&self, sql: &str) -> std::result::Result<(), tokio_postgres::Error> {
        self.check(self.client.batch_execute(sql).await)
    }

    pub async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<u64, tokio_postgres::Error> {
        let statement = self.prepare(sql).await?;
        self.check(self.client.execute(&statement, params).await)
    }

    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.prepare(sql).await?;
        self.check(self.client.query(&statement, params).await)
    }

    pub async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Option<Row>, tokio_postgres::Error> {
        let statement = self.prepare(sql).await?;
        self.check(self.client.query_opt(&statement, params).await)
    }

    pub async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Row, tokio_postgres::Error> {
        let statement = self.prepare(sql).await?;
        self.check(self.client.query_one(&statement, params).await)
    }
}

/// A session that is opened again when the server ended it (a restart, a
/// network cut, a timeout): the next use reconnects.
pub(super) struct Conn {
    target: Arc<Target>,
    client: Option<Client>,
    statements: Statements,
}

impl Conn {
    pub fn new(target: Arc<Target>) -> Conn {
        Conn {
            target,
            client: None,
            statements: Statements::default(),
        }
    }

    pub async fn open(target: Arc<Target>) -> Result<Conn> {
        let mut conn = Conn::new(target);
        conn.db().await?;
        Ok(conn)
    }

    /// The session, connected if it was not (or was lost).
    pub async fn db(&mut self) -> Result<Db<'_>> {
        if self.client.as_ref().is_none_or(Client::is_closed)
            || self.statements.lost.load(Ordering::Relaxed)
        {
            self.client = None;
            self.statements = Statements::default();
            self.client = Some(self.target.connect().await?);
        }
        Ok(Db::new(
            self.client.as_ref().expect("connected above"),
            &self.statements,
        ))
    }
}

/// Bytes of a text column that may hold any text (stored as BYTEA: a
/// PostgreSQL TEXT cannot hold a NUL character, a guest's text can).
pub(super) fn text(row: &Row, column: usize) -> Result<String> {
    let bytes: Vec<u8> = row.try_get(column)?;
    String::from_utf8(bytes).map_err(|e| {
        JournalError::Other(format!(
            "the journal database holds text that is not UTF-8 in column {column}: {e}"
        ))
    })
}

/// Same as [`text`] for a column that may be NULL.
pub(super) fn text_opt(row: &Row, column: usize) -> Result<Option<String>> {
    let bytes: Option<Vec<u8>> = row.try_get(column)?;
    bytes
        .map(|b| {
            String::from_utf8(b).map_err(|e| {
                JournalError::Other(format!(
                    "the journal database holds text that is not UTF-8 in column {column}: {e}"
                ))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::{Target, redact};

    #[test]
    fn a_url_that_demands_tls_is_refused_naming_the_way_out() {
        let Err(e) = Target::parse("postgres://relive:s3cret@db.example/relive?sslmode=require")
        else {
            panic!("sslmode=require must be refused");
        };
        let message = e.to_string();
        assert!(message.contains("without TLS"), "{message}");
        assert!(message.contains("remove sslmode=require"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
        assert!(Target::parse("postgres://relive@db.example/relive?sslmode=disable").is_ok());
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://relive:s3cret@db.example:5432/relive?sslmode=require"),
            "postgres://relive:***@db.example:5432/relive?sslmode=require"
        );
        assert_eq!(
            redact("postgres://relive@db/relive"),
            "postgres://relive@db/relive"
        );
        assert_eq!(redact("postgresql://db/x"), "postgresql://db/x");
    }
}
