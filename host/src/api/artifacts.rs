//! `GET /api/v1/artifacts/{id}`: download what a pack stored.

use super::auth::Caller;
use super::error::ApiError;
use crate::app::Helmdeck;
use crate::auth::Scope;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The artifact's bytes with its media type; `X-Content-SHA256` carries its digest.
pub async fn download(
    State(app): State<Arc<Helmdeck>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::PacksRead)?;
    let (meta, bytes) = app.services.artifacts.get(&id).await?;
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
    Ok(response)
}
