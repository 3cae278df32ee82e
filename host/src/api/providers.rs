//! `/api/v1/providers`: the AI gateway's providers (models, where each key
//! comes from, never the key; health), its usage counters, and a key test
//! per provider. Operator routes: `admin`.

use super::auth::Caller;
use super::error::ApiError;
use crate::app::Helmdeck;
use crate::auth::Scope;
use crate::gateway::config::{Route, Trigger};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};
use std::sync::Arc;

type AppState = State<Arc<Helmdeck>>;

/// `GET /api/v1/providers`: providers, aliases and fallback chains.
pub async fn list(State(app): AppState, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    let config = app.gateway.config();
    let aliases: Map<String, Value> =
        config.aliases.iter().map(|(name, route)| (name.clone(), route_view(route))).collect();
    let fallbacks: Map<String, Value> =
        config.chains.iter().map(|(model, route)| (model.to_string(), route_view(route))).collect();
    Ok(Json(json!({ "providers": app.gateway.providers().await?, "aliases": aliases, "fallbacks": fallbacks })))
}

fn route_view(route: &Route) -> Value {
    let on: Vec<&str> = route
        .fallback_on
        .iter()
        .map(|t| match t {
            Trigger::RateLimited => "rate_limited",
            Trigger::Timeout => "timeout",
            Trigger::Error => "error",
        })
        .collect();
    json!({
        "models": route.targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "fallback_on": on,
        "attempt_timeout_ms": route.attempt_timeout.as_millis() as u64,
    })
}

/// `GET /api/v1/providers/usage`: calls, errors by code, tokens and latency
/// percentiles per provider, model and alias, since the data directory was made.
pub async fn usage(State(app): AppState, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    let rows: Vec<Value> = app.gateway.usage().rows().await?.iter().map(crate::gateway::usage::view).collect();
    Ok(Json(json!({ "usage": rows })))
}

/// `POST /api/v1/providers/{provider}/test`: the provider's cheapest
/// authenticated call with the key a call would use.
pub async fn test(State(app): AppState, caller: Caller, Path(provider): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(Json(json!(app.gateway.probe(&caller.subject, &provider).await?)))
}
