//! [`GuardedHttpClient`]: outbound HTTP(S) where every hop, redirects
//! included, passes the egress guard and connects only to the addresses the
//! guard vetted. The WIT adapter converts pack records to and from the
//! types here; this module knows nothing of wasm.

use super::redirect::{Hop, MAX_REDIRECTS};
use super::request::{Prepared, prepare};
use crate::audit::Decision;
use crate::error::{Error, ErrorCode};
use crate::guard::{EgressGuard, GuardError, GuardedDns, VettedTarget};
use bytes::{Bytes, BytesMut};
use reqwest::header::HeaderMap;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Establishing a TCP connection (and TLS) rarely takes longer than this; a
/// target that does is treated as unreachable, whatever the total budget.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sent unless the request sets its own `User-Agent`.
const USER_AGENT: &str = concat!("helmdeck/", env!("CARGO_PKG_VERSION"));

/// Host-wide bounds on outbound HTTP, applied to every request whatever
/// the pack asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Whole-exchange deadline (all hops and the body) when a request sets
    /// none. Default 30 s.
    pub default_timeout: Duration,
    /// The longest deadline a request may ask for; longer ones are lowered
    /// to this. Default 120 s.
    pub max_timeout: Duration,
    /// Body bytes read when a request sets no limit. Default 10 MiB.
    pub default_body_bytes: u64,
    /// The largest body limit a request may ask for; larger ones are
    /// lowered to this. Default 50 MiB.
    pub max_body_bytes: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(120),
            default_body_bytes: 10 << 20,
            max_body_bytes: 50 << 20,
        }
    }
}

/// One outbound request as a pack asks for it, unvalidated: the client
/// checks every field and answers `invalid_input` naming the bad one.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE` or `OPTIONS`, any case.
    pub method: String,
    /// Absolute `http`/`https` URL without `user:password@`.
    pub url: String,
    /// Header name/value pairs; a name may repeat. `Host`, `Content-Length`
    /// and connection-level headers are the host's and are refused.
    pub headers: Vec<(String, String)>,
    /// The request body, if any.
    pub body: Option<Bytes>,
    /// Deadline for the whole exchange; `None` is [`HttpLimits::default_timeout`].
    pub timeout: Option<Duration>,
    /// Read at most this many body bytes; `None` is [`HttpLimits::default_body_bytes`].
    pub max_body_bytes: Option<u64>,
    /// Follow 3xx redirects (at most 10), vetting each hop again.
    pub follow_redirects: bool,
    /// Read up to this many bytes past the body limit (not counted in it),
    /// for a caller that rewrites the body (masking) before cutting it.
    pub lookahead: usize,
}

impl Default for OutboundRequest {
    /// A `GET` with no URL yet, following redirects, within the host defaults.
    fn default() -> Self {
        OutboundRequest {
            method: "GET".to_owned(),
            url: String::new(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            max_body_bytes: None,
            follow_redirects: true,
            lookahead: 0,
        }
    }
}

/// What came back from the last hop.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers, as received.
    pub headers: HeaderMap,
    /// The body, decoded from its content coding (gzip, br, deflate), cut
    /// at the byte limit plus the request's `lookahead` when `truncated` is set.
    pub body: Bytes,
    /// The body was longer than what was read; the rest was not read.
    pub truncated: bool,
    /// The byte limit that applied; `body` is longer only by the lookahead.
    pub body_limit: usize,
    /// The URL of the last hop, after redirects.
    pub final_url: Url,
    /// How many redirects were followed.
    pub redirects: u32,
}

/// Called once per hop with its URL before the guard resolves its name: the
/// caller's own checks by name (a pack's manifest scope, where a credential
/// may travel) refuse a hop by returning an error, and then no DNS query
/// for that name is ever sent (a query is itself a message to whoever runs
/// the name's DNS servers).
pub type ScopeHook<'a> = dyn FnMut(&Url) -> Result<(), Error> + Send + 'a;

/// Called once per hop with the decision (the scope's refusal, or the
/// guard's verdict), before any connection; the caller records the hop and
/// may still refuse it by returning an error, which ends the request.
pub type HopHook<'a> = dyn FnMut(&HopRecord) -> Result<(), Error> + Send + 'a;

/// The guard's decision for one hop, handed to the caller's `on_hop` so it
/// can audit each hop of a redirect chain separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopRecord {
    /// The hop's URL. Never has userinfo; its query is as the pack or the
    /// server wrote it, so callers that substituted secrets must redact.
    pub url: Url,
    /// `Deny` when policy refused the hop; `Allow` otherwise (even if DNS
    /// then failed, which the reason says).
    pub decision: Decision,
    /// The vetted addresses and why they passed, or why the hop stopped.
    pub reason: String,
}

/// The outbound HTTP client every pack shares: built once, with reqwest's
/// proxy support off (an `HTTP_PROXY` variable would otherwise route around
/// the guard), redirects off (followed here, hop by hop), name resolution
/// through the guard, and rustls. Clones share the connection pool and the
/// DNS pins.
#[derive(Debug, Clone)]
pub struct GuardedHttpClient {
    client: reqwest::Client,
    guard: Arc<EgressGuard>,
    dns: Arc<GuardedDns>,
    limits: HttpLimits,
}

impl GuardedHttpClient {
    /// A client enforcing `guard` within `limits`. Fails with `invalid_input`
    /// when a default exceeds its maximum or a timeout is zero, and with
    /// `internal_error` when the TLS stack cannot be set up.
    pub fn new(guard: Arc<EgressGuard>, limits: HttpLimits) -> Result<Self, Error> {
        if limits.default_timeout.is_zero() || limits.default_timeout > limits.max_timeout {
            return Err(Error::invalid_input(
                "http limits: default_timeout must be above zero and at most max_timeout",
            ));
        }
        if limits.default_body_bytes > limits.max_body_bytes {
            return Err(Error::invalid_input("http limits: default_body_bytes must be at most max_body_bytes"));
        }
        let dns = Arc::new(GuardedDns::new(Arc::clone(&guard)));
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .dns_resolver(Arc::clone(&dns))
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| Error::internal(format!("could not set up the HTTP client: {e}")))?;
        Ok(GuardedHttpClient { client, guard, dns, limits })
    }

    /// The egress guard this client enforces; other capabilities that reach
    /// the network (git) vet their destinations with it too.
    pub fn guard(&self) -> &Arc<EgressGuard> {
        &self.guard
    }

    /// Perform `req`, following redirects by hand when asked. For each hop,
    /// `scope` judges the URL before any DNS lookup, then `on_hop` hears the
    /// decision before any connection. Errors: `invalid_input` (a bad field, named),
    /// `egress_denied` (a hop the guard refused), `network_error` (DNS,
    /// connect, TLS, reset, redirect loop), `timeout` (the deadline passed).
    pub async fn fetch(
        &self,
        req: OutboundRequest,
        scope: &mut ScopeHook<'_>,
        on_hop: &mut HopHook<'_>,
    ) -> Result<OutboundResponse, Error> {
        let prepared = prepare(req, &self.limits)?;
        let budget = prepared.timeout;
        let origin = origin(&prepared.hop.url);
        tokio::time::timeout(budget, self.follow(prepared, scope, on_hop)).await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorCode::Timeout,
                format!(
                    "`{origin}` did not finish answering within {} ms; raise `timeout` (at most {} ms) or try again later",
                    budget.as_millis(),
                    self.limits.max_timeout.as_millis()
                ),
            ))
        })
    }

    /// Send `req` to its first hop and hand back the response as soon as its
    /// head arrived, body unread: for callers that stream the answer (the AI
    /// gateway). Redirects are not followed (a 3xx comes back as it is);
    /// `timeout` and `max_body_bytes` are the caller's to apply. `on_hop` and
    /// the errors are as for [`GuardedHttpClient::fetch`].
    pub async fn open(&self, req: OutboundRequest, on_hop: &mut HopHook<'_>) -> Result<reqwest::Response, Error> {
        let prepared = prepare(req, &self.limits)?;
        // The caller's destination is its own configuration, not a pack's: no scope.
        let target = self.vet(&prepared.hop.url, &mut |_| Ok(()), on_hop).await?;
        let _pin = self.dns.pin(&target);
        self.send(&prepared.hop).await
    }

    async fn follow(
        &self,
        prepared: Prepared,
        scope: &mut ScopeHook<'_>,
        on_hop: &mut HopHook<'_>,
    ) -> Result<OutboundResponse, Error> {
        let Prepared { mut hop, body_cap, follow_redirects, lookahead, .. } = prepared;
        let mut redirects = 0;
        loop {
            let target = self.vet(&hop.url, scope, on_hop).await?;
            let response = {
                // Held until the connection is open: reqwest resolves the
                // host to exactly the addresses just vetted and audited.
                let _pin = self.dns.pin(&target);
                self.send(&hop).await?
            };
            let status = response.status();
            let next = if follow_redirects { hop.redirect_target(status, response.headers())? } else { None };
            let Some(next) = next else {
                return read(response, hop.url, redirects, body_cap, lookahead).await;
            };
            if redirects == MAX_REDIRECTS {
                return Err(Error::new(
                    ErrorCode::NetworkError,
                    format!(
                        "stopped after {MAX_REDIRECTS} redirects at `{}`; the server may be redirecting in a loop",
                        origin(&hop.url)
                    ),
                ));
            }
            redirects += 1;
            hop.follow(status, next);
        }
    }

    async fn vet(&self, url: &Url, scope: &mut ScopeHook<'_>, on_hop: &mut HopHook<'_>) -> Result<VettedTarget, Error> {
        if let Err(refusal) = scope(url) {
            on_hop(&HopRecord { url: url.clone(), decision: Decision::Deny, reason: refusal.message.clone() })?;
            return Err(refusal);
        }
        let verdict = self.guard.vet(url).await;
        let (decision, reason) = match &verdict {
            Ok(target) => (Decision::Allow, target.to_string()),
            Err(err) if err.is_denial() => (Decision::Deny, err.to_string()),
            Err(err) => (Decision::Allow, err.to_string()),
        };
        on_hop(&HopRecord { url: url.clone(), decision, reason })?;
        verdict.map_err(Error::from)
    }

    async fn send(&self, hop: &Hop) -> Result<reqwest::Response, Error> {
        let mut request = reqwest::Request::new(hop.method.clone(), hop.url.clone());
        *request.headers_mut() = hop.headers.clone();
        *request.body_mut() = hop.body.clone().map(reqwest::Body::from);
        self.client.execute(request).await.map_err(|e| transport_error(&hop.url, &e))
    }
}

/// Read the body up to `limit + lookahead` bytes; past it, stop reading
/// and say so. A body still in a coding the client did not decode is
/// refused: what a caller cannot read, it cannot mask either.
async fn read(
    mut response: reqwest::Response,
    final_url: Url,
    redirects: u32,
    limit: usize,
    lookahead: usize,
) -> Result<OutboundResponse, Error> {
    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let cap = limit.saturating_add(lookahead);
    let mut body = BytesMut::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&final_url, &e))? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    // A body-less answer (HEAD, 204) may name a coding it never applied.
    if !body.is_empty() {
        undecoded(&headers, &final_url)?;
    }
    Ok(OutboundResponse { status, headers, body: body.freeze(), truncated, body_limit: limit, final_url, redirects })
}

/// Refuse a response whose body is still encoded after reqwest's decoding:
/// a content coding it does not know or stacked codings (`gzip, gzip`), or
/// a transfer coding other than `chunked` (`Transfer-Encoding: gzip`, which
/// HTTP/1.1 clients need not support and the body would reach a pack raw).
fn undecoded(headers: &HeaderMap, url: &Url) -> Result<(), Error> {
    let coded = |name, ok: &[&str]| {
        headers.get_all(name).iter().flat_map(|v| v.to_str().unwrap_or("?").split(',')).find_map(|coding| {
            let coding = coding.trim().to_ascii_lowercase();
            (!coding.is_empty() && !ok.contains(&coding.as_str())).then_some(coding)
        })
    };
    let found = coded(reqwest::header::CONTENT_ENCODING, &["identity"])
        .map(|c| ("content", c))
        .or_else(|| coded(reqwest::header::TRANSFER_ENCODING, &["chunked"]).map(|c| ("transfer", c)));
    match found {
        None => Ok(()),
        Some((kind, coding)) => Err(Error::new(
            ErrorCode::NetworkError,
            format!(
                "`{}` answered in {kind} coding `{}`, which Helmdeck does not decode (it decodes gzip, br and deflate, one at a time); the body was not read",
                origin(url),
                coding.escape_debug()
            ),
        )),
    }
}

/// Map a reqwest failure onto the closed set. reqwest's own message carries
/// the full URL (whose query may hold a substituted secret), so the message
/// is built from the origin and the root cause instead.
fn transport_error(url: &Url, err: &reqwest::Error) -> Error {
    let mut cause = err.source();
    let mut root = None;
    while let Some(current) = cause {
        // Only reachable if a connection was opened outside a pin; the guard
        // still refused it, and that is what the caller should hear.
        if let Some(refusal) = current.downcast_ref::<GuardError>() {
            return refusal.clone().into();
        }
        root = Some(current);
        cause = current.source();
    }
    let origin = origin(url);
    let why = root.map_or_else(|| "the connection failed".to_owned(), ToString::to_string);
    if err.is_timeout() {
        Error::new(ErrorCode::Timeout, format!("connecting to `{origin}` timed out ({why})"))
    } else if err.is_connect() {
        Error::new(ErrorCode::NetworkError, format!("could not connect to `{origin}`: {why}"))
    } else {
        Error::new(ErrorCode::NetworkError, format!("the exchange with `{origin}` failed: {why}"))
    }
}

/// `scheme://host:port`: enough to name a destination in a message without
/// its path or query.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}
