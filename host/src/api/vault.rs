//! `/api/v1/vault/credentials`: manage the vault (admin only). Values are
//! write-only: every answer shows metadata and a masked hint, never a secret;
//! a body that does not fit is refused by field without quoting a value
//! ([`JsonBody`] masks them), since it may be a secret in the wrong place.

use super::auth::Caller;
use super::error::ApiError;
use super::extract::JsonBody;
use crate::app::Helmdeck;
use crate::auth::Scope;
use crate::vault::{CredentialInput, CredentialMeta, CredentialUpdate};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::sync::Arc;

type AppState = State<Arc<Helmdeck>>;

/// `GET /api/v1/vault/credentials`: every credential's metadata.
pub async fn list(State(app): AppState, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(json!({ "credentials": app.services.vault.list().await? })))
}

/// `POST /api/v1/vault/credentials`: add a credential.
pub async fn add(
    State(app): AppState,
    caller: Caller,
    JsonBody(input): JsonBody<CredentialInput>,
) -> Result<Json<CredentialMeta>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(app.services.vault.add(input).await?))
}

/// `GET /api/v1/vault/credentials/{name}`.
pub async fn get(
    State(app): AppState,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<CredentialMeta>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(app.services.vault.get(&name).await?))
}

/// `PUT /api/v1/vault/credentials/{name}`: change metadata and/or the secret.
pub async fn update(
    State(app): AppState,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(update): JsonBody<CredentialUpdate>,
) -> Result<Json<CredentialMeta>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(app.services.vault.update(&name, update).await?))
}

/// `DELETE /api/v1/vault/credentials/{name}`.
pub async fn remove(State(app): AppState, caller: Caller, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    app.services.vault.remove(&name).await?;
    Ok(Json(json!({ "name": name, "removed": true })))
}
