//! [`HttpFixture`]: a small real HTTP server on 127.0.0.1 (or another
//! loopback address) for packs to talk to. It runs on its own thread and
//! runtime, so it keeps answering whatever the test's own runtime is doing
//! (even a blocking call). Routes:
//!
//! - pages registered with [`HttpFixtureBuilder::page`], at their path;
//! - `GET /redirect?to=URL[&status=30x]`: a redirect to `URL` (302 by default);
//! - `GET /slow?ms=N`: answers `waited N ms` after `N` milliseconds;
//! - `ANY /echo`: the request as JSON (`method`, `path`, `query`, `headers`, `body`);
//! - `GET /status/{code}`: an empty answer with that status;
//! - `GET /gate/{name}`: answers only once the test opens the gate
//!   ([`HttpFixture::open_gate`]), so a pack call can be held in flight for
//!   exactly as long as a test needs.
//!
//! Every request is recorded when it arrives (see [`HttpFixture::hits`]).

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long [`HttpFixture::wait_for_hits`] waits before giving up: a guard
/// against hanging, not a performance bound.
const HIT_DEADLINE: Duration = Duration::from_secs(60);

/// Pages, gates and the request record, shared with the handlers.
#[derive(Default)]
struct Shared {
    pages: HashMap<String, (String, String)>,
    hits: Mutex<Vec<String>>,
    gates: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// Set when the fixture is dropped: the server stops, and requests
    /// still waiting (at a gate, in `/slow`) are answered at once so that
    /// stopping never hangs, even when a test failed before opening a gate.
    closing: watch::Sender<bool>,
}

impl Shared {
    /// The gate `name` (closed until opened).
    fn gate(&self, name: &str) -> watch::Sender<bool> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry(name.to_owned()).or_insert_with(|| watch::channel(false).0).clone()
    }

    /// Resolves once the fixture is being dropped.
    async fn closed(&self) {
        let _ = self.closing.subscribe().wait_for(|closing| *closing).await;
    }
}

/// How to start an [`HttpFixture`]: which pages it serves.
pub struct HttpFixtureBuilder {
    ip: Ipv4Addr,
    pages: HashMap<String, (String, String)>,
}

impl Default for HttpFixtureBuilder {
    fn default() -> Self {
        HttpFixtureBuilder { ip: Ipv4Addr::LOCALHOST, pages: HashMap::new() }
    }
}

impl HttpFixtureBuilder {
    /// Serve `body` with `content_type` at `path` (`/hello.html`).
    pub fn page(mut self, path: &str, content_type: &str, body: &str) -> Self {
        self.pages.insert(path.to_owned(), (content_type.to_owned(), body.to_owned()));
        self
    }

    /// Listen on another loopback address than 127.0.0.1 (`127.0.0.2`): a
    /// real destination that an allowlist naming only 127.0.0.1 must refuse.
    pub fn ip(mut self, ip: Ipv4Addr) -> Self {
        assert!(ip.is_loopback(), "test servers listen on loopback only, not {ip}");
        self.ip = ip;
        self
    }

    /// Bind a free port and start serving.
    pub fn start(self) -> Result<HttpFixture> {
        let shared = Arc::new(Shared { pages: self.pages, ..Shared::default() });
        let listener = std::net::TcpListener::bind((self.ip, 0)).with_context(|| format!("binding {}:0", self.ip))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let app = router(shared.clone());
        let closing = shared.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new().name(format!("http-fixture-{}", addr.port())).spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a bound std listener converts");
                let _ = axum::serve(listener, app).with_graceful_shutdown(async move { closing.closed().await }).await;
            });
        })?;
        Ok(HttpFixture { addr, shared, thread: Some(thread) })
    }
}

/// A running fixture server; stops when dropped.
pub struct HttpFixture {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpFixture {
    /// How to start one with pages of its own.
    pub fn builder() -> HttpFixtureBuilder {
        HttpFixtureBuilder::default()
    }

    /// Start one with the built-in routes only.
    pub fn start() -> Result<HttpFixture> {
        HttpFixtureBuilder::default().start()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The absolute URL of `path` (`/echo` → `http://127.0.0.1:PORT/echo`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far, as `METHOD /path?query`, oldest first.
    pub fn hits(&self) -> Vec<String> {
        self.shared.hits.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Wait until `n` requests for `path` have arrived (they may still be
    /// waiting at a gate). Fails after a minute, as a guard against hanging.
    pub async fn wait_for_hits(&self, path: &str, n: usize) -> Result<()> {
        let deadline = tokio::time::Instant::now() + HIT_DEADLINE;
        let wanted = format!("GET {path}");
        while self.hits().iter().filter(|h| **h == wanted).count() < n {
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("fewer than {n} requests for {path} arrived: {:?}", self.hits());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Open the gate `name`: every request waiting at `/gate/{name}` is
    /// answered, and later ones are answered at once.
    pub fn open_gate(&self, name: &str) {
        self.shared.gate(name).send_replace(true);
    }
}

impl Drop for HttpFixture {
    fn drop(&mut self) {
        self.shared.closing.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/redirect", get(redirect))
        .route("/slow", get(slow))
        .route("/echo", any(echo))
        .route("/status/{code}", get(status))
        .route("/gate/{name}", get(gate))
        .fallback(page)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

async fn record(State(shared): State<Arc<Shared>>, request: Request, next: axum::middleware::Next) -> Response {
    let line = format!("{} {}", request.method(), request.uri());
    if let Ok(mut hits) = shared.hits.lock() {
        hits.push(line);
    }
    next.run(request).await
}

async fn page(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    match shared.pages.get(uri.path()) {
        Some((content_type, body)) => ([(header::CONTENT_TYPE, content_type.clone())], body.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no fixture page at {}", uri.path())).into_response(),
    }
}

async fn redirect(Query(query): Query<HashMap<String, String>>) -> Response {
    let Some(to) = query.get("to") else {
        return (StatusCode::BAD_REQUEST, "`to` is required").into_response();
    };
    let status = query
        .get("status")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::FOUND);
    (status, [(header::LOCATION, to.clone())]).into_response()
}

async fn slow(State(shared): State<Arc<Shared>>, Query(query): Query<HashMap<String, String>>) -> String {
    let ms: u64 = query.get("ms").and_then(|m| m.parse().ok()).unwrap_or(0);
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(ms)) => format!("waited {ms} ms"),
        () = shared.closed() => "the fixture is stopping".to_owned(),
    }
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> axum::Json<serde_json::Value> {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), json!(String::from_utf8_lossy(value.as_bytes()))))
        .collect();
    axum::Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn status(Path(code): Path<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

async fn gate(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> String {
    let mut open = shared.gate(&name).subscribe();
    tokio::select! {
        _ = open.wait_for(|open| *open) => format!("gate {name} opened"),
        () = shared.closed() => "the fixture is stopping".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gate_holds_requests_until_opened_and_redirects_and_echoes_answer() -> Result<()> {
        let fixture = HttpFixture::builder().page("/p", "text/plain", "page").start()?;
        let client = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build()?;
        let held = tokio::spawn(client.get(fixture.url("/gate/g")).send());
        fixture.wait_for_hits("/gate/g", 1).await?;
        assert!(!held.is_finished());
        fixture.open_gate("g");
        assert_eq!(held.await??.text().await?, "gate g opened");
        // An opened gate lets later requests through at once.
        assert_eq!(client.get(fixture.url("/gate/g")).send().await?.text().await?, "gate g opened");

        let redirect = client.get(fixture.url("/redirect?to=/p&status=307")).send().await?;
        assert_eq!((redirect.status().as_u16(), redirect.headers()["location"].to_str()?), (307, "/p"));
        let echo: serde_json::Value = client.post(fixture.url("/echo?q=1")).body("hi").send().await?.json().await?;
        assert_eq!(
            (echo["method"].as_str(), echo["query"].as_str(), echo["body"].as_str()),
            (Some("POST"), Some("q=1"), Some("hi"))
        );
        assert_eq!(client.get(fixture.url("/p")).send().await?.text().await?, "page");
        assert_eq!(client.get(fixture.url("/status/418")).send().await?.status().as_u16(), 418);
        Ok(())
    }

    #[tokio::test]
    async fn dropping_the_fixture_releases_requests_still_waiting() -> Result<()> {
        let fixture = HttpFixture::start()?;
        let client = reqwest::Client::builder().no_proxy().build()?;
        let held = tokio::spawn(client.get(fixture.url("/gate/never")).send());
        let slow = tokio::spawn(client.get(fixture.url("/slow?ms=3600000")).send());
        fixture.wait_for_hits("/gate/never", 1).await?;
        fixture.wait_for_hits("/slow?ms=3600000", 1).await?;
        drop(fixture);
        assert_eq!(held.await??.text().await?, "the fixture is stopping");
        assert_eq!(slow.await??.text().await?, "the fixture is stopping");
        Ok(())
    }
}
