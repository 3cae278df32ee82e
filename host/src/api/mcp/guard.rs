//! What every MCP request passes before rmcp sees it, on both transports:
//! the `Host` and `Origin` checks that stop DNS-rebinding and cross-site
//! requests, then the bearer token (the same JWTs as REST). Refusals answer
//! in the REST error shape (401 with `WWW-Authenticate: Bearer`, 403) and are
//! audited as denials, sampled like every unauthenticated refusal;
//! admitted requests carry the [`Principal`](crate::auth::Principal) in
//! their extensions, where the MCP handler reads it.

use crate::Error;
use crate::api::auth::{ANONYMOUS, source, verify};
use crate::api::error::ApiError;
use crate::app::Helmdeck;
use crate::audit::{AuditEvent, AuditKind, Decision, Outcome};
use crate::config::McpConfig;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Middleware: check `Host` and `Origin`, authenticate, then pass on.
pub async fn admit(State(app): State<Arc<Helmdeck>>, mut request: Request, next: Next) -> Response {
    let checked =
        check_host_and_origin(&app.config.mcp, request.headers()).and_then(|()| verify(&app, request.headers()));
    match checked {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => {
            let mut event = AuditEvent::new(AuditKind::Api, ANONYMOUS);
            event.capability = Some(format!("{} {}", request.method(), request.uri().path()));
            event.outcome = Outcome::Error(error.code);
            event.decision = Decision::Deny;
            event.details = Some(serde_json::json!({ "message": error.message }));
            if let Err(e) = app.audit.record_unauthenticated(&source(request.extensions()), event).await {
                tracing::error!(error = %e, "audit record failed");
            }
            ApiError::from(error).into_response()
        }
    }
}

/// `unauthorized` when the `Host` header is not in the allow-list, or an
/// `Origin` header is present and not in its allow-list.
pub fn check_host_and_origin(config: &McpConfig, headers: &HeaderMap) -> Result<(), Error> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let Some((name, port)) = split_authority(host) else {
        return Err(Error::invalid_input(format!("the Host header `{host}` is not a host name")));
    };
    if !config.allowed_hosts.iter().any(|allowed| host_matches(allowed, &name, port)) {
        return Err(Error::unauthorized(format!(
            "MCP requests for host `{host}` are refused (DNS-rebinding protection); if clients reach this server \
             under that name, add it with --mcp-allowed-hosts or HELMDECK_MCP_ALLOWED_HOSTS"
        )));
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default();
    if config.allowed_origins.iter().any(|allowed| origin_matches(allowed, origin)) {
        return Ok(());
    }
    Err(Error::unauthorized(format!(
        "MCP requests from the browser origin `{origin}` are refused; allow it with --mcp-allowed-origins or \
         HELMDECK_MCP_ALLOWED_ORIGINS (for example `{origin}`)"
    )))
}

/// `host[:port]` or `[v6][:port]` → lower-case host without brackets, port.
fn split_authority(text: &str) -> Option<(String, Option<u16>)> {
    let authority: axum::http::uri::Authority = text.parse().ok()?;
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    Some((host, authority.port_u16()))
}

/// An allow-list entry matches a name at any port (`localhost`, `::1`), or
/// a name at one port (`deck.lan:8931`, `[::1]:8931`).
fn host_matches(allowed: &str, host: &str, port: Option<u16>) -> bool {
    // A bare IPv6 address has several colons and no port.
    let entry = if allowed.parse::<std::net::Ipv6Addr>().is_ok() {
        Some((allowed.to_ascii_lowercase(), None))
    } else {
        split_authority(allowed)
    };
    match entry {
        Some((name, None)) => name == host,
        Some((name, Some(p))) => name == host && port == Some(p),
        None => false,
    }
}

/// `scheme://host:port` exactly, `scheme://host:*` at any port, or
/// `scheme://host` at the scheme's default port; `null` only literally.
fn origin_matches(allowed: &str, origin: &str) -> bool {
    if allowed == "null" || origin == "null" {
        return allowed == origin;
    }
    let (pattern, any_port) = match allowed.strip_suffix(":*") {
        Some(base) => (base, true),
        None => (allowed, false),
    };
    let (Ok(want), Ok(got)) = (url::Url::parse(pattern), url::Url::parse(origin)) else { return false };
    want.scheme() == got.scheme()
        && want.host_str() == got.host_str()
        && (any_port || want.port_or_known_default() == got.port_or_known_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    fn config(hosts: &[&str], origins: &[&str]) -> McpConfig {
        McpConfig {
            allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            ..McpConfig::default()
        }
    }

    #[test]
    fn loopback_names_pass_at_any_port_by_default_and_other_hosts_are_refused() {
        let c = McpConfig::default();
        for host in ["127.0.0.1:8931", "localhost:1", "[::1]:8931", "LOCALHOST"] {
            assert!(check_host_and_origin(&c, &headers(host, None)).is_ok(), "{host}");
        }
        let err = check_host_and_origin(&c, &headers("evil.example:8931", None)).unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::Unauthorized);
        assert!(err.message.contains("HELMDECK_MCP_ALLOWED_HOSTS"), "{}", err.message);
    }

    #[test]
    fn a_host_entry_with_a_port_admits_only_that_port() {
        let c = config(&["deck.lan:8931", "[::1]:9000"], &[]);
        assert!(check_host_and_origin(&c, &headers("deck.lan:8931", None)).is_ok());
        assert!(check_host_and_origin(&c, &headers("deck.lan:8932", None)).is_err());
        assert!(check_host_and_origin(&c, &headers("deck.lan", None)).is_err());
        assert!(check_host_and_origin(&c, &headers("[::1]:9000", None)).is_ok());
        assert!(check_host_and_origin(&c, &headers("[::1]:9001", None)).is_err());
    }

    #[test]
    fn browser_origins_are_refused_unless_listed() {
        let c = config(&["localhost"], &["http://localhost:*", "https://app.example"]);
        assert!(check_host_and_origin(&c, &headers("localhost", None)).is_ok(), "no Origin: not a browser");
        assert!(check_host_and_origin(&c, &headers("localhost", Some("http://localhost:6274"))).is_ok());
        assert!(check_host_and_origin(&c, &headers("localhost", Some("https://app.example"))).is_ok());
        assert!(check_host_and_origin(&c, &headers("localhost", Some("https://app.example:8443"))).is_err());
        assert!(check_host_and_origin(&c, &headers("localhost", Some("http://evil.example"))).is_err());
        assert!(check_host_and_origin(&c, &headers("localhost", Some("null"))).is_err());
        assert!(
            check_host_and_origin(&McpConfig::default(), &headers("localhost", Some("http://localhost:3000"))).is_err()
        );
    }
}
