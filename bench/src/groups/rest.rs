//! The REST round trip of the trivial tool on loopback, against a native
//! axum handler doing the same work as the baseline.
//!
//! Both servers run in this process on the same runtime, each on its own
//! 127.0.0.1 listener; one keep-alive client sends the same body with the
//! same bearer token to each, alternately and sequentially. The Helmdeck
//! side is the real router (`helmdeck::api::router`) with a real token; the
//! native side runs the pack's own Rust code (`pack_text::Pack`) compiled
//! natively and answers the same JSON envelope (`CallResponse`). The
//! difference of the medians is what Helmdeck adds: authentication, input and
//! output validation, the sandboxed instance, the audit record.

use super::Context;
use crate::fixture::{self, TOOL};
use crate::report::{Entry, Target, Unit};
use crate::sample::sample_alternating;
use anyhow::{Result, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use helmdeck::auth::Scope;
use helmdeck::dispatch::CallResponse;
use helmdeck_sdk::PackDefinition;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const GROUP: &str = "rest";

/// The issue's target for Helmdeck's REST overhead over the native handler, in microseconds.
const OVERHEAD_P50_MAX_US: f64 = 300.0;

pub fn run(ctx: &Context) -> Result<Vec<Entry>> {
    ctx.in_process(async |app| {
        let token = app.tokens.issue("bench", &BTreeSet::from([Scope::PacksCall]), Duration::from_secs(3600))?;
        let version =
            app.registry.snapshot().resolve(&helmdeck::registry::ToolRef::parse(TOOL)?)?.0.manifest.version.to_string();
        let ours = format!("{}/api/v1/packs/{TOOL}", serve(helmdeck::api::router(app)).await?);
        let native = format!("{}/{TOOL}", serve(native_router(version)).await?);

        let client = reqwest::Client::new();
        let body = Bytes::from(fixture::input().to_string());
        let post = |url: &str| {
            let request =
                client.post(url).bearer_auth(&token).header(CONTENT_TYPE, "application/json").body(body.clone());
            async move {
                let response = request.send().await?;
                let status = response.status();
                let bytes = response.bytes().await?;
                ensure!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&bytes));
                Ok(bytes)
            }
        };
        for (what, url) in [("helmdeck", &ours), ("native", &native)] {
            let answer: Value = serde_json::from_slice(&post(url).await?)?;
            fixture::check_output(what, &answer["output"])?;
        }
        let (ours_us, native_us) = sample_alternating(ctx.plan(5_000), || post(&ours), || post(&native)).await?;

        let native_entry = Entry::new(
            GROUP,
            "rest.native",
            "baseline: the same request to a plain axum handler running text.stats' code natively \
             and answering the same JSON envelope, same process, same client",
            Unit::Micros,
            &native_us,
        )
        .context("tool", TOOL);
        let ours_entry = Entry::new(
            GROUP,
            "rest.helmdeck",
            "POST /api/v1/packs/text.stats on loopback through helmdeck::api::router with a bearer token \
             (keep-alive, sequential)",
            Unit::Micros,
            &ours_us,
        )
        .against(&native_entry)
        .target(Target::P50OverBaseline { max: OVERHEAD_P50_MAX_US })
        .context("tool", TOOL)
        .context("request_bytes", body.len());
        Ok(vec![ours_entry, native_entry])
    })
}

/// Serve `router` on a fresh loopback port until the runtime stops; its base URL.
async fn serve(router: Router) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(format!("http://{addr}"))
}

/// `POST /text.stats`: the baseline handler.
fn native_router(version: String) -> Router {
    Router::new().route(&format!("/{TOOL}"), axum::routing::post(native_stats)).with_state(Arc::new(version))
}

async fn native_stats(State(version): State<Arc<String>>, body: Bytes) -> Response {
    let started = Instant::now();
    let input = String::from_utf8_lossy(&body);
    let output = match pack_text::Pack::call("stats", &input) {
        Ok(text) => serde_json::from_str::<Value>(&text),
        Err(e) => return (StatusCode::BAD_REQUEST, e.message).into_response(),
    };
    match output {
        Ok(output) => axum::Json(CallResponse {
            call_id: uuid::Uuid::now_v7().to_string(),
            pack: "text".into(),
            tool: "stats".into(),
            version: version.to_string(),
            session_id: None,
            duration_ms: started.elapsed().as_secs_f64() * 1e3,
            output,
        })
        .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
