//! `GET /api/v1/artifacts/{id}`: download what a pack stored, for its owner
//! (the token subject whose call stored it) or `admin`; and
//! `GET /shared/artifacts/{id}`, the same through a signed, expiring link:
//! a bearer capability its owner chose to hand out, good for that one
//! artifact. Another subject asking by id gets `not_found`, as for an id
//! that does not exist.

use super::auth::Caller;
use super::error::ApiError;
use crate::app::Helmdeck;
use crate::artifacts::Reader;
use crate::audit::{AuditEvent, AuditKind, Decision, Outcome};
use crate::auth::Scope;
use crate::store::ArtifactMeta;
use crate::{Error, ErrorCode};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
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
    let (meta, bytes) = app.services.artifacts.get(&id, Reader::Principal(&caller)).await?;
    Ok(artifact_response(meta, bytes))
}

/// The artifact's bytes, served as an attachment with its type and digest.
fn artifact_response(meta: ArtifactMeta, bytes: Vec<u8>) -> Response {
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

/// The audit actor of shared-link downloads.
pub const SIGNED_LINK: &str = "signed-link";

/// Query of a shared link.
#[derive(Debug, serde::Deserialize)]
pub struct LinkQuery {
    /// Seconds since the Unix epoch when the link expires.
    pub expires: u64,
    /// Hex HMAC-SHA256 of the path and expiry.
    pub sig: String,
}

/// `GET /shared/artifacts/{id}?expires=..&sig=..`: the same download with no
/// bearer token, for a link made by the artifacts capability. A bad or
/// expired signature is `auth_failed` (401); every use is audited, refusals
/// sampled per source like every unauthenticated refusal.
pub async fn shared_download(
    State(app): State<Arc<Helmdeck>>,
    Path(id): Path<String>,
    link: Result<Query<LinkQuery>, QueryRejection>,
    extensions: axum::http::Extensions,
) -> Result<Response, ApiError> {
    let path = format!("/shared/artifacts/{id}");
    let checked = match link {
        Ok(Query(link)) => app.services.links.verify(&path, link.expires, &link.sig),
        Err(_) => Err(Error::new(
            ErrorCode::AuthFailed,
            "this link is incomplete: a shared artifact link carries `expires` and `sig`; ask for a new link",
        )),
    };
    let mut event = AuditEvent::new(AuditKind::Api, SIGNED_LINK.to_owned());
    event.capability = Some("GET /shared/artifacts/{id}".to_owned());
    event.target = Some(path);
    let result = match checked {
        Ok(()) => app.services.artifacts.get(&id, Reader::SignedLink).await,
        Err(e) => Err(e),
    };
    match &result {
        Ok(_) => drop(app.audit.record(event).await?),
        Err(e) => {
            event.outcome = Outcome::Error(e.code);
            if e.code == ErrorCode::AuthFailed {
                event.decision = Decision::Deny;
            }
            app.audit.record_unauthenticated(&super::auth::source(&extensions), event).await?;
        }
    }
    let (meta, bytes) = result?;
    Ok(artifact_response(meta, bytes))
}
