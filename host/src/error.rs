//! The closed set of error codes and the one error type that crosses every
//! edge (REST, MCP, the audit log, the WIT `error` record).
//!
//! Library modules keep their own `thiserror` enums and convert into
//! [`Error`] in one `From` impl each; nothing uncategorised escapes. Messages
//! name what failed and what to do next, and never carry secrets.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The closed set of error codes, mirroring `helmdeck:host/types.error-code`.
/// On the wire they are snake_case (`invalid_input`, `egress_denied`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input does not match the tool's schema or is otherwise unusable.
    InvalidInput,
    /// The caller is known but not allowed to do this (scope, grant, ACL).
    Unauthorized,
    /// The caller could not be authenticated (missing, bad or expired token).
    AuthFailed,
    /// The named pack, tool, session, artifact or file does not exist.
    NotFound,
    /// Too many requests; `retry_after_ms` says when to try again.
    RateLimited,
    /// The operation ran past its deadline and was stopped.
    Timeout,
    /// A remote could not be reached or broke the connection.
    NetworkError,
    /// The egress guard refused the destination.
    EgressDenied,
    /// A result did not have the promised shape.
    SchemaMismatch,
    /// The session is gone or not usable.
    SessionUnavailable,
    /// A limit was hit: memory, output size, concurrency.
    ResourceExhausted,
    /// A fault inside Helmdeck or a pack.
    InternalError,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::InvalidInput,
        ErrorCode::Unauthorized,
        ErrorCode::AuthFailed,
        ErrorCode::NotFound,
        ErrorCode::RateLimited,
        ErrorCode::Timeout,
        ErrorCode::NetworkError,
        ErrorCode::EgressDenied,
        ErrorCode::SchemaMismatch,
        ErrorCode::SessionUnavailable,
        ErrorCode::ResourceExhausted,
        ErrorCode::InternalError,
    ];

    /// The wire name (`invalid_input`).
    pub fn as_str(self) -> &'static str {
        match self {
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

    /// Parse a wire name; `None` for anything outside the closed set.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The fixed HTTP status REST answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidInput => 400,
            ErrorCode::AuthFailed => 401,
            ErrorCode::Unauthorized | ErrorCode::EgressDenied => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::RateLimited => 429,
            ErrorCode::SchemaMismatch => 422,
            ErrorCode::InternalError => 500,
            ErrorCode::NetworkError => 502,
            ErrorCode::SessionUnavailable => 503,
            ErrorCode::Timeout => 504,
            ErrorCode::ResourceExhausted => 507,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error at Helmdeck's edges: a code from the closed set, a message a
/// person or a model can act on, and optional structured details.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[error("{code}: {message}")]
pub struct Error {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// One sentence naming what failed and what to do next.
    pub message: String,
    /// Specifics, such as the failing JSON pointers of `invalid_input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// With `rate_limited`: how long to wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl Error {
    /// An error with `code` and `message` and nothing else.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), details: None, retry_after_ms: None }
    }

    /// Attach structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Attach a retry hint (for `rate_limited`).
    pub fn with_retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }

    /// `invalid_input` with `message`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidInput, message)
    }

    /// `not_found` with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::NotFound, message)
    }

    /// `unauthorized` with `message`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Unauthorized, message)
    }

    /// `internal_error` with `message`. Use for faults, never for bad input.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InternalError, message)
    }
}

/// Results at Helmdeck's edges.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_serde_and_parse() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("teapot"), None);
    }

    #[test]
    fn every_code_maps_to_a_client_or_server_error_status() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
        assert_eq!(ErrorCode::AuthFailed.http_status(), 401);
        assert_eq!(ErrorCode::InvalidInput.http_status(), 400);
    }
}
