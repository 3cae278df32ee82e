//! MCP over HTTP: every installed pack tool is an MCP tool.
//!
//! - `/mcp`: the streamable HTTP transport (rmcp's `StreamableHttpService`),
//!   serving 2026-07-28 clients statelessly and older clients with sessions
//!   (`Mcp-Session-Id`);
//! - `GET /api/v1/mcp/sse` + `POST /api/v1/mcp/message`: the legacy HTTP+SSE
//!   transport (`sse`).
//!
//! Both run the same [`server::HelmdeckMcp`] handler behind `guard::admit`
//! (Host/Origin allow-lists, bearer token). Tool calls go through
//! [`crate::dispatch::Dispatcher`], like REST.

mod guard;
mod results;
pub mod server;
mod sse;
mod tools;

use crate::app::Helmdeck;
use axum::routing::{get, post};
use axum::{Extension, Router};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;

/// The MCP routes, to merge into the application router.
pub fn router(app: Arc<Helmdeck>) -> Router<Arc<Helmdeck>> {
    // Host and Origin are checked by `guard::admit` for both transports, so
    // rmcp's own (equivalent) checks are turned off rather than configured twice.
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(crate::api::routes::MAX_CALL_BODY)
        .with_cancellation_token(app.shutdown.clone());
    let handler_app = app.clone();
    let streamable = StreamableHttpService::new(
        move || Ok(server::HelmdeckMcp::new(handler_app.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .nest_service("/mcp", streamable)
        .route("/api/v1/mcp/sse", get(sse::open))
        .route("/api/v1/mcp/message", post(sse::post))
        .layer(Extension(sse::SseSessions::default()))
        .layer(axum::middleware::from_fn_with_state(app, guard::admit))
}
