//! Answers of the REST API, and the checks every test makes on them: a
//! success carries JSON; a failure carries the one error shape
//! `{"error": {"code", "message", ...}}` with the status fixed for its code.

use anyhow::{Context, Result};
use serde_json::Value;

/// Every error code of the closed set with its fixed HTTP status.
pub const ERROR_STATUS: [(&str, u16); 12] = [
    ("invalid_input", 400),
    ("auth_failed", 401),
    ("unauthorized", 403),
    ("egress_denied", 403),
    ("not_found", 404),
    ("schema_mismatch", 422),
    ("rate_limited", 429),
    ("internal_error", 500),
    ("network_error", 502),
    ("session_unavailable", 503),
    ("timeout", 504),
    ("resource_exhausted", 507),
];

/// One HTTP answer: status and JSON body (`Value::Null` when the body is
/// empty or not JSON; [`ApiResponse::text`] keeps the raw text).
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The body parsed as JSON.
    pub body: Value,
    /// The body as received.
    pub text: String,
}

impl ApiResponse {
    /// Read `response` whole.
    pub async fn read(response: reqwest::Response) -> Result<ApiResponse> {
        let status = response.status().as_u16();
        let text = response.text().await.context("reading the response body")?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(ApiResponse { status, body, text })
    }

    /// The body of a 2xx answer; panics with the whole answer otherwise.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!((200..300).contains(&self.status), "expected success, got {}: {}", self.status, self.text);
        &self.body
    }

    /// The `error` object of a failure with `code`, after checking the error
    /// shape (`code` from the closed set, a non-empty `message`) and that the
    /// HTTP status is the one fixed for `code`. Panics with the whole answer
    /// otherwise.
    #[track_caller]
    pub fn error(&self, code: &str) -> &Value {
        let expected = ERROR_STATUS
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, s)| *s)
            .unwrap_or_else(|| panic!("`{code}` is not an error code of the closed set"));
        let error = &self.body["error"];
        assert_eq!(error["code"], code, "expected error `{code}`, got {}: {}", self.status, self.text);
        assert_eq!(self.status, expected, "`{code}` must answer HTTP {expected}: {}", self.text);
        assert!(
            error["message"].as_str().is_some_and(|m| !m.trim().is_empty()),
            "error without a message: {}",
            self.text
        );
        let keys: Vec<&String> = self.body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        assert_eq!(keys, ["error"], "the error shape has one top-level key, `error`: {}", self.text);
        error
    }

    /// The message of a failure with `code` (see [`ApiResponse::error`]).
    #[track_caller]
    pub fn error_message(&self, code: &str) -> String {
        self.error(code)["message"].as_str().unwrap_or_default().to_owned()
    }

    /// The JSON pointers of an `invalid_input` failure's schema violations.
    #[track_caller]
    pub fn violation_pointers(&self) -> Vec<String> {
        let error = self.error("invalid_input");
        error["details"]["violations"]
            .as_array()
            .unwrap_or_else(|| panic!("`invalid_input` without `details.violations`: {}", self.text))
            .iter()
            .map(|v| v["pointer"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}
