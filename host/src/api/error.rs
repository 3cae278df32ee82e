//! The one JSON error shape of the REST API:
//! `{"error": {"code", "message", "details"?, "retry_after_ms"?, "call_id"?}}`
//! with a fixed HTTP status per code (see [`crate::ErrorCode::http_status`]).

use crate::{Error, ErrorCode};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An [`Error`] as an HTTP response. Handlers return `Result<_, ApiError>`.
#[derive(Debug)]
pub struct ApiError {
    pub error: Error,
    /// The call this error belongs to, when a tool call was made.
    pub call_id: Option<String>,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError { error, call_id: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({ "code": self.error.code, "message": self.error.message });
        if let Some(details) = self.error.details {
            body["details"] = details;
        }
        if let Some(ms) = self.error.retry_after_ms {
            body["retry_after_ms"] = Value::from(ms);
        }
        if let Some(call_id) = self.call_id {
            body["call_id"] = Value::from(call_id);
        }
        let mut response = (status, axum::Json(json!({ "error": body }))).into_response();
        if self.error.code == ErrorCode::AuthFailed {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(ms) = self.error.retry_after_ms
            && let Ok(v) = HeaderValue::from_str(&ms.div_ceil(1000).max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response.extensions_mut().insert(self.error.code);
        response
    }
}

/// Answer for unknown routes, in the error shape.
pub async fn no_route(uri: axum::http::Uri) -> ApiError {
    Error::not_found(format!("no route `{}`; `GET /api/v1/openapi.json` lists every route", uri.path())).into()
}

/// Answer for a known route with the wrong method, in the error shape.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let mut response = ApiError::from(Error::invalid_input(format!("`{method}` is not supported on `{}`", uri.path())))
        .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}
