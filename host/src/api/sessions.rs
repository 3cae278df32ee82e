//! `/api/v1/sessions`: create, list, inspect and delete sessions. A call
//! uses one by passing `"_session_id": "<id>"` in its input.

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiQuery, JsonBody};
use crate::app::Helmdeck;
use crate::auth::Scope;
use crate::sessions::SessionSpec;
use crate::store::SessionRecord;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type AppState = State<Arc<Helmdeck>>;

/// `POST /api/v1/sessions`: open a session (body: `SessionSpec`, all optional).
pub async fn create(
    State(app): AppState,
    caller: Caller,
    JsonBody(spec): JsonBody<SessionSpec>,
) -> Result<Json<SessionRecord>, ApiError> {
    caller.require(Scope::PacksCall)?;
    let session = app.services.sessions.create(spec, &caller.subject, false).await?;
    Ok(Json(app.services.sessions.get(&session.id, &caller.subject).await?))
}

/// Query of `GET /api/v1/sessions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Include closed sessions.
    #[serde(default)]
    pub all: bool,
}

/// `GET /api/v1/sessions`: the caller's sessions (open ones, or all with `?all=true`).
pub async fn list(
    State(app): AppState,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::PacksCall)?;
    let sessions = app.services.sessions.list(&caller.subject, q.all).await?;
    Ok(Json(json!({ "sessions": sessions })))
}

/// `GET /api/v1/sessions/{id}`.
pub async fn get(
    State(app): AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionRecord>, ApiError> {
    caller.require(Scope::PacksCall)?;
    Ok(Json(app.services.sessions.get(&id, &caller.subject).await?))
}

/// `DELETE /api/v1/sessions/{id}`: close it and free what it holds.
pub async fn delete(
    State(app): AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionRecord>, ApiError> {
    caller.require(Scope::PacksCall)?;
    let sessions = &app.services.sessions;
    sessions.get(&id, &caller.subject).await?;
    sessions.close(&id, "deleted").await?;
    Ok(Json(sessions.get(&id, &caller.subject).await?))
}

/// `GET /api/v1/browsers`: the session browser pool (admin): running
/// browsers with their runtime ids, open contexts (the spares made ahead
/// for the next sessions included), spares ready and wanted, crashes since
/// start, and how the browsers are confined (their users, whether
/// Chromium's sandbox is on and, if not, why).
pub async fn browsers(State(app): AppState, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    let pool = app.services.browser.pool();
    let instances: Vec<String> = pool.instances().into_iter().map(|id| id.0).collect();
    let spares = app.services.browser.spares();
    let traits = pool.runtime().traits();
    Ok(Json(json!({
        "runtime": pool.runtime().kind(),
        "enforces_limits": traits.enforces_limits,
        "can_exec": traits.can_exec,
        "stats": pool.stats(),
        "spare_contexts": spares,
        "spare_contexts_wanted": app.services.browser.spares_wanted(),
        "instances": instances,
        "sandbox": pool.runtime().confinement(),
    })))
}
