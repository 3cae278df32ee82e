//! What every route does with a request before its handler sees it, in
//! one place, from the route's entry in the table ([`super::routes`]):
//!
//! - a query parameter the route does not document is `invalid_input`
//!   naming it (a misspelt filter never silently matches everything);
//! - a route that documents no request body refuses a non-empty one;
//! - a documented body is JSON, an empty body reads as `{}`, and it must
//!   match the documented JSON Schema (`invalid_input` with one JSON
//!   pointer per violation, messages that never quote a value) before it is
//!   deserialized ([`JsonBody`]); a tool's input ([`ToolInput`]) is checked
//!   by the dispatcher against the tool's own schema instead, so that the
//!   refusal is audited as a call of that tool;
//! - a body over the route's size limit, and query values of the wrong
//!   type ([`ApiQuery`]), are `invalid_input` in the error shape too.
//!
//! [`check`] runs as a layer of every route and leaves the route's
//! [`RequestRules`] in the request for the extractors.

use super::error::ApiError;
use super::routes::Route;
use crate::Error;
use crate::registry::{masked_violations, violation_summary};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

/// Most bytes read of a body sent to a route that takes none, to tell
/// whitespace from content.
const NO_BODY_PEEK: usize = 4096;

/// What one route accepts besides its path: its documented query
/// parameters and request body.
pub struct RequestRules {
    /// `POST /api/v1/sessions`, for messages.
    route: String,
    /// The documented query parameters.
    query: Vec<&'static str>,
    /// The documented body's schema, compiled; `None` for a route without a body.
    body: Option<jsonschema::Validator>,
    /// How a refusal is answered: Helmdeck's error shape, or OpenAI's on `/v1`.
    refuse: fn(Error) -> Response,
}

/// A refusal in Helmdeck's error shape.
fn api_refusal(error: Error) -> Response {
    ApiError::from(error).into_response()
}

impl RequestRules {
    /// Rules for `route` (`GET /healthz`) with query parameters `query` and
    /// a body matching `body`, when it takes one.
    ///
    /// # Panics
    /// When `body` is not valid JSON Schema: route schemas are written in
    /// the source, and a test compiles every one of them.
    pub fn new(route: impl Into<String>, query: &[&'static str], body: Option<&Value>) -> RequestRules {
        let route = route.into();
        let body = body.map(|schema| {
            jsonschema::validator_for(schema)
                .unwrap_or_else(|e| panic!("the request schema of `{route}` is not valid JSON Schema: {e}"))
        });
        RequestRules { route, query: query.to_vec(), body, refuse: api_refusal }
    }

    /// These rules, with refusals answered by `refuse` (the `/v1` routes
    /// answer in OpenAI's error shape).
    pub fn answering(self, refuse: fn(Error) -> Response) -> RequestRules {
        RequestRules { refuse, ..self }
    }

    /// The rules a table entry documents.
    pub fn of(route: &Route) -> RequestRules {
        let query: Vec<&'static str> = route.doc.query.iter().map(|(name, _)| *name).collect();
        RequestRules::new(format!("{} {}", route.method, route.path), &query, route.doc.request.as_ref())
    }

    /// `handler` with these rules enforced in front of it.
    pub fn apply<S: Clone + Send + Sync + 'static>(self, handler: MethodRouter<S>) -> MethodRouter<S> {
        handler.layer(axum::middleware::from_fn_with_state(Arc::new(self), check))
    }

    fn unknown_parameter(&self, name: &str) -> Error {
        let accepted = match self.query.as_slice() {
            [] => "it takes none".to_owned(),
            names => format!("it takes {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
        };
        Error::invalid_input(format!("`{}` has no query parameter `{name}`: {accepted}", self.route))
            .with_details(json!({ "parameter": name, "accepted": self.query }))
    }
}

/// Middleware: refuse undocumented query parameters and a body the route
/// does not take, then pass the rules on to the body extractors.
pub async fn check(State(rules): State<Arc<RequestRules>>, mut request: Request, next: Next) -> Response {
    let query = request.uri().query().unwrap_or_default();
    if let Some((name, _)) = url::form_urlencoded::parse(query.as_bytes()).find(|(n, _)| !rules.query.contains(&&**n)) {
        return (rules.refuse)(rules.unknown_parameter(&name));
    }
    if rules.body.is_none() && !request.body().is_end_stream() {
        let (parts, body) = request.into_parts();
        match axum::body::to_bytes(body, NO_BODY_PEEK).await {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
                request = Request::from_parts(parts, Body::from(bytes))
            }
            _ => {
                let refused = Error::invalid_input(format!("`{}` takes no request body; send none", rules.route));
                return (rules.refuse)(refused);
            }
        }
    }
    request.extensions_mut().insert(rules);
    next.run(request).await
}

/// A request body checked against the route's documented schema, then
/// deserialized into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let rules = request.extensions().get::<Arc<RequestRules>>().cloned();
        let route = rules.as_ref().map_or("this route", |r| r.route.as_str()).to_owned();
        let value = read_json(request, state, &route).await?;
        if let Some(validator) = rules.as_ref().and_then(|r| r.body.as_ref()) {
            let violations = masked_violations(validator, &value);
            if !violations.is_empty() {
                return Err(Error::invalid_input(format!(
                    "the request body of `{route}` does not match its schema: {}",
                    violation_summary(&violations)
                ))
                .with_details(json!({ "violations": violations }))
                .into());
            }
        }
        let parsed = serde_json::from_value(value)
            .map_err(|e| Error::invalid_input(format!("the request body of `{route}`: {e}")))?;
        Ok(JsonBody(parsed))
    }
}

/// A tool's input: JSON, `{}` when empty, checked later by the dispatcher
/// against the tool's own schema (so that a refusal is audited as a call).
#[derive(Debug)]
pub struct ToolInput(pub Value);

impl<S: Send + Sync> FromRequest<S> for ToolInput {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(ToolInput(read_json(request, state, "a tool call").await?))
    }
}

/// Query parameters deserialized into `T`; a value that does not fit is
/// `invalid_input` naming the parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let route = parts.extensions.get::<Arc<RequestRules>>().map_or("this route", |r| r.route.as_str()).to_owned();
        let Query(query) = Query::try_from_uri(&parts.uri)
            .map_err(|e| Error::invalid_input(format!("the query parameters of `{route}`: {}", e.body_text())))?;
        Ok(ApiQuery(query))
    }
}

/// The body as JSON: `{}` when empty, `invalid_input` with the position of
/// a syntax error, or when it is over the route's size limit.
async fn read_json<S: Send + Sync>(request: Request, state: &S, route: &str) -> Result<Value, ApiError> {
    let bytes = Bytes::from_request(request, state).await.map_err(|e| {
        let why = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "it is larger than the route accepts".to_owned(),
            _ => e.body_text(),
        };
        Error::invalid_input(format!("the request body of `{route}` could not be read: {why}"))
    })?;
    Ok(parse_json_body(&bytes)?)
}

/// Parse a request body as JSON; an empty body is `{}` (tools without
/// required fields take no body). Errors are `invalid_input` with the
/// position of the problem.
pub fn parse_json_body(bytes: &[u8]) -> Result<Value, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        Error::invalid_input(format!("the request body is not valid JSON: {e}"))
            .with_details(json!({ "line": e.line(), "column": e.column() }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_request_schema_compiles() {
        for route in super::super::routes::api_routes() {
            let rules = RequestRules::of(&route);
            assert_eq!(rules.body.is_some(), route.doc.request.is_some(), "{}", rules.route);
        }
    }

    #[test]
    fn an_unknown_parameter_is_named_with_the_ones_the_route_takes() {
        let rules = RequestRules::new("GET /x", &["all"], None);
        let err = rules.unknown_parameter("colour");
        assert!(err.message.contains("`colour`") && err.message.contains("`all`"), "{}", err.message);
        let none = RequestRules::new("GET /y", &[], None).unknown_parameter("q");
        assert!(none.message.contains("takes none"), "{}", none.message);
    }
}
