//! The HTTP surface: health probes, the authenticated, audited `/api/v1`
//! REST API, the AI gateway's OpenAI-compatible `/v1` ([`openai`]), and MCP ([`mcp`]: `/mcp` and the legacy SSE transport). REST
//! routes are declared once in [`routes`]; the router and the OpenAPI
//! document are built from that table, and [`extract`] enforces what each
//! entry documents (query parameters, body). Signed artifact links
//! (`/shared/artifacts/{id}`) carry their own credential and sit outside the
//! token check.

mod artifacts;
mod audit;
pub mod auth;
mod connect;
pub mod error;
pub mod extract;
mod health;
mod marketplace;
pub mod mcp;
pub mod openai;
pub mod openapi;
mod packs;
mod providers;
pub mod routes;
mod sessions;
mod vault;
pub mod views;

use crate::app::Helmdeck;
use axum::Router;
use axum::routing::get;
use extract::RequestRules;
use std::sync::Arc;

/// The whole HTTP application.
pub fn router(app: Arc<Helmdeck>) -> Router {
    let mut api = Router::new();
    for route in routes::api_routes() {
        let rules = RequestRules::of(&route);
        api = api.route(route.path, rules.apply(route.handler));
    }
    let open = |route: &str, query: &[&'static str]| RequestRules::new(format!("GET {route}"), query, None);
    let shared_query: Vec<&'static str> = routes::SHARED_ARTIFACT_QUERY.iter().map(|(name, _)| *name).collect();
    let api = api
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), auth::authenticate))
        .method_not_allowed_fallback(error::wrong_method);
    let mut v1 = Router::new();
    for route in routes::v1_routes() {
        let rules = RequestRules::of(&route).answering(openai::refuse);
        v1 = v1.route(route.path, rules.apply(route.handler));
    }
    let v1 = v1
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), openai::authenticate))
        .method_not_allowed_fallback(openai::wrong_method);
    Router::new()
        .route("/healthz", open("/healthz", &[]).apply(get(health::healthz)))
        .route("/readyz", open("/readyz", &[]).apply(get(health::readyz)))
        .route(
            routes::SHARED_ARTIFACT_PATH,
            open(routes::SHARED_ARTIFACT_PATH, &shared_query).apply(get(artifacts::shared_download)),
        )
        .merge(api)
        .merge(v1)
        .merge(mcp::router(app.clone()))
        .fallback(error::no_route)
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app)
}
