//! relive as an MCP server: the tools an assistant that speaks the Model
//! Context Protocol uses to drive relive — start a run, list and show
//! runs, approve or reject, signal, cancel (`mcp/tools.rs`).
//!
//! Two ways in, one service: `relive mcp` serves over stdio (the assistant
//! starts it as a child process), and `relive serve` serves over streamable
//! HTTP at `/mcp`, behind the same bearer token as its API. Either way the
//! runs are executed by the service's scheduler, exactly as runs created
//! through the HTTP API; what an assistant does is journaled like what an
//! operator does (`by: "mcp"`).

mod tools;

use super::{ServeOptions, Service};
use crate::config::Config;
use crate::journal::Journal;
use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServiceExt, tool_handler};
use std::sync::Arc;

/// What an MCP client talks to: the service's tools.
#[derive(Clone)]
pub(crate) struct ReliveMcp {
    service: Arc<Service>,
}

impl ReliveMcp {
    fn new(service: Arc<Service>) -> ReliveMcp {
        ReliveMcp { service }
    }
}

#[tool_handler]
impl rmcp::ServerHandler for ReliveMcp {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("relive", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

/// What the server tells an assistant about itself.
const INSTRUCTIONS: &str = "relive runs AI agents compiled to WebAssembly durably: every call \
an agent makes is journaled, and a run interrupted by a crash continues where it stopped. Use \
list_agents to see what can run, start_run to start one (wait_secs to wait for its end), \
list_runs and show_run to follow runs, approve or reject when a run waits for a person's \
decision, signal when it waits for an outside event, cancel_run to stop one for good.";

/// `/mcp` for `relive serve`: streamable HTTP, behind the API's token. The
/// `Host` header is checked against loopback names unless a token guards
/// the service (then any address may reach it, as the API).
pub(super) fn router(service: Arc<Service>) -> Router {
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(cancel_on_stop(&service).child_token());
    if service.options.token.is_some() {
        config = config.disable_allowed_hosts();
    }
    let handler = ReliveMcp::new(service.clone());
    let mcp = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(
            service,
            super::api::authorize,
        ))
}

/// A token cancelled when the service stops: MCP sessions end with it.
fn cancel_on_stop(service: &Arc<Service>) -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    let mut stopped = service.stopped.subscribe();
    tokio::spawn(async move {
        let _ = stopped.wait_for(|s| *s).await;
        cancel.cancel();
    });
    token
}

/// `relive mcp`: the service without its HTTP API, driven over stdio until
/// the client closes the connection (or SIGTERM / SIGINT). Runs started
/// here execute here; at the end, runs still executing are stopped at
/// their next host call and stay `running`, for the next `relive serve`,
/// `relive mcp` or `relive resume` to continue.
pub async fn stdio(
    journal: Arc<dyn Journal>,
    config: Config,
    options: ServeOptions,
) -> anyhow::Result<()> {
    if options.max_runs == 0 {
        anyhow::bail!("--max-runs must be at least 1");
    }
    crate::tools::mcp::install_crypto();
    let service = Service::new(journal, config, options)?;
    service.register_configured().await;
    let signals = super::shutdown_signals()?;
    let recovered = service.break_dead_leases()?;
    eprintln!(
        "relive: MCP server on stdio (journal and configuration as for `relive serve`){}",
        if recovered > 0 {
            format!("; recovering {recovered} runs of a stopped relive")
        } else {
            String::new()
        }
    );
    let background = service.clone().start_background();
    let running = ReliveMcp::new(service.clone())
        .serve(rmcp::transport::stdio())
        .await;
    match running {
        Ok(running) => {
            tokio::select! {
                _ = running.waiting() => eprintln!("relive: the MCP client closed the connection"),
                _ = super::shutdown_signal(signals) => {}
            }
        }
        Err(e) => eprintln!("relive: the MCP handshake on stdio failed: {e}"),
    }
    service.stop(background).await;
    eprintln!("relive: stopped");
    Ok(())
}
