//! Anthropic Messages (`POST {base}/v1/messages`), with its named SSE events.
//!
//! System and developer messages become the top-level `system`; images
//! become `image` blocks (base64 or URL sources); an assistant's tool calls
//! become `tool_use` blocks (arguments as an object) and `tool` messages
//! `tool_result` blocks in a user turn; consecutive turns of one role are
//! merged, as the API wants them alternating. JSON mode is the API's
//! structured output (`output_config.format`). `max_tokens` is required by
//! the API: absent, [`DEFAULT_MAX_TOKENS`] is sent.

use super::{
    Adapter, Decoder, Fault, Upstream, WireRequest, arguments_object, data_url, from_json, join, one_answer, to_json,
    unsupported,
};
use crate::gateway::chat::{
    ChatChunk, ChatRequest, ChatResponse, Delta, FunctionCall, Part, Role, ToolCall, ToolChoice, Usage,
};
use crate::{Error, ErrorCode, Result};
use serde_json::{Map, Value, json};

/// The API version the gateway speaks (the one the current official client sends).
pub const API_VERSION: &str = "2026-10-21";

/// Sent as `max_tokens` when the client set no limit (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Anthropic wire format.
pub struct Anthropic;

fn headers(up: Upstream<'_>) -> Vec<(String, String)> {
    let mut headers = vec![("anthropic-version".to_owned(), API_VERSION.to_owned())];
    if let Some(key) = up.key {
        headers.push(("authorization".to_owned(), format!("Bearer {key}")));
    }
    headers
}

impl Adapter for Anthropic {
    fn chat(&self, up: Upstream<'_>, req: &ChatRequest, stream: bool) -> Result<WireRequest> {
        let provider = up.provider.name.as_str();
        let mut system = Vec::new();
        let mut turns: Vec<(Role, Vec<Value>)> = Vec::new();
        for (i, message) in req.messages.iter().enumerate() {
            let (role, blocks) = match message.role {
                Role::System | Role::Developer => {
                    system.push(json!({ "type": "text", "text": message.joined_text() }));
                    continue;
                }
                Role::User => (Role::User, user_blocks(provider, i, message)?),
                Role::Assistant => (Role::Assistant, assistant_blocks(i, message)?),
                Role::Tool => {
                    let id = message.tool_call_id.clone().ok_or_else(|| {
                        Error::invalid_input(format!("`messages[{i}].tool_call_id` is required on a tool message"))
                    })?;
                    (
                        Role::User,
                        vec![json!({ "type": "tool_result", "tool_use_id": id, "content": message.joined_text() })],
                    )
                }
            };
            match turns.last_mut() {
                Some((last, existing)) if *last == role => existing.extend(blocks),
                _ => turns.push((role, blocks)),
            }
        }
        let messages: Vec<Value> = turns
            .into_iter()
            .map(|(role, content)| json!({ "role": if role == Role::User { "user" } else { "assistant" }, "content": content }))
            .collect();
        let mut body = Map::new();
        body.insert("model".into(), json!(up.model));
        body.insert("max_tokens".into(), json!(req.output_limit().unwrap_or(DEFAULT_MAX_TOKENS)));
        body.insert("messages".into(), Value::Array(messages));
        if !system.is_empty() {
            body.insert("system".into(), Value::Array(system));
        }
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = req.top_p {
            body.insert("top_p".into(), json!(p));
        }
        if let Some(stop) = &req.stop {
            body.insert("stop_sequences".into(), json!(stop));
        }
        if let Some(tools) = &req.tools {
            let tools: Vec<Value> = tools
                .iter()
                .map(|t| {
                    let mut tool = json!({
                        "name": t.function.name,
                        "input_schema": t.function.parameters.clone().unwrap_or_else(|| json!({ "type": "object" })),
                    });
                    if let Some(d) = &t.function.description {
                        tool["description"] = json!(d);
                    }
                    tool
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(choice) = &req.tool_choice {
            let choice = match choice {
                ToolChoice::None => json!({ "type": "none" }),
                ToolChoice::Auto => json!({ "type": "auto" }),
                ToolChoice::Required => json!({ "type": "any" }),
                ToolChoice::Function(name) => json!({ "type": "tool", "name": name }),
            };
            body.insert("tool_choice".into(), choice);
        }
        if let Some(mode) = req.json_mode() {
            body.insert(
                "output_config".into(),
                json!({ "format": { "type": "json_schema", "schema": mode.schema() } }),
            );
        }
        if stream {
            body.insert("stream".into(), json!(true));
        }
        let mut headers = headers(up);
        if stream {
            headers.push(("accept".to_owned(), "text/event-stream".to_owned()));
        }
        Ok(WireRequest::post_json(join(&up.provider.base_url, "v1/messages"), headers, to_json(&body)?))
    }

    fn answer(&self, body: &[u8]) -> Result<ChatResponse> {
        let message: Value = from_json(body, "message")?;
        let Some(blocks) = message["content"].as_array() else {
            return Err(Error::new(ErrorCode::SchemaMismatch, "the provider's message has no `content` list"));
        };
        let mut text = String::new();
        let mut calls = Vec::new();
        for block in blocks {
            match block["type"].as_str() {
                Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
                Some("tool_use") => calls.push(ToolCall {
                    id: block["id"].as_str().unwrap_or_default().to_owned(),
                    kind: "function".to_owned(),
                    function: FunctionCall {
                        name: block["name"].as_str().unwrap_or_default().to_owned(),
                        arguments: block["input"].to_string(),
                    },
                }),
                _ => {}
            }
        }
        Ok(one_answer(
            message["id"].as_str().unwrap_or_default(),
            message["model"].as_str().unwrap_or_default(),
            text,
            calls,
            finish_reason(message["stop_reason"].as_str()).to_owned(),
            usage(&message["usage"], &Value::Null),
        ))
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(AnthropicStream::default())
    }

    fn fault(&self, body: &[u8]) -> Fault {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let error = &value["error"];
        Fault {
            message: error["message"].as_str().map(str::to_owned),
            code: error["type"].as_str().and_then(error_code),
            retry_after_ms: None,
        }
    }

    fn probe(&self, up: Upstream<'_>) -> Result<WireRequest> {
        Ok(WireRequest::get(join(&up.provider.base_url, "v1/models"), headers(up)))
    }
}

fn user_blocks(provider: &str, i: usize, message: &crate::gateway::chat::Message) -> Result<Vec<Value>> {
    let Some(content) = &message.content else { return Ok(Vec::new()) };
    content
        .parts()
        .into_iter()
        .enumerate()
        .map(|(j, part)| match part {
            Part::Text { text } => Ok(json!({ "type": "text", "text": text })),
            Part::Image { url, .. } => Ok(match data_url(&url) {
                Some((media, data)) => {
                    json!({ "type": "image", "source": { "type": "base64", "media_type": media, "data": data } })
                }
                None => json!({ "type": "image", "source": { "type": "url", "url": url } }),
            }),
            other => {
                Err(unsupported(provider, format!("messages[{i}].content[{j}]"), &format!("`{}` parts", other.kind())))
            }
        })
        .collect()
}

fn assistant_blocks(i: usize, message: &crate::gateway::chat::Message) -> Result<Vec<Value>> {
    let mut blocks = Vec::new();
    let text = message.joined_text();
    if !text.is_empty() {
        blocks.push(json!({ "type": "text", "text": text }));
    }
    for (j, call) in message.tool_calls.iter().flatten().enumerate() {
        let input =
            arguments_object(&call.function.arguments, format!("messages[{i}].tool_calls[{j}].function.arguments"))?;
        blocks.push(json!({ "type": "tool_use", "id": call.id, "name": call.function.name, "input": input }));
    }
    Ok(blocks)
}

/// Anthropic's `stop_reason` as OpenAI's `finish_reason`.
fn finish_reason(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") | Some("model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// Anthropic's usage (input tokens exclude cache reads and writes; OpenAI's
/// prompt tokens include them, with the cached ones in the details).
fn usage(start: &Value, delta: &Value) -> Usage {
    let count = |v: &Value, name: &str| v[name].as_u64().unwrap_or(0);
    let pick = |name: &str| if delta[name].is_u64() { count(delta, name) } else { count(start, name) };
    let cached = pick("cache_read_input_tokens");
    let prompt = pick("input_tokens") + pick("cache_creation_input_tokens") + cached;
    let mut usage = Usage::new(prompt, pick("output_tokens"));
    if cached > 0 {
        usage.extra.insert("prompt_tokens_details".into(), json!({ "cached_tokens": cached }));
    }
    usage
}

/// Anthropic's error `type` on the closed set.
fn error_code(kind: &str) -> Option<ErrorCode> {
    Some(match kind {
        "invalid_request_error" | "request_too_large" => ErrorCode::InvalidInput,
        "authentication_error" | "permission_error" => ErrorCode::AuthFailed,
        "not_found_error" => ErrorCode::NotFound,
        "rate_limit_error" | "overloaded_error" => ErrorCode::RateLimited,
        "api_error" => ErrorCode::NetworkError,
        "timeout_error" => ErrorCode::Timeout,
        _ => return None,
    })
}

/// Decodes `message_start`, `content_block_*`, `message_delta`, `message_stop`,
/// `ping` and `error` events.
#[derive(Default)]
struct AnthropicStream {
    /// `message_start`'s usage (input tokens), completed by `message_delta`.
    start_usage: Value,
    /// Content block index → tool-call index, for `tool_use` blocks.
    tools: Vec<(u64, u32)>,
    done: bool,
}

impl Decoder for AnthropicStream {
    fn frame(&mut self, event: Option<&str>, data: &str) -> Result<Vec<ChatChunk>> {
        let value: Value = from_json(data.as_bytes(), "stream event")?;
        let kind = value["type"].as_str().or(event).unwrap_or_default();
        let chunk = |delta: Delta| vec![ChatChunk::delta(delta, None)];
        Ok(match kind {
            "message_start" => {
                self.start_usage = value["message"]["usage"].clone();
                let mut first = ChatChunk::delta(Delta::role(), None);
                first.id = value["message"]["id"].as_str().unwrap_or_default().to_owned();
                vec![first]
            }
            "content_block_start" if value["content_block"]["type"] == "tool_use" => {
                let index = self.tools.len() as u32;
                self.tools.push((value["index"].as_u64().unwrap_or(0), index));
                let block = &value["content_block"];
                let id = block["id"].as_str().map(str::to_owned);
                let name = block["name"].as_str().map(str::to_owned);
                chunk(Delta::tool_call(index, id, name, ""))
            }
            "content_block_delta" => {
                let delta = &value["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => chunk(Delta::text(delta["text"].as_str().unwrap_or_default())),
                    Some("input_json_delta") => {
                        let block = value["index"].as_u64().unwrap_or(0);
                        let index = self.tools.iter().find(|(b, _)| *b == block).map(|(_, i)| *i).unwrap_or(0);
                        chunk(Delta::tool_call(index, None, None, delta["partial_json"].as_str().unwrap_or_default()))
                    }
                    _ => Vec::new(),
                }
            }
            "message_delta" => {
                let reason = finish_reason(value["delta"]["stop_reason"].as_str()).to_owned();
                let usage = usage(&self.start_usage, &value["usage"]);
                vec![ChatChunk::delta(Delta::default(), Some(reason)), ChatChunk::usage(usage)]
            }
            "message_stop" => {
                self.done = true;
                Vec::new()
            }
            "error" => {
                let error = &value["error"];
                let code = error["type"].as_str().and_then(error_code).unwrap_or(ErrorCode::NetworkError);
                let message = error["message"].as_str().unwrap_or("the provider reported an error");
                return Err(Error::new(code, format!("the provider broke off the stream: {message}")));
            }
            _ => Vec::new(),
        })
    }

    fn finished(&self) -> bool {
        self.done
    }
}
