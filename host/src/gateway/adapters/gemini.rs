//! Gemini (`POST {base}/v1/models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse` for streams), key in `x-goog-api-key`;
//! [`API_VERSION`] is the one the current official client (`google-genai`)
//! uses by default.
//!
//! Assistant turns are `model` contents; tool calls are `functionCall` parts
//! (arguments as an object) and tool results `functionResponse` parts naming
//! the function, which Gemini needs and OpenAI's tool messages lack (it is
//! looked up from the call's id). System messages become
//! `systemInstruction`; images must be inline (`data:` URLs); JSON mode is
//! `responseMimeType` with `responseJsonSchema`. Gemini sends each call
//! whole, so a stream carries each tool call as one fragment.

use super::{
    Adapter, Decoder, Fault, Upstream, WireRequest, arguments_object, called_function, from_json, inline_image, join,
    new_call_id, one_answer, to_json, unsupported,
};
use crate::gateway::chat::{
    ChatChunk, ChatRequest, ChatResponse, Delta, FunctionCall, Part, Role, ToolCall, ToolChoice, Usage,
};
use crate::{Error, ErrorCode, Result};
use serde_json::{Map, Value, json};

/// The API version in the path.
pub const API_VERSION: &str = "v1";

/// The Gemini wire format.
pub struct Gemini;

fn headers(up: Upstream<'_>) -> Vec<(String, String)> {
    up.key.map(|key| vec![("x-goog-api-key".to_owned(), key.to_owned())]).unwrap_or_default()
}

impl Adapter for Gemini {
    fn chat(&self, up: Upstream<'_>, req: &ChatRequest, stream: bool) -> Result<WireRequest> {
        let provider = up.provider.name.as_str();
        let mut system = Vec::new();
        let mut contents: Vec<(&str, Vec<Value>)> = Vec::new();
        for (i, message) in req.messages.iter().enumerate() {
            let (role, parts) = match message.role {
                Role::System | Role::Developer => {
                    system.push(json!({ "text": message.joined_text() }));
                    continue;
                }
                Role::User => ("user", user_parts(provider, i, message)?),
                Role::Assistant => ("model", model_parts(i, message)?),
                Role::Tool => {
                    let name = called_function(&req.messages, i).ok_or_else(|| {
                        Error::invalid_input(format!(
                            "`messages[{i}].tool_call_id` names no tool call of an earlier assistant message"
                        ))
                    })?;
                    let text = message.joined_text();
                    let response = match serde_json::from_str::<Value>(&text) {
                        Ok(Value::Object(object)) => Value::Object(object),
                        _ => json!({ "result": text }),
                    };
                    let mut call = json!({ "name": name, "response": response });
                    if let Some(id) = &message.tool_call_id {
                        call["id"] = json!(id);
                    }
                    ("user", vec![json!({ "functionResponse": call })])
                }
            };
            match contents.last_mut() {
                Some((last, existing)) if *last == role => existing.extend(parts),
                _ => contents.push((role, parts)),
            }
        }
        let mut body = Map::new();
        let contents: Vec<Value> =
            contents.into_iter().map(|(role, parts)| json!({ "role": role, "parts": parts })).collect();
        body.insert("contents".into(), Value::Array(contents));
        if !system.is_empty() {
            body.insert("systemInstruction".into(), json!({ "parts": system }));
        }
        let mut generation = Map::new();
        if let Some(t) = req.temperature {
            generation.insert("temperature".into(), json!(t));
        }
        if let Some(p) = req.top_p {
            generation.insert("topP".into(), json!(p));
        }
        if let Some(max) = req.output_limit() {
            generation.insert("maxOutputTokens".into(), json!(max));
        }
        if let Some(stop) = &req.stop {
            generation.insert("stopSequences".into(), json!(stop));
        }
        if let Some(mode) = req.json_mode() {
            generation.insert("responseMimeType".into(), json!("application/json"));
            generation.insert("responseJsonSchema".into(), mode.schema());
        }
        if !generation.is_empty() {
            body.insert("generationConfig".into(), Value::Object(generation));
        }
        if let Some(tools) = &req.tools {
            let declarations: Vec<Value> = tools
                .iter()
                .map(|t| {
                    let mut declaration = json!({ "name": t.function.name });
                    if let Some(d) = &t.function.description {
                        declaration["description"] = json!(d);
                    }
                    if let Some(p) = &t.function.parameters {
                        declaration["parametersJsonSchema"] = p.clone();
                    }
                    declaration
                })
                .collect();
            body.insert("tools".into(), json!([{ "functionDeclarations": declarations }]));
        }
        if let Some(choice) = &req.tool_choice {
            let config = match choice {
                ToolChoice::None => json!({ "mode": "NONE" }),
                ToolChoice::Auto => json!({ "mode": "AUTO" }),
                ToolChoice::Required => json!({ "mode": "ANY" }),
                ToolChoice::Function(name) => json!({ "mode": "ANY", "allowedFunctionNames": [name] }),
            };
            body.insert("toolConfig".into(), json!({ "functionCallingConfig": config }));
        }
        let model = up.model.strip_prefix("models/").unwrap_or(up.model);
        let mut url = join(
            &up.provider.base_url,
            &format!(
                "{API_VERSION}/models/{model}:{}",
                if stream { "streamGenerateContent" } else { "generateContent" }
            ),
        );
        if stream {
            url.set_query(Some("alt=sse"));
        }
        Ok(WireRequest::post_json(url, headers(up), to_json(&body)?))
    }

    fn answer(&self, body: &[u8]) -> Result<ChatResponse> {
        let value: Value = from_json(body, "generateContent answer")?;
        let candidate = &value["candidates"][0];
        let mut text = String::new();
        let mut calls = Vec::new();
        for part in candidate["content"]["parts"].as_array().into_iter().flatten() {
            if part["thought"] == true {
                continue;
            }
            if let Some(t) = part["text"].as_str() {
                text.push_str(t);
            }
            if let Some(call) = part.get("functionCall") {
                calls.push(tool_call(call));
            }
        }
        let finish = finish_reason(candidate["finishReason"].as_str(), !calls.is_empty(), &value);
        Ok(one_answer(
            value["responseId"].as_str().unwrap_or_default(),
            value["modelVersion"].as_str().unwrap_or_default(),
            text,
            calls,
            finish,
            usage(&value["usageMetadata"]),
        ))
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(GeminiStream::default())
    }

    fn fault(&self, body: &[u8]) -> Fault {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let error = &value["error"];
        let details = error["details"].as_array().cloned().unwrap_or_default();
        let invalid_key = details.iter().any(|d| d["reason"] == "API_KEY_INVALID");
        let retry_after_ms = details
            .iter()
            .filter_map(|d| d["retryDelay"].as_str())
            .find_map(|delay| delay.strip_suffix('s')?.parse::<f64>().ok())
            .map(|secs| (secs * 1000.0).round() as u64);
        Fault {
            message: error["message"].as_str().map(str::to_owned),
            code: invalid_key.then_some(ErrorCode::AuthFailed),
            retry_after_ms,
        }
    }

    fn probe(&self, up: Upstream<'_>) -> Result<WireRequest> {
        Ok(WireRequest::get(join(&up.provider.base_url, &format!("{API_VERSION}/models")), headers(up)))
    }
}

fn user_parts(provider: &str, i: usize, message: &crate::gateway::chat::Message) -> Result<Vec<Value>> {
    let Some(content) = &message.content else { return Ok(Vec::new()) };
    content
        .parts()
        .into_iter()
        .enumerate()
        .map(|(j, part)| match part {
            Part::Text { text } => Ok(json!({ "text": text })),
            Part::Image { url, .. } => {
                let (media, data) = inline_image(provider, format!("messages[{i}].content[{j}]"), &url)?;
                Ok(json!({ "inlineData": { "mimeType": media, "data": data } }))
            }
            other => {
                Err(unsupported(provider, format!("messages[{i}].content[{j}]"), &format!("`{}` parts", other.kind())))
            }
        })
        .collect()
}

fn model_parts(i: usize, message: &crate::gateway::chat::Message) -> Result<Vec<Value>> {
    let mut parts = Vec::new();
    let text = message.joined_text();
    if !text.is_empty() {
        parts.push(json!({ "text": text }));
    }
    for (j, call) in message.tool_calls.iter().flatten().enumerate() {
        let args =
            arguments_object(&call.function.arguments, format!("messages[{i}].tool_calls[{j}].function.arguments"))?;
        parts.push(json!({ "functionCall": { "name": call.function.name, "args": args, "id": call.id } }));
    }
    Ok(parts)
}

fn tool_call(call: &Value) -> ToolCall {
    ToolCall {
        id: call["id"].as_str().map(str::to_owned).unwrap_or_else(new_call_id),
        kind: "function".to_owned(),
        function: FunctionCall {
            name: call["name"].as_str().unwrap_or_default().to_owned(),
            arguments: if call["args"].is_null() { "{}".to_owned() } else { call["args"].to_string() },
        },
    }
}

/// Gemini's `finishReason` as OpenAI's `finish_reason`.
fn finish_reason(reason: Option<&str>, called: bool, answer: &Value) -> String {
    let reason = match reason {
        Some("MAX_TOKENS") => "length",
        Some("SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY") => {
            "content_filter"
        }
        None if answer["promptFeedback"]["blockReason"].is_string() => "content_filter",
        _ if called => "tool_calls",
        _ => "stop",
    };
    reason.to_owned()
}

/// `usageMetadata` (thinking tokens count as output, as OpenAI counts reasoning).
fn usage(meta: &Value) -> Usage {
    let count = |name: &str| meta[name].as_u64().unwrap_or(0);
    let thoughts = count("thoughtsTokenCount");
    let mut usage = Usage::new(count("promptTokenCount"), count("candidatesTokenCount") + thoughts);
    if thoughts > 0 {
        usage.extra.insert("completion_tokens_details".into(), json!({ "reasoning_tokens": thoughts }));
    }
    if let Some(cached) = meta["cachedContentTokenCount"].as_u64() {
        usage.extra.insert("prompt_tokens_details".into(), json!({ "cached_tokens": cached }));
    }
    usage
}

/// Each SSE `data:` is a whole `GenerateContentResponse` carrying the next
/// piece; the usage of the last one is the answer's.
#[derive(Default)]
struct GeminiStream {
    started: bool,
    calls: u32,
    usage: Option<Value>,
    finished: bool,
}

impl Decoder for GeminiStream {
    fn frame(&mut self, _event: Option<&str>, data: &str) -> Result<Vec<ChatChunk>> {
        let value: Value = from_json(data.as_bytes(), "stream event")?;
        if let Some(error) = value.get("error") {
            let message = error["message"].as_str().unwrap_or("the provider reported an error");
            return Err(Error::new(ErrorCode::NetworkError, format!("the provider broke off the stream: {message}")));
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let mut first = ChatChunk::delta(Delta::role(), None);
            first.id = value["responseId"].as_str().unwrap_or_default().to_owned();
            out.push(first);
        }
        let candidate = &value["candidates"][0];
        for part in candidate["content"]["parts"].as_array().into_iter().flatten() {
            if part["thought"] == true {
                continue;
            }
            if let Some(text) = part["text"].as_str().filter(|t| !t.is_empty()) {
                out.push(ChatChunk::delta(Delta::text(text), None));
            }
            if let Some(call) = part.get("functionCall") {
                let call = tool_call(call);
                let delta =
                    Delta::tool_call(self.calls, Some(call.id), Some(call.function.name), call.function.arguments);
                self.calls += 1;
                out.push(ChatChunk::delta(delta, None));
            }
        }
        if value["usageMetadata"].is_object() {
            self.usage = Some(value["usageMetadata"].clone());
        }
        let reason = candidate["finishReason"].as_str();
        if reason.is_some() || value["promptFeedback"]["blockReason"].is_string() {
            self.finished = true;
            out.push(ChatChunk::delta(Delta::default(), Some(finish_reason(reason, self.calls > 0, &value))));
            out.push(ChatChunk::usage(usage(self.usage.as_ref().unwrap_or(&Value::Null))));
        }
        Ok(out)
    }

    fn finished(&self) -> bool {
        self.finished
    }
}
