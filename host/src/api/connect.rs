//! `GET /api/v1/connect/{client}`: the configuration that connects an MCP
//! client to this server, with a placeholder where the token goes
//! (`helmdeck connect CLIENT` fills in a fresh token).

use super::auth::Caller;
use super::error::ApiError;
use crate::app::Helmdeck;
use crate::auth::Scope;
use crate::connect::{Client, TOKEN_PLACEHOLDER, Target, snippets};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use serde_json::{Value, json};
use std::sync::Arc;

/// The snippets for `client`, pointing at the URL this request reached.
pub async fn get(
    State(app): State<Arc<Helmdeck>>,
    caller: Caller,
    Path(client): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::PacksRead)?;
    let client: Client = client.parse()?;
    let url = match &app.config.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => {
            format!("http://{}", headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:8931"))
        }
    };
    let target = Target { url: url.clone(), token: TOKEN_PLACEHOLDER.into(), bridge: "helmdeck-mcp".into() };
    Ok(Json(json!({ "client": client.as_str(), "url": url, "snippets": snippets(client, &target) })))
}
