//! The MCP servers of one relive process: one [`McpServer`] per configured
//! server, shared by every run, and closed together at shutdown.

use super::McpServer;
use crate::config::ToolConfig;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Every MCP server this process has been asked for.
#[derive(Default)]
pub struct McpPool {
    servers: Mutex<Vec<Arc<McpServer>>>,
}

impl McpPool {
    /// The server `[tools.NAME]` describes: the one already made for the
    /// same table, or a new one (not started until it is used).
    pub fn server(&self, name: &str, config: &ToolConfig, base_dir: &Path) -> Arc<McpServer> {
        let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(server) = servers
            .iter()
            .find(|s| s.name() == name && s.is(config, base_dir))
        {
            return server.clone();
        }
        let server = Arc::new(McpServer::new(name, config, base_dir));
        servers.push(server.clone());
        server
    }

    /// Closes every server (stdio servers end; see [`McpServer::close`]),
    /// all at once.
    pub async fn close(&self) {
        let servers: Vec<Arc<McpServer>> = self
            .servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        futures_util::future::join_all(servers.iter().map(|s| s.close())).await;
    }
}
