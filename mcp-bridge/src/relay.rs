//! The relay: client messages from stdin go to the server over streamable
//! HTTP, server messages come back to stdout. rmcp's HTTP client transport
//! keeps the protocol details (sessions, SSE streams, protocol headers,
//! re-initializing an expired session); the relay adds what a long-lived
//! stdio process needs:
//!
//! - sends run concurrently (a long tool call does not hold up the client's
//!   cancellation) yet start in arrival order;
//! - a failed request is answered with a JSON-RPC error naming the server,
//!   so the client does not wait forever;
//! - when the transport ends (the server went away), the next client
//!   message opens a new one, first replaying the client's `initialize` and
//!   `notifications/initialized` for session clients and swallowing the
//!   replayed answer.

use crate::probe::{unreachable, version_warning};
use crate::{Settings, say};
use anyhow::Context as _;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorData, RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, Transport};
use rmcp::{RoleClient, RoleServer};

type Upstream = StreamableHttpClientTransport<reqwest_bridge::Client>;

/// One send under way: the request it carried (if any) and how it ended.
type Sending = BoxFuture<'static, (Option<RequestId>, Result<(), String>)>;

/// The relay's memory of the client's handshake, for reconnecting.
#[derive(Default)]
struct Handshake {
    /// The client's `initialize` (session clients only).
    initialize: Option<ClientJsonRpcMessage>,
    /// Its `notifications/initialized`.
    initialized: Option<ClientJsonRpcMessage>,
    /// Ids of `initialize`/`server/discover` requests, whose answers carry the server's version.
    ids: Vec<RequestId>,
    /// The id of a replayed `initialize` whose answer the client must not see.
    replayed: Option<RequestId>,
    /// A version warning was printed already.
    warned: bool,
}

struct Relay {
    endpoint: String,
    base_url: String,
    token: String,
    upstream: Option<Upstream>,
    sending: FuturesUnordered<Sending>,
    handshake: Handshake,
}

/// Relay until the client closes stdin.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let mut client = AsyncRwTransport::<RoleServer, _, _>::new_server(tokio::io::stdin(), tokio::io::stdout());
    let mut relay = Relay {
        endpoint: format!("{}/mcp", settings.base_url),
        base_url: settings.base_url.clone(),
        token: settings.token.clone(),
        upstream: None,
        sending: FuturesUnordered::new(),
        handshake: Handshake::default(),
    };
    loop {
        tokio::select! {
            message = client.receive() => match message {
                Some(message) => relay.forward(message),
                None => break,
            },
            message = next_from(&mut relay.upstream) => match message {
                Some(message) => {
                    if let Some(message) = relay.pass_back(message) {
                        client.send(message).await.context("writing to the MCP client")?;
                    }
                }
                None => {
                    say(format!("the connection to {} ended; the next request reconnects", relay.base_url));
                    relay.upstream = None;
                }
            },
            Some((id, result)) = relay.sending.next(), if !relay.sending.is_empty() => {
                if let (Some(id), Err(reason)) = (id, result)
                    && relay.handshake.replayed.as_ref() != Some(&id)
                {
                    let error = ErrorData::internal_error(unreachable(&relay.base_url, &reason), None);
                    client.send(ServerJsonRpcMessage::error(error, Some(id))).await.context("writing to the MCP client")?;
                }
            }
        }
    }
    if let Some(mut upstream) = relay.upstream.take() {
        let _ = upstream.close().await;
    }
    Ok(())
}

/// The next message from the server, or never when there is no connection.
async fn next_from(upstream: &mut Option<Upstream>) -> Option<ServerJsonRpcMessage> {
    match upstream {
        Some(transport) => transport.receive().await,
        None => std::future::pending().await,
    }
}

impl Relay {
    fn connect(&self) -> Upstream {
        let config = StreamableHttpClientTransportConfig::with_uri(self.endpoint.as_str())
            .auth_header(self.token.clone())
            .reinit_on_expired_session(true);
        StreamableHttpClientTransport::from_config(config)
    }

    /// Remember the handshake, connect when needed, and start the send.
    fn forward(&mut self, message: ClientJsonRpcMessage) {
        let part_of_handshake = match &message {
            ClientJsonRpcMessage::Request(r) if matches!(r.request, ClientRequest::InitializeRequest(_)) => {
                self.handshake.initialize = Some(message.clone());
                self.handshake.ids.push(r.id.clone());
                true
            }
            ClientJsonRpcMessage::Request(r) if matches!(r.request, ClientRequest::DiscoverRequest(_)) => {
                self.handshake.ids.push(r.id.clone());
                false
            }
            ClientJsonRpcMessage::Notification(n)
                if matches!(n.notification, ClientNotification::InitializedNotification(_)) =>
            {
                self.handshake.initialized = Some(message.clone());
                true
            }
            _ => false,
        };
        let upstream = match self.upstream.take() {
            Some(upstream) => upstream,
            None => {
                let mut upstream = self.connect();
                if !part_of_handshake {
                    self.replay_handshake(&mut upstream);
                }
                upstream
            }
        };
        let upstream = self.upstream.insert(upstream);
        self.sending.push(start(upstream, message));
    }

    /// On a new connection, repeat a session client's handshake first.
    fn replay_handshake(&mut self, upstream: &mut Upstream) {
        let Some(initialize) = self.handshake.initialize.clone() else { return };
        if let ClientJsonRpcMessage::Request(r) = &initialize {
            self.handshake.replayed = Some(r.id.clone());
        }
        self.sending.push(start(upstream, initialize));
        if let Some(initialized) = self.handshake.initialized.clone() {
            self.sending.push(start(upstream, initialized));
        }
    }

    /// What to pass to the client: everything but a replayed handshake's
    /// answer; the server's version is checked on handshake answers.
    fn pass_back(&mut self, message: ServerJsonRpcMessage) -> Option<ServerJsonRpcMessage> {
        let ServerJsonRpcMessage::Response(response) = &message else { return Some(message) };
        if self.handshake.replayed.as_ref() == Some(&response.id) {
            self.handshake.replayed = None;
            return None;
        }
        if !self.handshake.warned && self.handshake.ids.contains(&response.id) {
            let result = serde_json::to_value(&response.result).unwrap_or_default();
            if let Some(warning) =
                result.pointer("/serverInfo/version").and_then(|v| v.as_str()).and_then(version_warning)
            {
                say(warning);
                self.handshake.warned = true;
            }
        }
        Some(message)
    }
}

/// Start sending `message`; the future reports the request id and the outcome.
fn start(upstream: &mut Upstream, message: ClientJsonRpcMessage) -> Sending {
    let id = match &message {
        ClientJsonRpcMessage::Request(r) => Some(r.id.clone()),
        _ => None,
    };
    let sending = Transport::<RoleClient>::send(upstream, message);
    Box::pin(async move { (id, sending.await.map_err(|e| e.to_string())) })
}
