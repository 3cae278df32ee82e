//! `/api/v1/packs`: list, describe, call, install and remove packs.

use super::auth::{AlreadyAudited, Caller};
use super::error::ApiError;
use super::extract::{ApiQuery, JsonBody, ToolInput};
use super::views::{PackView, ToolView};
use crate::app::Helmdeck;
use crate::auth::Scope;
use crate::dispatch::CallRequest;
use crate::registry::{InstallReport, InstallRequest, ToolRef};
use crate::{Error, Result};
use axum::Json;
use axum::extract::{MatchedPath, Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use helmdeck_marketplace::{Capability, Manifest};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

type AppState = State<Arc<Helmdeck>>;

/// `GET /api/v1/packs`: every pack's newest version with its tools and schemas.
pub async fn list(State(app): AppState, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::PacksRead)?;
    let snapshot = app.registry.snapshot();
    let packs: Vec<PackView> =
        snapshot.latest().map(|p| PackView::new(p, versions_of(&snapshot, &p.manifest.name))).collect();
    Ok(Json(json!({ "packs": packs, "failures": snapshot.failures() })))
}

/// `GET /api/v1/packs/{name}`: a pack (`http`, `http@0.1.0`) or a tool (`http.fetch`, `http.fetch@0.1.0`).
pub async fn get(State(app): AppState, caller: Caller, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::PacksRead)?;
    let snapshot = app.registry.snapshot();
    let (base, _) = name.split_once('@').unwrap_or((name.as_str(), ""));
    if base.contains('.') {
        let (pack, index) = snapshot.resolve(&ToolRef::parse(&name)?)?;
        return Ok(Json(json!(ToolView::new(&pack, pack.tool(index)))));
    }
    let versions = snapshot.versions(base).ok_or_else(|| Error::not_found(format!("no pack `{base}` is installed")))?;
    let pack = match name.split_once('@') {
        Some((_, v)) => {
            let v =
                semver::Version::parse(v).map_err(|e| Error::invalid_input(format!("`{v}` is not a version: {e}")))?;
            versions.get(&v).ok_or_else(|| Error::not_found(format!("pack `{base}` has no version {v}")))?
        }
        None => {
            versions.values().next_back().ok_or_else(|| Error::not_found(format!("no pack `{base}` is installed")))?
        }
    };
    Ok(Json(json!(PackView::new(pack, versions_of(&snapshot, base)))))
}

fn versions_of(snapshot: &crate::registry::Snapshot, name: &str) -> Vec<String> {
    snapshot.versions(name).map(|v| v.keys().map(ToString::to_string).collect()).unwrap_or_default()
}

/// `POST /api/v1/packs/{name}`: call a tool with the body as its input.
pub async fn call(
    State(app): AppState,
    caller: Caller,
    route: MatchedPath,
    Path(tool): Path<String>,
    ToolInput(input): ToolInput,
) -> Response {
    dispatch(app, caller, &tool, None, input, &route).await
}

/// `POST /api/v1/packs/{name}/{version}`: call the newest version with major `n` (`{version}` is `v{n}`).
pub async fn call_major(
    State(app): AppState,
    caller: Caller,
    route: MatchedPath,
    Path((tool, major)): Path<(String, String)>,
    ToolInput(input): ToolInput,
) -> Response {
    let parsed = major
        .strip_prefix('v')
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| Error::not_found(format!("`{major}` is not a version route; use `v1`, `v2`, ...")));
    match parsed {
        Ok(n) => dispatch(app, caller, &tool, Some(n), input, &route).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn dispatch(
    app: Arc<Helmdeck>,
    caller: Caller,
    tool: &str,
    major: Option<u64>,
    input: Value,
    route: &MatchedPath,
) -> Response {
    let via = format!("POST {}", route.as_str());
    let prepared = caller.require(Scope::PacksCall).and_then(|()| {
        let mut tool_ref = ToolRef::parse(tool)?;
        if let Some(n) = major {
            tool_ref = tool_ref.with_major(n)?;
        }
        Ok(tool_ref)
    });
    let tool_ref = match prepared {
        Ok(p) => p,
        // Refused before dispatch: the auth layer records it.
        Err(e) => return ApiError::from(e).into_response(),
    };
    let request = CallRequest::new(tool_ref, input, caller.subject.clone(), via);
    let mut response = match app.dispatcher.call(request).await {
        Ok(done) => Json(done).into_response(),
        Err(failure) => ApiError { error: failure.error, call_id: Some(failure.call_id) }.into_response(),
    };
    response.extensions_mut().insert(AlreadyAudited);
    response
}

/// Body of `POST /api/v1/packs`: a pack uploaded for installation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallBody {
    /// The `helmdeck-pack.yaml` text.
    pub manifest: String,
    /// The component, standard base64.
    pub component_base64: String,
    /// Capabilities to grant; each must be requested by the manifest.
    #[serde(default)]
    pub grants: Vec<Capability>,
}

/// `POST /api/v1/packs`: install (or reinstall) an uploaded pack. Admin only.
pub async fn install(
    State(app): AppState,
    caller: Caller,
    JsonBody(body): JsonBody<InstallBody>,
) -> Result<Json<InstallReport>, ApiError> {
    caller.require(Scope::Admin)?;
    let manifest = Manifest::from_yaml(&body.manifest).map_err(|e| Error::invalid_input(e.to_string()))?;
    let component = base64::engine::general_purpose::STANDARD
        .decode(body.component_base64.trim())
        .map_err(|e| Error::invalid_input(format!("`component_base64` is not valid base64: {e}")))?;
    let report = app
        .registry
        .install(InstallRequest {
            manifest,
            component,
            grants: body.grants.into_iter().collect::<BTreeSet<_>>(),
            source: "upload".into(),
            signer: None,
            actor: caller.subject.clone(),
        })
        .await?;
    Ok(Json(report))
}

/// Query of `DELETE /api/v1/packs/{pack}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    /// Remove only this version.
    pub version: Option<String>,
}

/// `DELETE /api/v1/packs/{pack}`: unload and delete a pack. Admin only.
pub async fn remove(
    State(app): AppState,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<RemoveQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    let version = query
        .version
        .map(|v| semver::Version::parse(&v).map_err(|e| Error::invalid_input(format!("`version` `{v}`: {e}"))))
        .transpose()?;
    let removed = app.registry.remove(&name, version.as_ref(), &caller.subject).await?;
    Ok(Json(json!({ "name": name, "removed": removed })))
}
