//! Authentication and the per-request audit record for `/api/v1`.
//!
//! Every request under `/api/v1` needs a valid bearer token (401 in the
//! error shape otherwise) and leaves one audit record. Tool calls are
//! recorded by the dispatcher with their pack details; their handlers mark
//! the response so this layer does not record them twice. Refusals of
//! requests without a valid token are sampled per source address
//! ([`crate::audit::sampler`]): nobody without a token can grow the log
//! without bound.

use super::error::ApiError;
use crate::app::Helmdeck;
use crate::audit::{AuditEvent, AuditKind, Decision, Outcome, source_of};
use crate::auth::Principal;
use crate::{Error, ErrorCode};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Extensions, HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Set on a response whose request the dispatcher already audited.
#[derive(Debug, Clone, Copy)]
pub struct AlreadyAudited;

/// Middleware: verify the bearer token, run the handler, audit the request.
pub async fn authenticate(State(app): State<Arc<Helmdeck>>, request: Request, next: Next) -> Response {
    authenticate_with(app, request, next, |error| ApiError::from(error).into_response()).await
}

/// [`authenticate`] with refusals (a bad token, a failed audit write)
/// answered by `refuse`: the `/v1` routes answer in OpenAI's error shape.
pub async fn authenticate_with(
    app: Arc<Helmdeck>,
    mut request: Request,
    next: Next,
    refuse: fn(Error) -> Response,
) -> Response {
    let started = Instant::now();
    let route = format!(
        "{} {}",
        request.method(),
        request.extensions().get::<MatchedPath>().map_or(request.uri().path(), |p| p.as_str())
    );
    let target = request.uri().path().to_owned();
    let source = source(request.extensions());
    let principal = verify(&app, request.headers());
    let authenticated = principal.is_ok();
    let (actor, response) = match principal {
        Ok(principal) => {
            let actor = principal.subject.clone();
            request.extensions_mut().insert(principal);
            (actor, next.run(request).await)
        }
        Err(error) => (ANONYMOUS.to_owned(), refuse(error)),
    };
    if response.extensions().get::<AlreadyAudited>().is_some() {
        return response;
    }
    let mut event = AuditEvent::new(AuditKind::Api, actor);
    event.capability = Some(route);
    event.target = Some(target);
    event.duration_us = started.elapsed().as_micros() as u64;
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        event.outcome = Outcome::Error(*code);
        if matches!(code, ErrorCode::AuthFailed | ErrorCode::Unauthorized) {
            event.decision = Decision::Deny;
        }
    }
    let recorded = match authenticated {
        true => app.audit.record(event).await.map(drop),
        false => app.audit.record_unauthenticated(&source, event).await,
    };
    if let Err(e) = recorded {
        // The action already happened; refuse to report success for it unrecorded.
        tracing::error!(error = %e, "audit record failed");
        return refuse(e);
    }
    response
}

/// The audit actor of a request no valid token vouches for.
pub const ANONYMOUS: &str = "anonymous";

/// Where a request came from, as the sampling of unauthenticated refusals
/// counts it: the peer's address (`serve` records it with each connection),
/// `unknown` without one.
pub fn source(extensions: &Extensions) -> String {
    source_of(extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
}

/// The caller a request's `Authorization: Bearer` token names; `auth_failed`
/// when it is missing, malformed, signed by another key or expired.
pub fn verify(app: &Helmdeck, headers: &HeaderMap) -> Result<Principal, Error> {
    bearer(headers).and_then(|token| app.tokens.verify(token))
}

fn bearer(headers: &HeaderMap) -> Result<&str, Error> {
    let missing = || {
        Error::new(
            ErrorCode::AuthFailed,
            "missing bearer token: send `Authorization: Bearer <token>` (create one with `helmdeck token issue`)",
        )
    };
    let value = headers.get(header::AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(missing()),
    }
}

/// The authenticated caller, put in the request by [`authenticate`].
pub type Caller = axum::Extension<Principal>;
