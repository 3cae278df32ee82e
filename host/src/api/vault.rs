//! `/api/v1/vault/credentials`: manage the vault (admin only). Values are
//! write-only: every answer shows metadata and a masked hint, never a secret.

use super::auth::Caller;
use super::error::{ApiError, parse_json_body};
use crate::Error;
use crate::app::Helmdeck;
use crate::auth::Scope;
use crate::vault::{CredentialInput, CredentialMeta, CredentialUpdate};
use axum::Json;
use axum::body::Bytes;
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
pub async fn add(State(app): AppState, caller: Caller, body: Bytes) -> Result<Json<CredentialMeta>, ApiError> {
    caller.require(Scope::Admin)?;
    let input: CredentialInput = serde_json::from_value(parse_json_body(&body)?)
        .map_err(|e| Error::invalid_input(format!("credential: {}", field_error(&e))))?;
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
    body: Bytes,
) -> Result<Json<CredentialMeta>, ApiError> {
    caller.require(Scope::Admin)?;
    let update: CredentialUpdate = serde_json::from_value(parse_json_body(&body)?)
        .map_err(|e| Error::invalid_input(format!("credential update: {}", field_error(&e))))?;
    Ok(Json(app.services.vault.update(&name, update).await?))
}

/// `DELETE /api/v1/vault/credentials/{name}`.
pub async fn remove(State(app): AppState, caller: Caller, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    app.services.vault.remove(&name).await?;
    Ok(Json(json!({ "name": name, "removed": true })))
}

/// A body that does not fit: name the field, never quote a value (it may
/// be the secret put in the wrong place).
fn field_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find("invalid type") {
        Some(_) => {
            "a field has the wrong type (`hosts`, `packs` and `subjects` are lists of strings, `secret` an object)"
                .to_owned()
        }
        None => text,
    }
}
