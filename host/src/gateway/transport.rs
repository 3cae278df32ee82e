//! The one place the gateway talks to providers: through the host's
//! [`GuardedHttpClient`] (so every base URL passes the egress guard and the
//! connection goes only to vetted addresses), with a provider's failure
//! turned into the closed error set, `retry-after` read into
//! `retry_after_ms`, and streamed bodies cut into frames (SSE events or
//! JSON lines). Nothing it returns or logs carries the key: provider
//! messages are masked before they are used.

use super::adapters::{Adapter, Fault, Framing, WireRequest};
use crate::audit::{Decision, Redactor};
use crate::caps::http::client::{GuardedHttpClient, OutboundRequest};
use crate::{Error, ErrorCode, Result};
use bytes::{Bytes, BytesMut};
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::header::HeaderMap;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

/// Largest whole answer read from a provider.
pub const MAX_ANSWER_BYTES: usize = 32 << 20;
/// Largest error body read from a provider.
const MAX_FAULT_BYTES: usize = 64 << 10;
/// At most this much of a provider's message is quoted.
const QUOTE_CHARS: usize = 300;

/// A streamed answer as frames: an SSE event's name (if any) and data, or one JSON line.
pub type Frames = Pin<Box<dyn Stream<Item = Result<(Option<String>, String)>> + Send>>;

/// What the guard said about the provider's address.
#[derive(Debug, Clone)]
pub struct Egress {
    pub decision: Decision,
    pub reason: String,
}

/// Sends provider requests; cheap to clone.
#[derive(Debug, Clone)]
pub struct Transport {
    http: GuardedHttpClient,
    redactor: Redactor,
}

impl Transport {
    /// Requests through `http`; provider messages masked with `redactor`
    /// (which holds every vault value and environment key).
    pub fn new(http: GuardedHttpClient, redactor: Redactor) -> Transport {
        Transport { http, redactor }
    }

    /// Send `wire` to `provider` and return the response once its head
    /// arrived with a 2xx status; any other status becomes the error the
    /// provider's body and headers describe. `egress` receives the guard's
    /// verdict before any connection.
    pub async fn send(
        &self,
        provider: &str,
        adapter: &dyn Adapter,
        wire: WireRequest,
        egress: &mut Option<Egress>,
    ) -> Result<reqwest::Response> {
        let request = OutboundRequest {
            method: wire.method.to_owned(),
            url: wire.url.to_string(),
            headers: wire.headers,
            body: wire.body.map(Bytes::from),
            follow_redirects: false,
            ..OutboundRequest::default()
        };
        let mut on_hop = |hop: &crate::caps::http::client::HopRecord| {
            *egress = Some(Egress { decision: hop.decision, reason: hop.reason.clone() });
            Ok(())
        };
        let response = self.http.open(request, &mut on_hop).await.map_err(|e| self.about(provider, e))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = read_capped(response, MAX_FAULT_BYTES).await.unwrap_or_default();
        Err(self.fault(provider, status, &headers, adapter.fault(&body)))
    }

    /// A whole answer's body, at most [`MAX_ANSWER_BYTES`].
    pub async fn body(&self, provider: &str, response: reqwest::Response) -> Result<Bytes> {
        let len = response.content_length().unwrap_or(0);
        if len > MAX_ANSWER_BYTES as u64 {
            return Err(too_large(provider));
        }
        let body = read_capped(response, MAX_ANSWER_BYTES + 1).await.map_err(|e| broken(provider, &e))?;
        if body.len() > MAX_ANSWER_BYTES {
            return Err(too_large(provider));
        }
        Ok(body)
    }

    /// The frames of a streamed answer.
    pub fn frames(&self, provider: &str, response: reqwest::Response, framing: Framing) -> Frames {
        let provider = provider.to_owned();
        let bytes = response.bytes_stream();
        match framing {
            Framing::Sse => Box::pin(bytes.eventsource().map(move |event| match event {
                Ok(event) => Ok(((!event.event.is_empty()).then_some(event.event), event.data)),
                Err(eventsource_stream::EventStreamError::Transport(e)) => Err(broken(&provider, &e)),
                Err(e) => Err(Error::new(
                    ErrorCode::SchemaMismatch,
                    format!("provider `{provider}` sent a stream that is not server-sent events: {e}"),
                )),
            })),
            Framing::Ndjson => Box::pin(lines(bytes, provider)),
        }
    }

    /// `error` with its message masked and naming `provider`.
    pub fn about(&self, provider: &str, error: Error) -> Error {
        let message = self.redactor.mask_registered_text(&error.message);
        Error { message: format!("provider `{provider}`: {message}"), ..error }
    }

    /// The error a non-2xx answer stands for.
    fn fault(&self, provider: &str, status: u16, headers: &HeaderMap, fault: Fault) -> Error {
        let code = fault.code.unwrap_or_else(|| status_code(status));
        let said = fault
            .message
            .map(|m| {
                let masked = self.redactor.mask_registered_text(&m);
                let mut quoted: String = masked.chars().take(QUOTE_CHARS).collect();
                if masked.chars().count() > QUOTE_CHARS {
                    quoted.push('…');
                }
                format!(": {quoted}")
            })
            .unwrap_or_default();
        let advice = match code {
            ErrorCode::AuthFailed => "; check its key (helmdeck providers test NAME)",
            ErrorCode::RateLimited => "; retry later or configure a fallback",
            _ => "",
        };
        let mut error = Error::new(code, format!("provider `{provider}` answered HTTP {status}{said}{advice}"));
        if let Some(ms) = retry_after_ms(headers).or(fault.retry_after_ms) {
            error = error.with_retry_after_ms(ms);
        }
        error
    }
}

/// A provider's HTTP status on the closed set.
pub fn status_code(status: u16) -> ErrorCode {
    match status {
        400 | 413 | 422 => ErrorCode::InvalidInput,
        401 | 403 => ErrorCode::AuthFailed,
        404 => ErrorCode::NotFound,
        408 | 504 => ErrorCode::Timeout,
        429 | 529 => ErrorCode::RateLimited,
        _ => ErrorCode::NetworkError,
    }
}

/// `retry-after-ms`, else `retry-after` (seconds, fractions allowed, or an HTTP date).
pub fn retry_after_ms(headers: &HeaderMap) -> Option<u64> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()).filter(|v| *v >= 0.0) {
        return Some(ms.round() as u64);
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs >= 0.0).then(|| (secs * 1000.0).round() as u64);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO).as_millis() as u64)
}

async fn read_capped(mut response: reqwest::Response, cap: usize) -> std::result::Result<Bytes, reqwest::Error> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    Ok(body.freeze())
}

/// A connection that broke mid-answer. reqwest's message names the URL
/// (never the key, which travels in a header), kept out all the same.
fn broken(provider: &str, error: &reqwest::Error) -> Error {
    let mut root: &dyn std::error::Error = error;
    while let Some(next) = root.source() {
        root = next;
    }
    let code = if error.is_timeout() { ErrorCode::Timeout } else { ErrorCode::NetworkError };
    Error::new(code, format!("provider `{provider}`: the answer broke off ({root})"))
}

fn too_large(provider: &str) -> Error {
    Error::new(
        ErrorCode::ResourceExhausted,
        format!("provider `{provider}` answered more than {} MiB", MAX_ANSWER_BYTES >> 20),
    )
}

/// Newline-delimited JSON: one frame per non-empty line.
fn lines(
    bytes: impl Stream<Item = std::result::Result<Bytes, reqwest::Error>> + Send + 'static,
    provider: String,
) -> impl Stream<Item = Result<(Option<String>, String)>> + Send {
    let state = (Box::pin(bytes), BytesMut::new(), provider, false);
    futures::stream::unfold(state, |(mut bytes, mut pending, provider, mut ended)| async move {
        loop {
            if let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line = pending.split_to(end + 1);
                let text = String::from_utf8_lossy(&line).trim().to_owned();
                if text.is_empty() {
                    continue;
                }
                return Some((Ok((None, text)), (bytes, pending, provider, ended)));
            }
            if ended {
                let rest = String::from_utf8_lossy(&pending).trim().to_owned();
                pending.clear();
                return (!rest.is_empty()).then_some((Ok((None, rest)), (bytes, pending, provider, ended)));
            }
            match bytes.next().await {
                Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    let error = broken(&provider, &e);
                    return Some((Err(error), (bytes, BytesMut::new(), provider, true)));
                }
                None => ended = true,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_hints_are_read_in_every_spelling() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after_ms(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after_ms(&headers), Some(7000));
        headers.insert("retry-after", HeaderValue::from_static("0.25"));
        assert_eq!(retry_after_ms(&headers), Some(250));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        headers.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        let ms = retry_after_ms(&headers).unwrap();
        assert!((28_000..=30_000).contains(&ms), "{ms}");
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after_ms(&headers), Some(1500));
    }

    #[test]
    fn statuses_map_onto_the_closed_set() {
        assert_eq!(status_code(401), ErrorCode::AuthFailed);
        assert_eq!(status_code(429), ErrorCode::RateLimited);
        assert_eq!(status_code(529), ErrorCode::RateLimited);
        assert_eq!(status_code(400), ErrorCode::InvalidInput);
        assert_eq!(status_code(500), ErrorCode::NetworkError);
        assert_eq!(status_code(504), ErrorCode::Timeout);
    }
}
