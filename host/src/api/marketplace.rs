//! `/api/v1/marketplace`: what the registered catalogs offer, and installs
//! and upgrades from them. The handlers call the same [`Marketplace`]
//! methods as the CLI, so REST and CLI installs run the same checks.
//!
//! An install asked for with `Accept: application/x-ndjson` streams its
//! progress as JSON lines (`{"event":"start","label","total"}`, `advance`,
//! `finish`, `step`) and ends with `{"event":"done","report"}` or
//! `{"event":"error","error"}`; the CLI draws its progress bar from them.
//!
//! [`Marketplace`]: crate::marketplace::Marketplace

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiQuery, JsonBody};
use crate::Result;
use crate::app::Helmdeck;
use crate::auth::Scope;
use crate::marketplace::{Grants, MarketInstall, MarketListing, PackSpec, Progress, Quiet};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use helmdeck_marketplace::Capability;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

type AppState = State<Arc<Helmdeck>>;

/// Query of `GET /api/v1/marketplace`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingQuery {
    /// Fetch every catalog's index now instead of using the cached one.
    #[serde(default)]
    pub refresh: bool,
    /// Only packs whose name, description, category or tags contain this.
    pub q: Option<String>,
}

/// `GET /api/v1/marketplace`: catalogs and their packs with install state.
pub async fn list(
    State(app): AppState,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListingQuery>,
) -> Result<Json<MarketListing>, ApiError> {
    caller.require(Scope::PacksRead)?;
    let listing = app.marketplace.listing(query.refresh).await?;
    Ok(Json(match &query.q {
        Some(q) => listing.search(q),
        None => listing,
    }))
}

/// Body of `POST /api/v1/marketplace/install`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallBody {
    /// `name` or `name@version`.
    pub pack: String,
    /// The catalog to install from; needed only when several offer the pack.
    pub catalog: Option<String>,
    /// Capabilities to grant; each must be requested by the signed manifest.
    #[serde(default)]
    pub grants: Vec<Capability>,
    /// Install even when a newer version is installed.
    #[serde(default)]
    pub allow_downgrade: bool,
}

/// `POST /api/v1/marketplace/install`: download, verify and hot-load a pack. Admin only.
pub async fn install(
    State(app): AppState,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<InstallBody>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    let req = MarketInstall {
        spec: PackSpec::parse(&body.pack, body.catalog)?,
        grants: Grants::Only(body.grants.into_iter().collect()),
        allow_downgrade: body.allow_downgrade,
        actor: caller.subject.clone(),
    };
    let streaming = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(NDJSON));
    if !streaming {
        return Ok(Json(app.marketplace.install(req, &Quiet).await?).into_response());
    }
    let (events, receiver) = tokio::sync::mpsc::unbounded_channel::<Value>();
    // The install runs to its end even if the client goes away: it is atomic either way.
    tokio::spawn(async move {
        let progress = EventProgress(events.clone());
        let last = match app.marketplace.install(req, &progress).await {
            Ok(report) => json!({ "event": "done", "report": report }),
            Err(error) => json!({ "event": "error", "error": error }),
        };
        let _ = events.send(last);
    });
    let lines = futures::stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(format!("{event}\n")), receiver))
    });
    Ok(([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(lines)).into_response())
}

/// The media type of streamed install progress.
pub const NDJSON: &str = "application/x-ndjson";

/// Progress sent as JSON events to a streaming response.
struct EventProgress(tokio::sync::mpsc::UnboundedSender<Value>);

impl Progress for EventProgress {
    fn start(&self, label: &str, total: Option<u64>) {
        let _ = self.0.send(json!({ "event": "start", "label": label, "total": total }));
    }
    fn advance(&self, bytes: u64) {
        let _ = self.0.send(json!({ "event": "advance", "bytes": bytes }));
    }
    fn finish(&self) {
        let _ = self.0.send(json!({ "event": "finish" }));
    }
    fn step(&self, what: &str) {
        let _ = self.0.send(json!({ "event": "step", "what": what }));
    }
}

/// Body of `POST /api/v1/marketplace/upgrade`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeBody {
    /// The pack to upgrade; every pack installed from a catalog when absent.
    pub pack: Option<String>,
    /// Capabilities to grant beyond those the installed version has.
    #[serde(default)]
    pub grants: Vec<Capability>,
}

/// `POST /api/v1/marketplace/upgrade`: upgrade one or every catalog-installed pack. Admin only.
pub async fn upgrade(
    State(app): AppState,
    caller: Caller,
    JsonBody(body): JsonBody<UpgradeBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    let grants: BTreeSet<Capability> = body.grants.into_iter().collect();
    let outcomes = app.marketplace.upgrade(body.pack.as_deref(), &grants, &caller.subject, &Quiet).await?;
    Ok(Json(json!({ "packs": outcomes })))
}
