//! Checking what a pack asks for before anything leaves the host: the
//! method, URL and headers become the first [`Hop`], the timeout and body
//! limit are capped by the host's [`HttpLimits`]. Every refusal is
//! `invalid_input` naming the field, never echoing a header value or URL
//! credentials.

use super::client::{HttpLimits, OutboundRequest};
use super::redirect::Hop;
use crate::error::Error;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;
use url::Url;

/// The methods the WIT interface promises; CONNECT and TRACE stay out.
const METHODS: [Method; 7] =
    [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS];

/// Headers the host owns: framing and connection handling are the HTTP
/// stack's, and `Host` must stay the vetted URL's host.
const MANAGED_HEADERS: [&str; 7] =
    ["host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te"];

/// At most this much of a pack's own text is quoted back in a message.
const QUOTE_CHARS: usize = 40;

/// A request ready to send: its first hop and the limits for the whole fetch.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) hop: Hop,
    pub(super) timeout: Duration,
    pub(super) body_cap: usize,
    pub(super) follow_redirects: bool,
    pub(super) lookahead: usize,
}

/// Check `req` and apply `limits`: an absent timeout or body limit takes
/// the default, a larger one is lowered to the host's maximum.
pub(super) fn prepare(req: OutboundRequest, limits: &HttpLimits) -> Result<Prepared, Error> {
    let timeout = req.timeout.unwrap_or(limits.default_timeout).min(limits.max_timeout);
    if timeout.is_zero() {
        return Err(Error::invalid_input("`timeout` must be more than zero"));
    }
    let body_cap = req.max_body_bytes.unwrap_or(limits.default_body_bytes).min(limits.max_body_bytes);
    let hop = Hop { method: method(&req.method)?, url: url(&req.url)?, headers: headers(req.headers)?, body: req.body };
    Ok(Prepared {
        hop,
        timeout,
        body_cap: usize::try_from(body_cap).unwrap_or(usize::MAX),
        follow_redirects: req.follow_redirects,
        lookahead: req.lookahead,
    })
}

/// Methods are matched case-insensitively: `get` is what a model meant.
fn method(text: &str) -> Result<Method, Error> {
    let upper = text.to_ascii_uppercase();
    METHODS.into_iter().find(|m| m.as_str() == upper).ok_or_else(|| {
        Error::invalid_input(format!(
            "`method` `{}` is not supported; use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
            quote(text)
        ))
    })
}

fn url(text: &str) -> Result<Url, Error> {
    // `ParseError` says what is wrong without repeating the input.
    let mut url = Url::parse(text).map_err(|e| Error::invalid_input(format!("`url` is not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid_input(format!("`url` must use http or https, not `{}`", quote(url.scheme()))));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_input(
            "`url` must not contain credentials (user:password@); send them in an `Authorization` header",
        ));
    }
    url.set_fragment(None);
    Ok(url)
}

fn headers(pairs: Vec<(String, String)>) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::invalid_input(format!("`headers`: `{}` is not a valid header name", quote(&name))))?;
        // The client asks for the codings it decodes (gzip, br, deflate) and
        // decodes them; a pack's own list could ask for one it cannot.
        if parsed == reqwest::header::ACCEPT_ENCODING {
            continue;
        }
        if MANAGED_HEADERS.contains(&parsed.as_str()) {
            return Err(Error::invalid_input(format!(
                "`headers`: `{parsed}` is set by the host; remove it from the request"
            )));
        }
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            Error::invalid_input(format!(
                "`headers`: the value of `{parsed}` contains characters not allowed in HTTP (such as line breaks)"
            ))
        })?;
        // Keeps values out of debug output, where a credential might otherwise be logged.
        value.set_sensitive(true);
        map.append(parsed, value);
    }
    Ok(map)
}

/// `text` cut to a length fit for an error message.
fn quote(text: &str) -> String {
    let mut chars = text.chars();
    let mut quoted: String = chars.by_ref().take(QUOTE_CHARS).collect();
    if chars.next().is_some() {
        quoted.push('…');
    }
    quoted.escape_debug().to_string()
}
