//! `relive mcp`: relive as an MCP server on stdio, for assistants that
//! speak the Model Context Protocol.

use super::Cli;
use super::commands::open_journal;
use crate::config::Config;

/// The arguments of `relive mcp`.
#[derive(clap::Args, Debug)]
pub struct McpArgs {
    /// Most runs executing at once; more wait their turn.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_runs: usize,
    /// When the client disconnects, how long to wait for runs to reach
    /// their next host call before stopping them where they are (they stay
    /// `running`, to be continued by `relive serve`, `relive mcp` or
    /// `relive resume`).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub grace_secs: u64,
}

/// Serves MCP on stdin/stdout until the client closes it.
pub(super) fn run(cli: &Cli, args: &McpArgs) -> anyhow::Result<u8> {
    let config = Config::load(cli.config.as_deref())?;
    let journal = open_journal(cli.db.as_deref(), &config, true)?;
    let options = crate::server::ServeOptions {
        // Not listened on: `relive mcp` has no HTTP side.
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        token: None,
        max_runs: args.max_runs,
        grace: std::time::Duration::from_secs(args.grace_secs),
        retain: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    let result = runtime.block_on(crate::server::mcp::stdio(journal, config, options));
    // After SIGTERM, a read of stdin may still be pending: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    result?;
    Ok(0)
}
