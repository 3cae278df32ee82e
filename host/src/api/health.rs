//! Liveness and readiness, open without a token.

use crate::app::Helmdeck;
use crate::store::run_blocking;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /readyz`: the database answers and packs are loaded; 503 otherwise.
pub async fn readyz(State(app): State<Arc<Helmdeck>>) -> (StatusCode, Json<Value>) {
    let database = run_blocking(&app.store, |s| s.list_packs()).await;
    let snapshot = app.registry.snapshot();
    let packs = snapshot.latest().count();
    match database {
        Ok(_) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "packs": packs, "failed_packs": snapshot.failures().len() })),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "reason": e.message }))),
    }
}
