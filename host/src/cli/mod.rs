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

mod answers;
mod build;
mod commands;
mod format;
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
6 run suspended (waiting for an approval, a time or a signal).

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
    /// The journal database [default: `journal.path` in relive.toml, else ./relive.db]
    #[arg(long, global = true, env = "RELIVE_DB", value_name = "PATH")]
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
    Run {
        /// A component file (.wasm), or the name of an agent in relive.toml
        /// whose `component` key names one.
        agent: String,
        /// The agent's input.
        #[arg(long, short, default_value = "", conflicts_with = "input_file")]
        input: String,
        /// Read the agent's input from a file ('-' for stdin).
        #[arg(long, value_name = "PATH")]
        input_file: Option<PathBuf>,
        /// The agent's name, for its grants in relive.toml [default: the
        /// file name without .wasm].
        #[arg(long = "as", value_name = "NAME")]
        agent_name: Option<String>,
        /// Print one JSON object (id, status, output, error) on stdout.
        #[arg(long)]
        json: bool,
        /// Print no progress lines.
        #[arg(long, short)]
        quiet: bool,
        /// Also show clock and random reads in the progress lines.
        #[arg(long, short)]
        verbose: bool,
        /// Print the LLM's answers as they stream in (on stderr).
        #[arg(long)]
        stream: bool,
    },
    /// Resume a run interrupted by a crash, or a suspended run whose wait
    /// was answered: replay its journal, then go on. A run sleeping on a
    /// timer is resumed when the timer is due (this waits), or at once with
    /// --now.
    Resume {
        /// Run id, or a unique prefix of it (4 characters or more).
        run: String,
        /// Wake a sleeping run now instead of waiting (recorded as early).
        #[arg(long)]
        now: bool,
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        quiet: bool,
        #[arg(long, short)]
        verbose: bool,
        /// Print the LLM's answers as they stream in (on stderr).
        #[arg(long)]
        stream: bool,
    },
    /// List the runs in the journal, newest first.
    Runs {
        /// Only suspended runs, with what each waits for.
        #[arg(long)]
        waiting: bool,
        /// Only runs in this status (running, suspended, completed, failed,
        /// diverged, uncertain).
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a run's timeline: every host call with its request and answer.
    Show {
        run: String,
        /// Show requests and responses in full.
        #[arg(long)]
        full: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write a run's journal as JSON lines (a portable file for `replay`).
    Export {
        run: String,
        /// Write to this file instead of stdout.
        #[arg(long, short, value_name = "PATH")]
        output: Option<PathBuf>,
    },
    /// Load a journal file written by `relive export` into this journal.
    Import {
        /// The journal file.
        file: PathBuf,
        /// The run's component, if this journal does not hold it yet (its
        /// digest must match the file's header).
        #[arg(long, value_name = "PATH")]
        component: Option<PathBuf>,
    },
    /// Move runs to a new build of their agent: each run's journal is
    /// replayed against the new component, and the run is switched only if
    /// every recorded call matches; otherwise it stays as it is.
    Upgrade {
        /// The run to upgrade (or use --agent for all of an agent's runs).
        #[arg(required_unless_present = "agent")]
        run: Option<String>,
        /// Upgrade every unfinished run of this agent.
        #[arg(long, conflicts_with = "run")]
        agent: Option<String>,
        /// The new component.
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Replay a journal file against a component without calling anything
    /// live; passes only if every call matches and the output is the same.
    Replay {
        /// The component to test.
        component: PathBuf,
        /// A journal written by `relive export`.
        journal: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Approve the action a suspended run waits on.
    Approve {
        run: String,
        /// A note kept with the decision.
        #[arg(long)]
        note: Option<String>,
        /// Replace the action's details with this text (an edited payload).
        #[arg(long, value_name = "TEXT")]
        details: Option<String>,
        /// Who decides [default: $USER].
        #[arg(long)]
        by: Option<String>,
    },
    /// Reject the action a suspended run waits on; the agent gets the reason.
    Reject {
        run: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Deliver an outside event to a run waiting for the signal NAME.
    Signal {
        run: String,
        name: String,
        /// The payload given to the agent (JSON).
        #[arg(long, value_name = "JSON")]
        data: Option<String>,
        #[arg(long)]
        by: Option<String>,
    },
    /// Decide about a non-idempotent call interrupted by a crash (a run in
    /// status `uncertain`), then continue with `relive resume`.
    Resolve {
        run: String,
        /// Run the call again.
        #[arg(long, group = "decision")]
        retry: bool,
        /// Use this JSON as the call's result without running it.
        #[arg(long, group = "decision", value_name = "JSON")]
        result: Option<String>,
        /// Fail the run.
        #[arg(long, group = "decision")]
        fail: bool,
        /// Why (recorded with --fail).
        #[arg(long)]
        reason: Option<String>,
    },
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
    /// Authentication: set RELIVE_TOKEN (or --token-file) to require
    /// `Authorization: Bearer TOKEN` on the API; a token is required when
    /// listening on an address other than loopback.
    #[command(after_help = "Examples:
  relive serve --config relive.toml
  curl -s -X POST localhost:7070/v1/runs -H 'content-type: application/json' \\
       -d '{\"agent\": \"researcher\", \"input\": \"what is durable execution?\"}'
  curl -s localhost:7070/v1/runs/RUN
  curl -sN localhost:7070/v1/runs/RUN/events")]
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7070", value_name = "ADDR:PORT")]
        listen: std::net::SocketAddr,
        /// Most runs executing at once; more wait their turn.
        #[arg(long, default_value_t = 64, value_name = "N")]
        max_runs: usize,
        /// On SIGTERM, how long to wait for runs to reach their next host
        /// call before stopping them where they are.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        grace_secs: u64,
        /// Read the API token from this file (instead of RELIVE_TOKEN).
        #[arg(long, value_name = "PATH")]
        token_file: Option<PathBuf>,
    },
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
    })
}
