//! `GET /api/v1/audit`: search the audit log, newest first, one page at a time.

use super::auth::Caller;
use super::error::ApiError;
use crate::Error;
use crate::app::Helmdeck;
use crate::audit::{AuditPage, AuditQuery};
use crate::auth::Scope;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use std::sync::Arc;

/// Filters come from the query string (`?actor=..&outcome=..&limit=..&cursor=..`).
pub async fn query(
    State(app): State<Arc<Helmdeck>>,
    caller: Caller,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require(Scope::AuditRead)?;
    let Query(query) = query.map_err(|e| Error::invalid_input(format!("audit filters: {}", e.body_text())))?;
    Ok(Json(app.audit.query(query).await?))
}
