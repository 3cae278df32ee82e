//! Provider adapters: pure translation between the gateway's chat format
//! ([`super::chat`], OpenAI's) and each provider's wire format, one module
//! per format. An adapter builds the HTTP request (method, URL, headers,
//! body), reads a whole answer, decodes a stream frame by frame, and reads a
//! provider's error body; it never does I/O, so every translation is tested
//! without a network, and [`super::transport`] is the one place that talks.
//!
//! Why not the `genai` crate: its 0.7 line brings its own reqwest (0.13,
//! with the system proxy on by default) where every provider call must go
//! through the host's guarded client (reqwest 0.12 with DNS pinned to vetted
//! addresses); it turns on serde_json's `preserve_order` for the whole
//! workspace; its stream events carry the tool-call arguments accumulated so
//! far rather than the fragments OpenAI clients expect; its usage is
//! normalised (zeros dropped) rather than passed on; and fields it does not
//! model cannot pass through to OpenAI-compatible providers.

pub mod anthropic;
pub mod gemini;
pub mod ollama;
pub mod openai;

use super::chat::{
    AnswerMessage, ChatChunk, ChatRequest, ChatResponse, Choice, Message, Role, ToolCall, Usage, unix_now,
};
use super::config::{ProviderSettings, Wire};
use crate::{Error, ErrorCode, Result};
use base64::Engine as _;
use url::Url;

/// One provider call to make, as the adapter sees it.
#[derive(Debug, Clone, Copy)]
pub struct Upstream<'a> {
    pub provider: &'a ProviderSettings,
    /// The model name at the provider (without `provider/`).
    pub model: &'a str,
    /// The key to send, if the provider gets one.
    pub key: Option<&'a str>,
}

/// An HTTP request ready for the transport.
#[derive(Debug, Clone)]
pub struct WireRequest {
    pub method: &'static str,
    pub url: Url,
    /// Header pairs, the key's among them.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl WireRequest {
    /// A JSON `POST` to `url`.
    pub fn post_json(url: Url, headers: Vec<(String, String)>, body: Vec<u8>) -> WireRequest {
        let mut headers = headers;
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        WireRequest { method: "POST", url, headers, body: Some(body) }
    }

    /// A `GET` to `url`.
    pub fn get(url: Url, headers: Vec<(String, String)>) -> WireRequest {
        WireRequest { method: "GET", url, headers, body: None }
    }
}

/// How a provider frames a streamed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Server-sent events (`event:` / `data:`).
    Sse,
    /// One JSON object per line.
    Ndjson,
}

/// What a provider's error body says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fault {
    /// The provider's own message.
    pub message: Option<String>,
    /// A code the body makes clearer than the status (Gemini's invalid key is a 400).
    pub code: Option<ErrorCode>,
    /// A retry hint inside the body (Gemini's `RetryInfo`).
    pub retry_after_ms: Option<u64>,
}

/// One wire format.
pub trait Adapter: Send + Sync {
    /// The request for `req` (whose `model` is already the provider's name).
    /// `invalid_input` naming the field when the format cannot express it.
    fn chat(&self, up: Upstream<'_>, req: &ChatRequest, stream: bool) -> Result<WireRequest>;

    /// A whole answer's body.
    fn answer(&self, body: &[u8]) -> Result<ChatResponse>;

    /// A fresh decoder for one streamed answer.
    fn decoder(&self) -> Box<dyn Decoder>;

    /// How streams are framed.
    fn framing(&self) -> Framing {
        Framing::Sse
    }

    /// What an error body says.
    fn fault(&self, body: &[u8]) -> Fault;

    /// The cheapest authenticated call the provider offers (its model listing).
    fn probe(&self, up: Upstream<'_>) -> Result<WireRequest>;
}

/// Turns one streamed answer's frames into chunks.
pub trait Decoder: Send {
    /// One frame: an SSE event (its name, if any, and data) or one NDJSON line.
    fn frame(&mut self, event: Option<&str>, data: &str) -> Result<Vec<ChatChunk>>;

    /// Whether the provider's own end marker was seen (a stream that stops
    /// before it broke off).
    fn finished(&self) -> bool;
}

/// The adapter for `wire`.
pub fn for_wire(wire: Wire) -> &'static dyn Adapter {
    match wire {
        Wire::Openai => &openai::OpenAi,
        Wire::Anthropic => &anthropic::Anthropic,
        Wire::Gemini => &gemini::Gemini,
        Wire::Ollama => &ollama::Ollama,
    }
}

/// `base` with `path` appended (`https://x/v1` + `chat/completions`).
pub fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{}", base.path().trim_end_matches('/'), path.trim_start_matches('/'));
    url.set_path(&joined);
    url
}

/// JSON of `value`; the types here always serialize.
pub fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::internal(format!("could not encode a provider request: {e}")))
}

/// Parse a provider's JSON answer, `schema_mismatch` naming the provider format otherwise.
pub fn from_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        Error::new(ErrorCode::SchemaMismatch, format!("the provider's {what} is not what its API documents: {e}"))
    })
}

/// An image a `data:` URL carries: media type and base64 payload.
pub fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    (!media.is_empty()).then_some((media, data))
}

/// `invalid_input` for a part the format cannot carry.
pub fn unsupported(provider: &str, field: String, what: &str) -> Error {
    Error::invalid_input(format!("`{field}`: provider `{provider}` does not take {what}"))
}

/// The base64 payload of an image part for formats that only take inline
/// bytes; http(s) URLs are refused rather than fetched, since fetching
/// would be egress on the client's behalf.
pub fn inline_image<'u>(provider: &str, field: String, url: &'u str) -> Result<(&'u str, &'u str)> {
    let (media, data) = data_url(url).ok_or_else(|| {
        Error::invalid_input(format!(
            "`{field}`: provider `{provider}` takes images as `data:<type>;base64,` URLs only; inline the image"
        ))
    })?;
    if base64::engine::general_purpose::STANDARD.decode(data.as_bytes()).is_err() {
        return Err(Error::invalid_input(format!("`{field}`: the image's base64 does not decode")));
    }
    Ok((media, data))
}

/// The name of the function a `tool` message at `index` answers: the call
/// with its `tool_call_id` in the nearest assistant message before it.
pub fn called_function(messages: &[Message], index: usize) -> Option<&str> {
    let id = messages.get(index)?.tool_call_id.as_deref()?;
    messages[..index]
        .iter()
        .rev()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.tool_calls.iter().flatten())
        .find(|call| call.id == id)
        .map(|call| call.function.name.as_str())
}

/// Tool-call arguments (a JSON string on the OpenAI side) as the object the
/// other formats want; `invalid_input` naming the field when it is not JSON.
pub fn arguments_object(text: &str, field: String) -> Result<serde_json::Value> {
    if text.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_str(text).map_err(|e| Error::invalid_input(format!("`{field}` is not JSON text: {e}")))
}

/// A fresh tool-call id for formats whose calls have none.
pub fn new_call_id() -> String {
    format!("call_{}", &uuid::Uuid::now_v7().simple().to_string()[8..])
}

#[cfg(test)]
mod tests;

/// A whole answer of one choice, as a provider without OpenAI's shape
/// (Anthropic, Gemini) gives it: its text (`content` is left out only when
/// there are tool calls and no text), its tool calls, why it finished and
/// what it used.
pub fn one_answer(
    id: &str,
    model: &str,
    text: String,
    calls: Vec<ToolCall>,
    finish: String,
    usage: Usage,
) -> ChatResponse {
    let message = AnswerMessage {
        content: (!text.is_empty() || calls.is_empty()).then_some(text),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..AnswerMessage::default()
    };
    ChatResponse {
        id: id.to_owned(),
        object: "chat.completion".to_owned(),
        created: unix_now(),
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish),
            logprobs: None,
            extra: Default::default(),
        }],
        usage: Some(usage),
        extra: Default::default(),
    }
}
