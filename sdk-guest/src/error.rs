//! The error a tool returns: a code from the host's closed set plus a message
//! the calling agent can act on.

use crate::bindings::helmdeck::host::types;
use std::fmt;

pub use types::ErrorCode;

/// A tool failure. Capability errors convert with `?`; build your own with
/// the constructors ([`ToolError::invalid_input`] for bad arguments the schema
/// could not catch, [`ToolError::not_found`], ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// One sentence naming what failed and what to do next.
    pub message: String,
    /// Optional structured specifics, sent to the caller as JSON.
    pub details: Option<serde_json::Value>,
    /// With `RateLimited`: how long to wait before retrying.
    pub retry_after_ms: Option<u64>,
}

/// What a tool function returns.
pub type ToolResult<T> = Result<T, ToolError>;

impl ToolError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ToolError { code, message: message.into(), details: None, retry_after_ms: None }
    }

    /// Attach structured details (any JSON value).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The input cannot be used; say which field and why.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        ToolError::new(ErrorCode::InvalidInput, message)
    }

    /// The thing the input names does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        ToolError::new(ErrorCode::NotFound, message)
    }

    /// A result came back in an unexpected shape.
    pub fn schema_mismatch(message: impl Into<String>) -> Self {
        ToolError::new(ErrorCode::SchemaMismatch, message)
    }

    /// A fault in the pack itself.
    pub fn internal(message: impl Into<String>) -> Self {
        ToolError::new(ErrorCode::InternalError, message)
    }

    /// The code's wire name (`not_found`), for details a pack reports.
    pub fn code_name(&self) -> &'static str {
        match self.code {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Timeout => "timeout",
            ErrorCode::NetworkError => "network_error",
            ErrorCode::EgressDenied => "egress_denied",
            ErrorCode::SchemaMismatch => "schema_mismatch",
            ErrorCode::SessionUnavailable => "session_unavailable",
            ErrorCode::ResourceExhausted => "resource_exhausted",
            ErrorCode::InternalError => "internal_error",
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for ToolError {}

impl From<types::Error> for ToolError {
    fn from(e: types::Error) -> Self {
        ToolError {
            code: e.code,
            message: e.message,
            details: e.details.and_then(|d| serde_json::from_str(&d).ok()),
            retry_after_ms: e.retry_after_ms,
        }
    }
}

impl From<ToolError> for types::Error {
    fn from(e: ToolError) -> Self {
        types::Error {
            code: e.code,
            message: e.message,
            retry_after_ms: e.retry_after_ms,
            details: e.details.map(|d| d.to_string()),
        }
    }
}
