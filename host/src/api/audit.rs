//! `GET /api/v1/audit`: search the audit log, newest first, one page at a time.
//!
//! A subject reads the records of its own calls (`actor` is its subject);
//! `audit:all` or `admin` reads everyone's. `helmdeck audit tail`, on the
//! data directory, stays whole for the operator.

use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiQuery;
use crate::Error;
use crate::app::Helmdeck;
use crate::audit::{AuditPage, AuditQuery};
use crate::auth::Scope;
use axum::Json;
use axum::extract::State;
use std::sync::Arc;

/// Filters come from the query string (`?actor=..&outcome=..&limit=..&cursor=..`).
pub async fn query(
    State(app): State<Arc<Helmdeck>>,
    caller: Caller,
    ApiQuery(mut query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require(Scope::AuditRead)?;
    if !caller.holds(Scope::AuditAll) {
        match &query.actor {
            Some(actor) if *actor != caller.subject => {
                return Err(Error::unauthorized(format!(
                    "the token of `{}` reads only its own audit records; reading `{actor}`'s needs the `audit:all` \
                     scope (`helmdeck token issue --scope audit:all`)",
                    caller.subject
                ))
                .into());
            }
            _ => query.actor = Some(caller.subject.clone()),
        }
    }
    Ok(Json(app.audit.query(query).await?))
}
