//! The AI gateway's OpenAI-compatible routes: `POST /v1/chat/completions`
//! (a whole answer, or server-sent `data:` chunks ending in `[DONE]`) and
//! `GET /v1/models`, declared in [`super::routes::v1_routes`].
//!
//! A Helmdeck token with scope `llm:call` is the bearer (what OpenAI
//! clients send as their API key). Errors come in OpenAI's shape,
//! `{"error": {"message", "type", "param", "code"}}`, with `code` from the
//! closed set and the status fixed for it, so OpenAI clients raise their
//! usual exceptions. Chat calls are audited by the gateway itself (with
//! provider, model, tokens and attempts); everything else by the middleware.

use super::auth::{AlreadyAudited, Caller};
use crate::app::Helmdeck;
use crate::auth::Scope;
use crate::gateway::{Caller as GatewayCaller, ChatRequest, Reply};
use crate::{Error, ErrorCode};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;

/// Header naming the `provider/model` that answered.
pub const MODEL_HEADER: &str = "x-helmdeck-model";
/// Header naming the provider that answered.
pub const PROVIDER_HEADER: &str = "x-helmdeck-provider";

/// An [`Error`] in OpenAI's error shape.
#[derive(Debug)]
pub struct OpenAiError(pub Error);

impl From<Error> for OpenAiError {
    fn from(error: Error) -> Self {
        OpenAiError(error)
    }
}

/// OpenAI's error `type` for a code of the closed set.
fn error_type(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidInput | ErrorCode::SchemaMismatch => "invalid_request_error",
        ErrorCode::AuthFailed => "authentication_error",
        ErrorCode::Unauthorized | ErrorCode::EgressDenied => "permission_error",
        ErrorCode::NotFound => "not_found_error",
        ErrorCode::RateLimited => "rate_limit_error",
        ErrorCode::Timeout => "timeout_error",
        _ => "api_error",
    }
}

/// The `error` object of OpenAI's shape.
pub fn error_body(error: &Error) -> Value {
    let mut body = json!({
        "message": error.message,
        "type": error_type(error.code),
        "param": null,
        "code": error.code,
    });
    if let Some(ms) = error.retry_after_ms {
        body["retry_after_ms"] = json!(ms);
    }
    if let Some(details) = &error.details {
        body["details"] = details.clone();
    }
    json!({ "error": body })
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let status = StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(error_body(&error))).into_response();
        if error.code == ErrorCode::AuthFailed {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(ms) = error.retry_after_ms
            && let Ok(v) = HeaderValue::from_str(&ms.div_ceil(1000).max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response.extensions_mut().insert(error.code);
        response
    }
}

/// A refusal in OpenAI's error shape.
pub fn refuse(error: Error) -> Response {
    OpenAiError(error).into_response()
}

/// Middleware for `/v1`: the `/api/v1` authentication and audit, with
/// refusals in OpenAI's shape.
pub async fn authenticate(State(app): State<Arc<Helmdeck>>, request: Request, next: Next) -> Response {
    super::auth::authenticate_with(app, request, next, refuse).await
}

/// A known `/v1` route with the wrong method.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let error = Error::invalid_input(format!("`{method}` is not supported on `{}`", uri.path()));
    let mut response = OpenAiError(error).into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(app): State<Arc<Helmdeck>>, caller: Caller, body: Bytes) -> Response {
    if let Err(e) = caller.require(Scope::LlmCall) {
        return OpenAiError(e).into_response();
    }
    // An empty body reads as `{}`, as on every other route (and so names what is missing).
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &body };
    let mut reader = serde_json::Deserializer::from_slice(text);
    let request: ChatRequest = match serde_path_to_error::deserialize(&mut reader) {
        Ok(request) => request,
        Err(e) => {
            // Name the field (`messages[0].role`), as every other route does.
            let field = e.path().to_string();
            let e = e.into_inner();
            let at = if field == "." { String::new() } else { format!("`{field}`: ") };
            let error = Error::invalid_input(format!("the request is not a chat completion request: {at}{e}"))
                .with_details(json!({ "field": field, "line": e.line(), "column": e.column() }));
            return OpenAiError(error).into_response();
        }
    };
    let who = GatewayCaller::rest(&caller.subject, "POST /v1/chat/completions", body.len() as u64);
    let mut response = match app.gateway.chat(&who, request).await {
        Ok(Reply::Complete(answer)) => {
            let mut response = axum::Json(&answer.response).into_response();
            name_answerer(&mut response, &answer.answered_by);
            response
        }
        Ok(Reply::Stream(stream)) => {
            let answered_by = stream.answered_by.clone();
            let mut response = sse(stream);
            name_answerer(&mut response, &answered_by);
            response
        }
        Err(error) => OpenAiError(error).into_response(),
    };
    response.extensions_mut().insert(AlreadyAudited);
    response
}

fn name_answerer(response: &mut Response, model: &crate::gateway::ModelRef) {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&model.to_string()) {
        headers.insert(MODEL_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&model.provider) {
        headers.insert(PROVIDER_HEADER, v);
    }
}

/// The stream as server-sent events: one `data:` per chunk, `[DONE]` at the
/// end, or a last `data: {"error": ...}` when the provider failed midway.
fn sse(stream: crate::gateway::AnswerStream) -> Response {
    let events = futures::stream::unfold((stream, false), |(mut stream, over)| async move {
        if over {
            return None;
        }
        let event = match stream.next().await {
            Some(Ok(chunk)) => match serde_json::to_string(&chunk) {
                Ok(text) => (format!("data: {text}\n\n"), false),
                Err(e) => (format!("data: {}\n\n", error_body(&Error::internal(e.to_string()))), true),
            },
            Some(Err(error)) => (format!("data: {}\n\n", error_body(&error)), true),
            None => ("data: [DONE]\n\n".to_owned(), true),
        };
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(event.0)), (stream, event.1)))
    });
    let mut response = Response::new(Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /v1/models`: the aliases and every usable provider's configured models.
pub async fn models(State(app): State<Arc<Helmdeck>>, caller: Caller) -> Result<axum::Json<Value>, OpenAiError> {
    caller.require(Scope::LlmCall)?;
    let data: Vec<Value> = app
        .gateway
        .models()
        .await?
        .into_iter()
        .map(|(id, owner)| json!({ "id": id, "object": "model", "created": 0, "owned_by": owner }))
        .collect();
    Ok(axum::Json(json!({ "object": "list", "data": data })))
}
