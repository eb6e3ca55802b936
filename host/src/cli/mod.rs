//! The `relive` command line: argument parsing, dispatch and exit codes.
//!
//! Output for people goes to stderr (progress) and stdout (results);
//! `--json` prints one JSON document on stdout instead. Exit codes:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success; for `run`/`resume`/`replay`: the run completed |
//! | 1 | error: bad input, configuration, journal or component |
//! | 2 | usage error (bad arguments) |
//! | 3 | the run failed: the agent returned an error or trapped |
//! | 4 | the run diverged from its journal |
//! | 5 | the run is uncertain: `relive resolve` must decide |
//! | 6 | the run is suspended: it waits for an approval, a time or a signal |
//! | 130 | interrupted by Ctrl-C: the run stays running, `relive resume` continues it |

mod answers;
mod build;
mod commands;
mod format;
mod inspect;
mod maintenance;
mod mcp;
mod migrate;
mod migrate_table;
mod new;
mod versions;

pub use format::timestamp;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code: the run failed.
pub const EXIT_FAILED: u8 = 3;
/// Exit code: the run diverged from its journal.
pub const EXIT_DIVERGED: u8 = 4;
/// Exit code: the run is uncertain.
pub const EXIT_UNCERTAIN: u8 = 5;
/// Exit code: the run is suspended, waiting.
pub const EXIT_SUSPENDED: u8 = 6;

const AFTER_HELP: &str = "\
Exit codes: 0 success (run completed), 1 error, 2 usage, 3 run failed, 4 run diverged, 5 run uncertain,
6 run suspended (waiting for an approval, a time or a signal), 130 interrupted by Ctrl-C (resume it).

Examples:
  relive new my-agent --lang python && cd my-agent && relive build
  relive run researcher --input \"what is durable execution?\"
  relive run ./agent.wasm --input 10 --json
  relive runs
  relive show 0k3f2ab
  relive resume 0k3f2ab
  relive export 0k3f2ab > run.jsonl && relive replay ./agent.wasm run.jsonl";

/// Durable, sandboxed host for AI agents compiled to WebAssembly components.
///
/// Every call an agent makes across the sandbox wall (LLM, tool, clock,
/// randomness, log) is journaled in SQLite; a run interrupted by a crash is
/// resumed by replaying the journal to where it stopped, then goes on live.
#[derive(Parser, Debug)]
#[command(name = "relive", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The journal: an SQLite file, or a PostgreSQL database shared by
    /// several hosts (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)
    /// [default: `journal.url` or `journal.path` in relive.toml, else
    /// ./relive.db]
    #[arg(long, global = true, env = "RELIVE_DB", value_name = "PATH|URL")]
    db: Option<PathBuf>,
    /// The configuration file [default: ./relive.toml if present]
    #[arg(long, global = true, env = "RELIVE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new agent project (TypeScript, Python or Rust) that builds
    /// and runs as it is, with a scripted model.
    New(new::NewArgs),
    /// Build an agent project into a component (NAME.wasm), with relive's
    /// WIT and world.
    Build(build::BuildArgs),
    /// Start a new run of an agent and run it to its end.
    Run(RunArgs),
    /// Resume a run interrupted by a crash, or a suspended run whose wait
    /// was answered: replay its journal, then go on. A run sleeping on a
    /// timer is resumed when the timer is due (this waits), or at once with
    /// --now.
    Resume(ResumeArgs),
    /// List the runs in the journal, newest first.
    Runs(RunsArgs),
    /// Show a run's timeline: every host call with its request and answer.
    Show(ShowArgs),
    /// Write a run's journal as JSON lines (a portable file for `replay`).
    Export(ExportArgs),
    /// Load a journal file written by `relive export` into this journal.
    Import(ImportArgs),
    /// Move runs to a new build of their agent: each run's journal is
    /// replayed against the new component, and the run is switched only if
    /// every recorded call matches; otherwise it stays as it is.
    Upgrade(UpgradeArgs),
    /// Replay a journal file against a component without calling anything
    /// live; passes only if every call matches and the output is the same.
    Replay(ReplayArgs),
    /// Approve the action a suspended run waits on.
    Approve(ApproveArgs),
    /// Reject the action a suspended run waits on; the agent gets the reason.
    Reject(RejectArgs),
    /// Deliver an outside event to a run waiting for the signal NAME.
    Signal(SignalArgs),
    /// Decide about a non-idempotent call interrupted by a crash (a run in
    /// status `uncertain`), then continue with `relive resume`.
    Resolve(ResolveArgs),
    /// Stop an unfinished run for good: it is marked cancelled and never
    /// resumed. Refused for a run another live relive process executes
    /// (cancel it through that process's API).
    Cancel(CancelArgs),
    /// Delete old runs and what only they used (blobs, components), to keep
    /// the journal's disk use in check.
    ///
    /// By default only finished runs (completed, failed, diverged,
    /// cancelled) are deleted; running, suspended and uncertain runs only
    /// with --force. The file does not shrink by itself: SQLite reuses the
    /// freed pages; run with --vacuum to give them back to the file system
    /// (it rewrites the file and needs as much free space).
    #[command(after_help = "Examples:
  relive prune --older-than 30d
  relive prune --older-than 7d --status failed,diverged --dry-run
  relive prune --older-than 90d --vacuum")]
    Prune(PruneArgs),
    /// Run relive as a service: many runs at once, an HTTP API with live
    /// events, and a web UI.
    ///
    /// The service starts runs created through the API, recovers every run
    /// interrupted by a crash (of this or any relive process), wakes timers
    /// when they are due, and goes on with runs whose approval or signal
    /// was answered (through the API, the web UI or `relive approve`). On
    /// SIGTERM it stops taking work, lets runs finish the host call they
    /// are in, and leaves them to be resumed by the next start.
    ///
    /// The same tools as `relive mcp` are served over MCP (streamable HTTP)
    /// at /mcp, so an assistant that speaks MCP can drive the service.
    ///
    /// Authentication: set RELIVE_TOKEN (or --token-file) to require
    /// `Authorization: Bearer TOKEN` on the API and /mcp; a token is
    /// required when listening on an address other than loopback.
    #[command(after_help = "Examples:
  relive serve --config relive.toml
  curl -s -X POST localhost:7070/v1/runs -H 'content-type: application/json' \\
       -d '{\"agent\": \"researcher\", \"input\": \"what is durable execution?\"}'
  curl -s localhost:7070/v1/runs/RUN
  curl -sN localhost:7070/v1/runs/RUN/events")]
    Serve(ServeArgs),
    /// Serve relive over MCP (the Model Context Protocol) on stdin/stdout,
    /// so that an assistant drives it: list agents, start runs, list and
    /// show runs, approve or reject, signal, cancel.
    ///
    /// An MCP client starts `relive mcp` as a child process (it is a stdio
    /// server); the runs it starts execute in this process, with the
    /// journal and relive.toml given by --db and --config, exactly as under
    /// `relive serve` (which serves the same tools over HTTP at /mcp). When
    /// the client disconnects, runs still executing stay `running` and are
    /// continued by the next `relive serve`, `relive mcp` or `relive
    /// resume`. Logs go to stderr; stdout carries the protocol.
    #[command(
        after_help = "Example, in an MCP client's configuration (Claude Desktop, Cursor, VS Code...):
  {\"mcpServers\": {\"relive\": {\"command\": \"relive\",
    \"args\": [\"mcp\", \"--config\", \"/path/to/relive.toml\", \"--db\", \"/path/to/relive.db\"]}}}"
    )]
    Mcp(mcp::McpArgs),
    /// Copy a whole journal into another one (SQLite to PostgreSQL, back,
    /// or file to file) and check the copy: every run in every status with
    /// its entries, blobs and component. Copies into an empty journal only,
    /// and refuses while relive processes execute runs of the source (stop
    /// `relive serve` first). Then compares a digest of every run's entries
    /// and the totals, prints them side by side, and exits 1 naming the
    /// first run that differs. Global --db is not used: name both journals.
    #[command(after_help = "Examples:
  relive migrate --from relive.db --to postgres://relive:PASSWORD@db.internal/relive
  relive migrate --from relive.db --to postgres://relive@db.internal/relive --verify-only
  relive migrate --from postgres://relive@db.internal/relive --to back.db")]
    Migrate(migrate::MigrateArgs),
}

/// The arguments of `relive run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A component file (.wasm), or the name of an agent in relive.toml
    /// whose `component` key names one.
    pub agent: String,
    /// The agent's input.
    #[arg(long, short, default_value = "", conflicts_with = "input_file")]
    pub input: String,
    /// Read the agent's input from a file ('-' for stdin).
    #[arg(long, value_name = "PATH")]
    pub input_file: Option<PathBuf>,
    /// The agent's name, for its grants in relive.toml [default: the
    /// file name without .wasm].
    #[arg(long = "as", value_name = "NAME")]
    pub agent_name: Option<String>,
    /// Print one JSON object (id, status, output, error) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print no progress lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also show clock and random reads in the progress lines.
    #[arg(long, short)]
    pub verbose: bool,
    /// Print the LLM's answers as they stream in (on stderr).
    #[arg(long)]
    pub stream: bool,
}

/// The arguments of `relive resume`.
#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// Run id, or a unique prefix of it (4 characters or more).
    pub run: String,
    /// Wake a sleeping run now instead of waiting (recorded as early).
    #[arg(long)]
    pub now: bool,
    #[arg(long)]
    pub json: bool,
    #[arg(long, short)]
    pub quiet: bool,
    #[arg(long, short)]
    pub verbose: bool,
    /// Print the LLM's answers as they stream in (on stderr).
    #[arg(long)]
    pub stream: bool,
}

/// The arguments of `relive runs`.
#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Only suspended runs, with what each waits for.
    #[arg(long)]
    pub waiting: bool,
    /// Only runs in this status (running, suspended, completed, failed,
    /// diverged, uncertain, cancelled).
    #[arg(long)]
    pub status: Option<String>,
    /// Only runs of this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only the child runs of this run (by default: top-level runs, each
    /// with the runs it started under it).
    #[arg(long, value_name = "RUN")]
    pub parent: Option<String>,
    /// Most runs to list (the newest); `--before` pages on.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,
    /// Only runs older than this one (the cursor printed under a full page).
    #[arg(long, value_name = "RUN")]
    pub before: Option<String>,
    /// List every run, however many.
    #[arg(long, conflicts_with_all = ["limit", "before"])]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `relive show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    pub run: String,
    /// Show requests and responses in full.
    #[arg(long)]
    pub full: bool,
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `relive export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    pub run: String,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// The arguments of `relive import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The journal file.
    pub file: PathBuf,
    /// The run's component, if this journal does not hold it yet (its
    /// digest must match the file's header).
    #[arg(long, value_name = "PATH")]
    pub component: Option<PathBuf>,
}

/// The arguments of `relive upgrade`.
#[derive(clap::Args, Debug)]
pub struct UpgradeArgs {
    /// The run to upgrade (or use --agent for all of an agent's runs).
    #[arg(required_unless_present = "agent")]
    pub run: Option<String>,
    /// Upgrade every unfinished run of this agent.
    #[arg(long, conflicts_with = "run")]
    pub agent: Option<String>,
    /// The new component.
    #[arg(long, value_name = "PATH")]
    pub to: PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `relive replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The component to test.
    pub component: PathBuf,
    /// A journal written by `relive export`.
    pub journal: PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `relive approve`.
#[derive(clap::Args, Debug)]
pub struct ApproveArgs {
    pub run: String,
    /// A note kept with the decision.
    #[arg(long)]
    pub note: Option<String>,
    /// Replace the action's details with this text (an edited payload).
    #[arg(long, value_name = "TEXT")]
    pub details: Option<String>,
    /// Who decides [default: $USER].
    #[arg(long)]
    pub by: Option<String>,
}

/// The arguments of `relive reject`.
#[derive(clap::Args, Debug)]
pub struct RejectArgs {
    pub run: String,
    #[arg(long)]
    pub reason: String,
    #[arg(long)]
    pub by: Option<String>,
}

/// The arguments of `relive signal`.
#[derive(clap::Args, Debug)]
pub struct SignalArgs {
    pub run: String,
    pub name: String,
    /// The payload given to the agent (JSON).
    #[arg(long, value_name = "JSON")]
    pub data: Option<String>,
    #[arg(long)]
    pub by: Option<String>,
}

/// The arguments of `relive resolve`.
#[derive(clap::Args, Debug)]
pub struct ResolveArgs {
    pub run: String,
    /// Run the call again.
    #[arg(long, group = "decision")]
    pub retry: bool,
    /// Use this JSON as the call's result without running it.
    #[arg(long, group = "decision", value_name = "JSON")]
    pub result: Option<String>,
    /// Fail the run.
    #[arg(long, group = "decision")]
    pub fail: bool,
    /// Why (recorded with --fail).
    #[arg(long)]
    pub reason: Option<String>,
}

/// The arguments of `relive cancel`.
#[derive(clap::Args, Debug)]
pub struct CancelArgs {
    pub run: String,
    /// Why (kept as the run's error).
    #[arg(long)]
    pub reason: Option<String>,
}

/// The arguments of `relive prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Runs last updated longer ago than this (e.g. 30d, 12h, 45m).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: std::time::Duration,
    /// Only runs in these statuses (comma-separated) [default: every
    /// finished status].
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Also delete running, suspended and uncertain runs (their agents
    /// can never continue them).
    #[arg(long)]
    pub force: bool,
    /// Print what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Then rebuild the file to return freed space (VACUUM).
    #[arg(long)]
    pub vacuum: bool,
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `relive serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7070", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// Most runs executing at once; more wait their turn.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_runs: usize,
    /// On SIGTERM, how long to wait for runs to reach their next host
    /// call before stopping them where they are.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub grace_secs: u64,
    /// Read the API token from this file (instead of RELIVE_TOKEN).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Prune finished runs older than this many days, every hour (as
    /// `relive prune --older-than Nd`); off by default.
    #[arg(long, value_name = "DAYS")]
    pub retain_days: Option<u64>,
}

/// Parses an age like `30d`, `12h`, `45m` or `90s`.
fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not an age; write e.g. 30d, 12h, 45m or 90s"))?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{text}`; use d, h, m or s"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(seconds)))
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}
