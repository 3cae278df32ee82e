//! The MCP server handler: tools from the registry, calls through the one
//! dispatch path (validation, limits, audit), progress and cancellation,
//! and `tools/list_changed` for both protocol eras.
//!
//! Two ways a client hears that the tools changed: a 2026-07-28 client opens
//! `subscriptions/listen` (served by [`HelmdeckMcp::listen`]); an older client
//! with a session (streamable HTTP with `Mcp-Session-Id`, or legacy SSE) is
//! followed from `notifications/initialized` by a task that forwards
//! registry changes to its peer until the session ends.

use super::{results, tools};
use crate::Error;
use crate::app::Helmdeck;
use crate::audit::{AuditEvent, AuditKind, Decision, Outcome};
use crate::auth::{Principal, Scope};
use crate::caps::progress::{ProgressFeed, ProgressSink};
use crate::dispatch::CallRequest;
use crate::registry::{ToolRef, VersionSelector};
use axum::http::request::Parts;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ProgressToken, ServerCapabilities, ServerConfig, SubscriptionFilter, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often a session follower checks whether its session has ended
/// between registry changes.
const SESSION_CHECK: Duration = Duration::from_secs(30);

/// Helmdeck as an MCP server. One per session (cheap: an `Arc`).
#[derive(Clone)]
pub struct HelmdeckMcp {
    app: Arc<Helmdeck>,
}

impl HelmdeckMcp {
    /// A handler over `app`.
    pub fn new(app: Arc<Helmdeck>) -> Self {
        HelmdeckMcp { app }
    }

    /// Who called, from the HTTP request the authentication layer vetted.
    fn caller(&self, extensions: &rmcp::model::Extensions) -> Result<Principal, McpError> {
        let parts = extensions.get::<Parts>();
        parts.and_then(|p| p.extensions.get::<Principal>()).cloned().ok_or_else(|| {
            // The authentication layer runs before every MCP route; reaching here is a wiring fault.
            McpError::internal_error("the request carries no authenticated caller", None)
        })
    }

    /// Record a call refused before dispatch (scope), like REST does.
    async fn audit_refusal(&self, actor: &str, tool: &str, error: &Error) {
        let mut event = AuditEvent::new(AuditKind::Api, actor);
        event.capability = Some("mcp tools/call".into());
        event.target = Some(tool.to_owned());
        event.outcome = Outcome::Error(error.code);
        event.decision = Decision::Deny;
        event.details = Some(serde_json::json!({ "message": error.message }));
        if let Err(e) = self.app.audit.record(event).await {
            tracing::error!(error = %e, "audit record failed");
        }
    }

    async fn call(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = self.caller(&ctx.extensions)?;
        if let Err(e) = caller.require(Scope::PacksCall) {
            self.audit_refusal(&caller.subject, &request.name, &e).await;
            return Ok(results::error_result(&e, None).into());
        }
        let snapshot = self.app.registry.snapshot();
        let Some((pack, index)) = tools::find(&snapshot, &request.name) else {
            return Err(McpError::invalid_params(
                format!("unknown tool `{}`; tools/list names every tool", request.name),
                None,
            ));
        };
        let tool = ToolRef {
            pack: pack.manifest.name.clone(),
            tool: pack.tool(index).name.clone(),
            version: VersionSelector::Latest,
        };
        let input = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let mut call = CallRequest::new(tool, input, caller.subject.clone(), "mcp tools/call");
        call.client = ctx.client_info().map(|c| format!("{} {}", c.name, c.version));
        let progress = ctx.meta.get_progress_token().map(|token| {
            let (sink, feed) = ProgressSink::channel();
            call.progress = sink;
            forward_progress(ctx.peer.clone(), token, feed)
        });
        let dispatched = self.app.dispatcher.call_until(call, ctx.ct.cancelled());
        let outcome = match progress {
            Some(forwarding) => tokio::join!(dispatched, forwarding).0,
            None => dispatched.await,
        };
        Ok(match outcome {
            Ok(done) => results::success(&self.app, &caller, done).await,
            Err(failure) => results::failure(failure),
        }
        .into())
    }
}

/// Send each report to the client until the call ends (the feed closes when
/// the call's last sink is dropped, so every report precedes the result).
async fn forward_progress(peer: Peer<RoleServer>, token: ProgressToken, mut feed: ProgressFeed) {
    while let Some(report) = feed.next().await {
        let mut param = ProgressNotificationParam::new(token.clone(), report.done);
        param.total = report.total;
        param.message = report.message;
        if let Err(e) = peer.notify_progress(param).await {
            tracing::debug!(error = %e, "progress notification not delivered");
        }
    }
}

impl ServerHandler for HelmdeckMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build())
            .with_server_info(Implementation::new("helmdeck", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Helmdeck runs typed tools in sandboxed packs. Tool names are `pack_tool`; every input is checked \
                 against the tool's schema, and failures come back as isError results with an error code \
                 (invalid_input names the failing fields).",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = self.caller(&ctx.extensions)?;
        caller.require(Scope::PacksRead).map_err(|e| McpError::invalid_request(e.message, None))?;
        Ok(ListToolsResult::with_all_items(tools::list(&self.app.registry.snapshot())))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let snapshot = self.app.registry.snapshot();
        tools::find(&snapshot, name).map(|(pack, index)| tools::describe(&pack, index))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.call(request, ctx).await
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::new();
        accepted.tools_list_changed = requested.tools_list_changed;
        Some(accepted)
    }

    async fn listen(&self, ctx: SubscriptionContext) -> Result<(), McpError> {
        let mut changes = self.app.registry.subscribe();
        loop {
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                change = changes.recv() => match change {
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        if ctx.sink().notify_tool_list_changed().await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
            }
        }
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        tokio::spawn(follow_session(self.app.clone(), ctx.peer));
    }
}

/// Forward registry changes to a session's peer as `tools/list_changed`
/// until the session ends (a send fails or its transport is closed).
async fn follow_session(app: Arc<Helmdeck>, peer: Peer<RoleServer>) {
    let mut changes = app.registry.subscribe();
    let mut check = tokio::time::interval(SESSION_CHECK);
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if peer.notify_tool_list_changed().await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            _ = check.tick() => {
                if peer.is_transport_closed() {
                    return;
                }
            }
        }
    }
}
