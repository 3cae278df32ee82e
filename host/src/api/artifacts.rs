//! Downloading what a pack stored: `GET /api/v1/artifacts/{id}` with a
//! token, or `GET /api/v1/artifacts/{id}/download?expires&sig` with a signed
//! link (see [`crate::artifacts::ArtifactLinks`]) and no token.

use super::auth::Caller;
use super::error::ApiError;
use crate::app::Helmdeck;
use crate::artifacts::{SignedLink, unix_now};
use crate::audit::{AuditEvent, AuditKind, Decision, Outcome};
use crate::auth::Scope;
use crate::store::ArtifactMeta;
use crate::{ErrorCode, Result};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// The artifact's bytes with its media type; `X-Content-SHA256` carries its digest.
pub async fn download(
    State(app): State<Arc<Helmdeck>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::PacksRead)?;
    let (meta, bytes) = app.services.artifacts.get(&id).await?;
    Ok(artifact_response(&meta, bytes))
}

/// Query of a signed link.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    /// Unix time in seconds after which the link is refused.
    pub expires: u64,
    /// Hex HMAC-SHA256 of the id and expiry.
    pub sig: String,
}

/// `GET /api/v1/artifacts/{id}/download`: the same bytes for whoever holds a
/// valid, unexpired signed link. Audited as actor `signed-link`.
pub async fn signed_download(
    State(app): State<Arc<Helmdeck>>,
    Path(id): Path<String>,
    Query(query): Query<LinkQuery>,
) -> Response {
    let started = Instant::now();
    let link = SignedLink { id, expires: query.expires, sig: query.sig };
    let outcome = match app.links.verify(&link, unix_now()) {
        Ok(()) => app.services.artifacts.get(&link.id).await,
        Err(e) => Err(e),
    };
    let mut event = AuditEvent::new(AuditKind::Api, "signed-link");
    event.capability = Some("GET /api/v1/artifacts/{id}/download".into());
    event.target = Some(link.id.clone());
    event.duration_us = started.elapsed().as_micros() as u64;
    if let Err(e) = &outcome {
        event.outcome = Outcome::Error(e.code);
        if e.code == ErrorCode::AuthFailed {
            event.decision = Decision::Deny;
        }
    }
    if let Ok((_, bytes)) = &outcome {
        event.bytes_out = bytes.len() as u64;
    }
    if let Err(e) = app.audit.record(event).await {
        return ApiError::from(e).into_response();
    }
    match outcome {
        Ok((meta, bytes)) => artifact_response(&meta, bytes),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn artifact_response(meta: &ArtifactMeta, bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&meta.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&meta.sha256) {
        headers.insert("x-content-sha256", v);
    }
    // Artifacts are served as attachments so a browser never renders pack
    // output (HTML, SVG) in Helmdeck's origin.
    let disposition = format!("attachment; filename=\"{}\"", meta.name.replace(['"', '\\', '\r', '\n'], "_"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
