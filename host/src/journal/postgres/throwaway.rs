//! A throw-away PostgreSQL cluster, for relive's own tests and benchmarks
//! (and to try the PostgreSQL journal without installing a server): initdb
//! in a temporary directory, the server on 127.0.0.1 at a free port, its
//! socket in the same directory; stopped and removed when dropped, or when
//! the process that started it ends, however it ends.
//!
//! - The binaries are those of `$PG_BIN`, else the newest
//!   `/usr/lib/postgresql/NN/bin` (Debian's packages), else `PATH`.
//! - As root, initdb and the server run as the user `postgres` (else
//!   `nobody`): PostgreSQL refuses to run as root.
//! - A small watchdog shell starts the server and holds the read end of a
//!   pipe whose write end only this process holds: when this process exits
//!   (a SIGKILL included) the pipe closes, and the watchdog stops the
//!   server (fast shutdown) and removes the directory.
//! - [`shared`] starts one cluster per process, for every test of a test
//!   binary; [`Cluster::schema_url`] gives each test a schema of its own
//!   (0.05 s, where a database costs 0.3 s).
//! - `RELIVE_TEST_PG_URL` names a server to use instead (CI may start one
//!   with `scripts/pg-throwaway.sh`): [`shared`] then starts nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long starting a cluster may take (initdb and start, on a loaded
/// machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running throw-away cluster.
pub struct Cluster {
    /// The temporary directory (data, socket, log); removed at the end.
    pub dir: PathBuf,
    pub port: u16,
    /// The server's superuser (trust authentication on 127.0.0.1).
    url: String,
    /// The watchdog; closing its stdin stops the cluster.
    watchdog: Option<(Child, ChildStdin)>,
}

/// What went wrong starting a cluster.
#[derive(Debug, thiserror::Error)]
#[error("cannot start a throw-away PostgreSQL: {0}")]
pub struct StartError(String);

/// The OS user that owns the cluster when we are root: (name, uid, gid).
fn owner() -> Option<(String, u32, u32)> {
    let me = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = me
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0");
    if !root {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for name in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3
                && fields[0] == name
                && let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse())
            {
                return Some((name.to_string(), uid, gid));
            }
        }
    }
    None
}

/// Where `initdb` and `postgres` are.
pub fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut best: Option<(u32, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        for e in entries.flatten() {
            let Ok(version) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let bin = e.path().join("bin");
            if bin.join("initdb").exists() && best.as_ref().is_none_or(|(v, _)| version > *v) {
                best = Some((version, bin));
            }
        }
    }
    if let Some((_, bin)) = best {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("initdb").is_file())
}

/// `program` run as the cluster's owner (through `setpriv` when root).
fn as_owner(program: &Path, owner: Option<&(String, u32, u32)>) -> Command {
    match owner {
        Some((name, _, _)) => {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={name}"))
                .arg(format!("--regid={name}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The watchdog: starts the server, waits for its stdin to close, stops
/// the server (SIGINT: fast shutdown; SIGQUIT after 10 s) and removes the
/// directory given as its first argument.
const WATCHDOG: &str = r#"
dir=$1; shift
"$@" &
pg=$!
cat >/dev/null
kill -INT $pg 2>/dev/null
i=0
while kill -0 $pg 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -QUIT $pg 2>/dev/null
wait $pg 2>/dev/null
rm -rf "$dir"
"#;

impl Cluster {
    /// Starts a cluster. `durable`: fsync and synchronous commits as
    /// shipped (for benchmarks); otherwise off (tests need no crash
    /// safety from the server).
    pub fn start(durable: bool) -> Result<Cluster, StartError> {
        let mut last = String::new();
        for _ in 0..3 {
            match Cluster::try_start(durable) {
                Ok(c) => return Ok(c),
                Err(e) => last = e.0,
            }
        }
        Err(StartError(last))
    }

    fn try_start(durable: bool) -> Result<Cluster, StartError> {
        let err = |what: &str, e: &dyn std::fmt::Display| StartError(format!("{what}: {e}"));
        let bin = bin_dir().ok_or_else(|| {
            StartError(
                "no PostgreSQL server binaries (initdb, postgres): install Debian's `postgresql` package, set PG_BIN to their folder, or set RELIVE_TEST_PG_URL to a server to use".into(),
            )
        })?;
        let owner = owner();
        let dir = std::env::temp_dir().join(format!(
            "relive-pg-{}-{}",
            std::process::id(),
            crate::journal::digest_hex(format!("{:?}", Instant::now()).as_bytes())
                .get(..8)
                .unwrap_or("0")
        ));
        std::fs::create_dir(&dir).map_err(|e| err("cannot create its folder", &e))?;
        // Removed by Drop if anything below fails.
        let mut c = Cluster {
            dir: dir.clone(),
            port: 0,
            url: String::new(),
            watchdog: None,
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| err("cannot set its folder's mode", &e))?;
        if let Some((_, uid, gid)) = &owner {
            std::os::unix::fs::chown(&dir, Some(*uid), Some(*gid))
                .map_err(|e| err("cannot give its folder to the postgres user", &e))?;
        }
        let data = dir.join("data");
        initdb(&bin, owner.as_ref(), &data)?;
        let port = free_port().map_err(|e| err("no free port on 127.0.0.1", &e))?;
        c.port = port;
        c.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let log = dir.join("server.log");
        let server = server(&bin, owner.as_ref(), &dir, port, durable);
        let mut watchdog = Command::new("sh");
        watchdog
            .args(["-c", WATCHDOG, "relive-pg-watchdog"])
            .arg(&dir)
            .arg(server.get_program())
            .args(server.get_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(&log).map_err(|e| err("cannot create the server log", &e))?,
            );
        if let Some((_, uid, gid)) = &owner {
            let _ = std::os::unix::fs::chown(&log, Some(*uid), Some(*gid));
        }
        let mut child = watchdog
            .spawn()
            .map_err(|e| err("cannot start the server", &e))?;
        let stdin = child.stdin.take().expect("piped");
        c.watchdog = Some((child, stdin));
        wait_ready(&log, port)?;
        Ok(c)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

fn initdb(bin: &Path, owner: Option<&(String, u32, u32)>, data: &Path) -> Result<(), StartError> {
    let out = as_owner(&bin.join("initdb"), owner)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
        .args(["--no-sync", "--no-instructions", "-D"])
        .arg(data)
        .env_remove("PGDATA")
        .output()
        .map_err(|e| StartError(format!("cannot run initdb: {e}")))?;
    if !out.status.success() {
        return Err(StartError(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// The server's command: on 127.0.0.1:`port`, its socket in `dir`.
fn server(
    bin: &Path,
    owner: Option<&(String, u32, u32)>,
    dir: &Path,
    port: u16,
    durable: bool,
) -> Command {
    let mut server = as_owner(&bin.join("postgres"), owner);
    server
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args(["-c", "max_connections=300", "-c", "shared_buffers=64MB"]);
    if !durable {
        server
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"]);
    }
    server
}

/// Ready when the log says so and the port accepts connections.
fn wait_ready(log: &Path, port: u16) -> Result<(), StartError> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("FATAL") {
            return Err(StartError(format!("the server stopped: {text}")));
        }
        if text.contains("database system is ready to accept connections")
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(StartError(format!(
        "the server was not ready within {} s",
        START_TIMEOUT.as_secs()
    )))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        match self.watchdog.take() {
            Some((mut child, stdin)) => {
                drop(stdin); // the watchdog stops the server and removes the folder
                let _ = child.wait();
            }
            None => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
    }
}

/// A server for the tests of this process: `RELIVE_TEST_PG_URL` if set,
/// else one throw-away cluster started at the first call and stopped when
/// the process ends. Returns its URL.
pub fn shared() -> Result<String, StartError> {
    use std::sync::OnceLock;
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    if let Ok(url) = std::env::var("RELIVE_TEST_PG_URL")
        && !url.is_empty()
    {
        return Ok(url);
    }
    match CLUSTER.get_or_init(|| Cluster::start(false).map_err(|e| e.0)) {
        Ok(c) => Ok(c.url().to_string()),
        Err(e) => Err(StartError(e.clone())),
    }
}

/// The URL of `server_url` with sessions that work in the schema `name`,
/// made anew (dropped first if it exists): one journal per test in one
/// server.
pub fn schema_url(server_url: &str, name: &str) -> Result<String, StartError> {
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(StartError(format!(
            "schema name `{name}` must be lowercase letters, digits and _"
        )));
    }
    let url = server_url.to_string();
    let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}");
    // On a thread of its own: the caller may be inside a runtime.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("cannot connect to {url}: {e}"))?;
            tokio::spawn(connection);
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| format!("cannot create the schema: {}", super::client::describe(&e)))
        })
    })
    .join()
    .map_err(|_| StartError("creating the schema panicked".into()))?
    .map_err(StartError)?;
    let sep = if server_url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{server_url}{sep}options=-c%20search_path%3D{name}"
    ))
}
