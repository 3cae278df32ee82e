//! [`FakeProvider`]: a model provider on 127.0.0.1 speaking one real wire
//! format (OpenAI chat completions, Anthropic Messages, Gemini
//! `generateContent`, Ollama `/api/chat`), checked by each provider's
//! official Python client (`tests/gateway/check_fakes.py`) so it cannot
//! drift from the format it claims.
//!
//! The "model" is deterministic. Each format module turns its request into
//! an [`Ask`] and a [`Reply`] back into its own answer (whole or streamed):
//!
//! - after a tool result: `tool said: <the result>`;
//! - with tools offered (and tool choice not `none`): a call of the first
//!   tool with `{"q": "<the question>"}` (streamed in three argument
//!   fragments where the format streams fragments);
//! - in JSON mode: `{"echo": "<the question>"}`;
//! - with images: `saw N image(s): image/png 1x1 ...` (the PNG's size read
//!   from its bytes, so an image mangled on the way is noticed);
//! - otherwise `echo: <the question>`, streamed word by word.
//!
//! Model names choose misbehaviour: `rate-limited` answers 429 with
//! `retry-after: 7`; `slow` never answers (until the fake stops);
//! `breaks-after-first` streams one chunk and then drops the connection.
//! A request whose key is not the fake's gets the format's 401, quoting the
//! key it was sent (so a gateway that passes provider messages on
//! unmasked leaks it). Every request is recorded ([`FakeProvider::requests`]).

mod anthropic;
mod gemini;
mod ollama;
mod openai;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::StreamExt as _;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The wire formats a fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
    Ollama,
}

impl Wire {
    /// All four.
    pub const ALL: [Wire; 4] = [Wire::OpenAi, Wire::Anthropic, Wire::Gemini, Wire::Ollama];

    /// The gateway's provider of this format (`openai`, `anthropic`, `gemini`, `ollama`).
    pub fn provider(self) -> &'static str {
        match self {
            Wire::OpenAi => "openai",
            Wire::Anthropic => "anthropic",
            Wire::Gemini => "gemini",
            Wire::Ollama => "ollama",
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

struct Shared {
    wire: Wire,
    /// The key requests must carry; `None` accepts any (a local Ollama).
    key: Option<String>,
    seen: Mutex<Vec<Seen>>,
    closing: watch::Sender<bool>,
}

impl Shared {
    async fn closed(&self) {
        let _ = self.closing.subscribe().wait_for(|c| *c).await;
    }
}

/// A running fake provider; stops when dropped.
pub struct FakeProvider {
    wire: Wire,
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeProvider {
    /// Serve `wire` on a free 127.0.0.1 port, accepting only `key` (any key when `None`).
    pub fn start(wire: Wire, key: Option<&str>) -> Result<FakeProvider> {
        let (closing, _) = watch::channel(false);
        let shared = Arc::new(Shared { wire, key: key.map(str::to_owned), seen: Mutex::default(), closing });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a fake provider")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let app = router(shared.clone());
        let stop = shared.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread =
            std::thread::Builder::new().name(format!("fake-{}-{}", wire.provider(), addr.port())).spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("a bound listener converts");
                    let _ = axum::serve(listener, app).with_graceful_shutdown(async move { stop.closed().await }).await;
                });
            })?;
        Ok(FakeProvider { wire, addr, shared, thread: Some(thread) })
    }

    /// Its wire format.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// The base URL as the gateway and the official client want it
    /// (`http://127.0.0.1:PORT/v1` for OpenAI, the origin for the others).
    pub fn base_url(&self) -> String {
        match self.wire {
            Wire::OpenAi => format!("http://{}/v1", self.addr),
            _ => format!("http://{}", self.addr),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The bodies of requests asking for `model` (a chat request names it in
    /// its body, or in its path for Gemini).
    pub fn asked(&self, model: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.body["model"] == model || s.path.contains(&format!("/{model}:")))
            .collect()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.shared.closing.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One fake of each wire format, all accepting the same key.
pub struct Fakes {
    pub key: String,
    fakes: Vec<FakeProvider>,
}

impl Fakes {
    /// Start the four fakes.
    pub fn start(key: &str) -> Result<Fakes> {
        let fakes = Wire::ALL.into_iter().map(|wire| FakeProvider::start(wire, Some(key))).collect::<Result<_>>()?;
        Ok(Fakes { key: key.to_owned(), fakes })
    }

    /// The fake of `wire`.
    pub fn get(&self, wire: Wire) -> &FakeProvider {
        self.fakes.iter().find(|f| f.wire == wire).expect("one fake per wire format")
    }

    /// What a server needs to reach them as its `openai`, `anthropic`,
    /// `gemini` and `ollama` providers: `HELMDECK_<P>_BASE_URL`, the key in
    /// `HELMDECK_<P>_API_KEY`, and 127.0.0.1 allow-listed.
    pub fn server_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("HELMDECK_EGRESS_ALLOWLIST".to_owned(), "127.0.0.1".to_owned())];
        for fake in &self.fakes {
            let name = fake.wire.provider().to_ascii_uppercase();
            env.push((format!("HELMDECK_{name}_BASE_URL"), fake.base_url()));
            env.push((format!("HELMDECK_{name}_API_KEY"), self.key.clone()));
        }
        env
    }

    /// What `tests/gateway/check_fakes.py` needs: `FAKE_<P>_URL` and `FAKE_KEY`.
    pub fn client_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("FAKE_KEY".to_owned(), self.key.clone())];
        env.extend(
            self.fakes.iter().map(|f| (format!("FAKE_{}_URL", f.wire.provider().to_ascii_uppercase()), f.base_url())),
        );
        env
    }
}

/// Run `tests/gateway/<script>` with the test virtualenv's Python (the
/// official provider clients, `cargo xtask setup`) and `env`; its last line
/// of output as JSON. Fails with its stderr unless it exited successfully.
pub fn python(script: &str, args: &[&str], env: &[(String, String)]) -> Result<Value> {
    let path = crate::prebuilt::workspace_root().join("tests/gateway").join(script);
    let output = std::process::Command::new(crate::mcp_support::python())
        .arg(&path)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("starting {}", path.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(output.status.success(), "{script} {args:?} failed with {}:\n{stderr}", output.status);
    let stdout = String::from_utf8(output.stdout)?;
    let last = stdout.lines().last().with_context(|| format!("{script} printed nothing; stderr:\n{stderr}"))?;
    serde_json::from_str(last).with_context(|| format!("{script}'s report is not JSON: {last}"))
}

fn router(shared: Arc<Shared>) -> Router {
    let routes = match shared.wire {
        Wire::OpenAi => openai::routes(),
        Wire::Anthropic => anthropic::routes(),
        Wire::Gemini => gemini::routes(),
        Wire::Ollama => ollama::routes(),
    };
    routes.with_state(shared)
}

/// What the request asks, whatever its format.
#[derive(Debug, Default)]
pub(crate) struct Ask {
    pub model: String,
    /// The last user text.
    pub question: String,
    /// The content of a tool result, when the last turn is one.
    pub tool_result: Option<String>,
    /// Images as media type and bytes.
    pub images: Vec<(String, Vec<u8>)>,
    /// The first tool offered, unless the tool choice forbids calls.
    pub tool: Option<String>,
    pub json: bool,
    pub stream: bool,
    /// Words in the whole request, as the prompt's token count.
    pub prompt_tokens: u64,
}

/// What the model says.
#[derive(Debug)]
pub(crate) struct Reply {
    pub text: Option<String>,
    /// A tool call: name and JSON arguments.
    pub call: Option<(String, String)>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Reply {
    /// The argument text in three fragments (for formats that stream fragments).
    pub fn argument_fragments(arguments: &str) -> Vec<String> {
        let chars: Vec<char> = arguments.chars().collect();
        let third = chars.len().div_ceil(3).max(1);
        chars.chunks(third).map(|c| c.iter().collect()).collect()
    }

    /// The text in word-sized pieces (spaces kept).
    pub fn pieces(text: &str) -> Vec<String> {
        text.split_inclusive(' ').map(str::to_owned).collect()
    }
}

/// The deterministic model of the module docs.
pub(crate) fn think(ask: &Ask) -> Reply {
    let (text, call) = if let Some(result) = &ask.tool_result {
        (Some(format!("tool said: {result}")), None)
    } else if let Some(tool) = &ask.tool {
        (None, Some((tool.clone(), serde_json::json!({ "q": ask.question }).to_string())))
    } else if ask.json {
        (Some(serde_json::json!({ "echo": ask.question }).to_string()), None)
    } else if !ask.images.is_empty() {
        let sizes: Vec<String> =
            ask.images.iter().map(|(media, bytes)| format!("{media} {}", png_size(bytes))).collect();
        (Some(format!("saw {} image(s): {}", ask.images.len(), sizes.join(", "))), None)
    } else {
        (Some(format!("echo: {}", ask.question)), None)
    };
    let completion_tokens = text.as_deref().map_or(1, |t| t.split_whitespace().count() as u64);
    Reply { text, call, prompt_tokens: ask.prompt_tokens.max(1), completion_tokens }
}

/// `WxH` from a PNG's IHDR, or `not a png`.
fn png_size(bytes: &[u8]) -> String {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" {
        return "not a png".to_owned();
    }
    let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    format!("{}x{}", word(16), word(20))
}

/// Decode base64 image data (invalid data counts as no bytes).
pub(crate) fn image_bytes(data: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(data.as_bytes()).unwrap_or_default()
}

/// Words in a JSON body, as a stand-in for tokens.
pub(crate) fn words(body: &Value) -> u64 {
    fn count(v: &Value) -> u64 {
        match v {
            Value::String(s) if s.len() < 200 => s.split_whitespace().count() as u64,
            Value::Array(items) => items.iter().map(count).sum(),
            Value::Object(map) => map.values().map(count).sum(),
            _ => 0,
        }
    }
    count(body)
}

/// Record a request; the JSON of its body.
fn record(shared: &Shared, path: &str, headers: &HeaderMap, body: &Bytes) -> Value {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Ok(mut seen) = shared.seen.lock() {
        seen.push(Seen { path: path.to_owned(), headers: headers.clone(), body: value.clone() });
    }
    value
}

/// The key a request carries in any of the places formats put it.
fn presented_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
        .or_else(|| header("x-api-key"))
        .or_else(|| header("x-goog-api-key"))
        .or_else(|| query?.split('&').find_map(|p| p.strip_prefix("key=").map(str::to_owned)))
}

/// `Err(presented key)` unless the request carries the fake's key.
fn check_key(shared: &Shared, headers: &HeaderMap, query: Option<&str>) -> std::result::Result<(), String> {
    match (&shared.key, presented_key(headers, query)) {
        (None, _) => Ok(()),
        (Some(want), Some(got)) if *want == got => Ok(()),
        (Some(_), got) => Err(got.unwrap_or_default()),
    }
}

/// The misbehaviour a model name asks for, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trick {
    RateLimited,
    Slow,
    BreaksAfterFirst,
}

pub(crate) fn trick(model: &str) -> Option<Trick> {
    match model.trim_start_matches("models/") {
        "rate-limited" => Some(Trick::RateLimited),
        "slow" => Some(Trick::Slow),
        "breaks-after-first" => Some(Trick::BreaksAfterFirst),
        _ => None,
    }
}

/// Hold the request until the fake stops.
async fn hang(shared: &Shared) -> Response {
    shared.closed().await;
    (StatusCode::SERVICE_UNAVAILABLE, "the fake is stopping").into_response()
}

/// A JSON answer with `status`, plus `retry-after` when given.
fn json_status(status: StatusCode, body: Value, retry_after: Option<&str>) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(after) = retry_after {
        response.headers_mut().insert("retry-after", after.parse().expect("a valid header value"));
    }
    response
}

/// A streamed answer: `frames`, written one by one; with `break_after`,
/// the connection is dropped after that many frames instead of ending.
fn stream(content_type: &'static str, frames: Vec<String>, break_after: Option<usize>) -> Response {
    let chunks = futures::stream::iter(frames.into_iter().enumerate()).then(move |(i, frame)| async move {
        if break_after.is_some_and(|n| i >= n) {
            // Give the first frames time to reach the other side before the reset.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Err(std::io::Error::other("the fake drops the connection"));
        }
        Ok::<_, std::io::Error>(Bytes::from(frame))
    });
    let mut response = Response::new(Body::from_stream(chunks));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_model_is_deterministic() {
        let png = image_bytes(
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==",
        );
        let ask = Ask { question: "hi there".into(), images: vec![("image/png".into(), png)], ..Ask::default() };
        assert_eq!(think(&ask).text.as_deref(), Some("saw 1 image(s): image/png 1x1"));
        let ask = Ask { question: "q".into(), tool: Some("lookup".into()), ..Ask::default() };
        assert_eq!(think(&ask).call, Some(("lookup".into(), "{\"q\":\"q\"}".into())));
        assert_eq!(Reply::argument_fragments("{\"q\":\"q\"}").concat(), "{\"q\":\"q\"}");
        assert_eq!(Reply::pieces("a b c").concat(), "a b c");
    }
}
