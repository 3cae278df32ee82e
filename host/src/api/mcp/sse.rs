//! The legacy HTTP+SSE transport (MCP 2024-11-05) for older clients:
//! `GET /api/v1/mcp/sse` opens an event stream whose first event, `endpoint`,
//! names where to POST (`/api/v1/mcp/message?sessionId=…`); every server
//! message follows as a `message` event. rmcp dropped its SSE server, so this
//! shim pairs two channels with `serve_server`, the same handler as `/mcp`.
//!
//! A session belongs to the token subject that opened it: a POST with another
//! subject's token is refused. The session ends when the client closes the
//! stream or the server shuts down.

use super::server::HelmdeckMcp;
use crate::api::error::ApiError;
use crate::app::Helmdeck;
use crate::auth::Principal;
use crate::{Error, ErrorCode};
use axum::Extension;
use axum::body::to_bytes;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt, stream};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use serde::Deserialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// Messages buffered per direction and session.
const CHANNEL_CAPACITY: usize = 64;
/// Largest message a client may POST.
const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// One open session: its owner (token subject) and the channel into its server.
type Session = (String, mpsc::Sender<ClientJsonRpcMessage>);

/// Open SSE sessions by id.
#[derive(Clone, Default)]
pub struct SseSessions(Arc<Mutex<HashMap<String, Session>>>);

impl SseSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A poisoned map only means a holder panicked; the entries are still valid.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes its session when the event stream is dropped (client gone).
struct SessionGuard {
    sessions: SseSessions,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
    }
}

/// `GET /api/v1/mcp/sse`: start a session and stream its messages.
pub async fn open(
    State(app): State<Arc<Helmdeck>>,
    Extension(sessions): Extension<SseSessions>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (to_server, from_client) = mpsc::channel::<ClientJsonRpcMessage>(CHANNEL_CAPACITY);
    let (to_client, from_server) = mpsc::channel::<ServerJsonRpcMessage>(CHANNEL_CAPACITY);
    sessions.lock().insert(id.clone(), (principal.subject, to_server));
    let handler = HelmdeckMcp::new(app.clone());
    tokio::spawn(async move {
        match rmcp::serve_server(handler, (to_client, from_client)).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::debug!(error = %e, "SSE session ended before initialization"),
        }
    });
    let guard = SessionGuard { sessions, id: id.clone() };
    let endpoint = Event::default().event("endpoint").data(format!("/api/v1/mcp/message?sessionId={id}"));
    let messages = from_server.filter_map(|message| async move {
        match serde_json::to_string(&message) {
            Ok(json) => Some(Event::default().event("message").data(json)),
            Err(e) => {
                tracing::error!(error = %e, "unserializable MCP message dropped");
                None
            }
        }
    });
    let events = stream::once(async { endpoint })
        .chain(messages)
        .take_until(app.shutdown.clone().cancelled_owned())
        .map(move |event| {
            let _session = &guard;
            Ok::<_, Infallible>(event)
        });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// Query of `POST /api/v1/mcp/message`.
#[derive(Debug, Deserialize)]
pub struct MessageQuery {
    #[serde(rename = "sessionId")]
    pub session_id: String,
}

/// `POST /api/v1/mcp/message?sessionId=…`: one JSON-RPC message into a
/// session; 202 once queued, 404 for an unknown or ended session.
pub async fn post(
    Extension(sessions): Extension<SseSessions>,
    Query(query): Query<MessageQuery>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let subject = parts.extensions.get::<Principal>().map(|p| p.subject.clone()).unwrap_or_default();
    let session = sessions.lock().get(&query.session_id).cloned();
    let Some((owner, mut sender)) = session else {
        return refuse(Error::not_found(format!(
            "no open SSE session `{}`; open one with GET /api/v1/mcp/sse",
            query.session_id
        )));
    };
    if owner != subject {
        return refuse(Error::unauthorized("this SSE session belongs to another token subject"));
    }
    let bytes = match to_bytes(body, MAX_MESSAGE_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return refuse(Error::new(ErrorCode::ResourceExhausted, format!("the message could not be read: {e}")));
        }
    };
    let mut message: ClientJsonRpcMessage = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => return refuse(Error::invalid_input(format!("the body is not a JSON-RPC message: {e}"))),
    };
    message.insert_extension(parts);
    match sender.send(message).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => refuse(Error::not_found(format!("SSE session `{}` has ended", query.session_id))),
    }
}

fn refuse(error: Error) -> Response {
    ApiError::from(error).into_response()
}
