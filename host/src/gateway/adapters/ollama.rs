//! Ollama (`POST {base}/api/chat`), streaming one JSON object per line.
//!
//! Messages carry text in `content` and images as bare base64 in `images`
//! (inline `data:` URLs only); tool calls have object arguments and no ids
//! (the gateway makes them up), tool results are `tool` messages with the
//! function's `tool_name`. Options go under `options` (`num_predict` is the
//! output limit); JSON mode is `format` (`"json"` or the schema). Ollama
//! streams unless told not to, so `stream` is always sent.

use super::{
    Adapter, Decoder, Fault, Upstream, WireRequest, arguments_object, called_function, from_json, inline_image, join,
    new_call_id, to_json, unsupported,
};
use crate::gateway::chat::{
    AnswerMessage, ChatChunk, ChatRequest, ChatResponse, Choice, Delta, FunctionCall, JsonMode, Part, Role, ToolCall,
    ToolChoice, Usage, unix_now,
};
use crate::{Error, ErrorCode, Result};
use serde_json::{Map, Value, json};

/// The Ollama wire format.
pub struct Ollama;

fn headers(up: Upstream<'_>) -> Vec<(String, String)> {
    up.key.map(|key| vec![("authorization".to_owned(), format!("Bearer {key}"))]).unwrap_or_default()
}

impl Adapter for Ollama {
    fn chat(&self, up: Upstream<'_>, req: &ChatRequest, stream: bool) -> Result<WireRequest> {
        let provider = up.provider.name.as_str();
        let mut messages = Vec::with_capacity(req.messages.len());
        for (i, message) in req.messages.iter().enumerate() {
            let role = match message.role {
                Role::System | Role::Developer => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
                Role::Tool => "tool",
            };
            let mut out = json!({ "role": role, "content": message.joined_text() });
            let mut images = Vec::new();
            for (j, part) in message.content.as_ref().map(|c| c.parts()).unwrap_or_default().into_iter().enumerate() {
                match part {
                    Part::Text { .. } => {}
                    Part::Image { url, .. } => {
                        let (_, data) = inline_image(provider, format!("messages[{i}].content[{j}]"), &url)?;
                        images.push(json!(data));
                    }
                    other => {
                        let field = format!("messages[{i}].content[{j}]");
                        return Err(unsupported(provider, field, &format!("`{}` parts", other.kind())));
                    }
                }
            }
            if !images.is_empty() {
                out["images"] = Value::Array(images);
            }
            if let Some(calls) = &message.tool_calls {
                let calls = calls
                    .iter()
                    .enumerate()
                    .map(|(j, call)| {
                        let field = format!("messages[{i}].tool_calls[{j}].function.arguments");
                        let arguments = arguments_object(&call.function.arguments, field)?;
                        Ok(json!({ "function": { "name": call.function.name, "arguments": arguments } }))
                    })
                    .collect::<Result<Vec<_>>>()?;
                out["tool_calls"] = Value::Array(calls);
            }
            if message.role == Role::Tool
                && let Some(name) = called_function(&req.messages, i)
            {
                out["tool_name"] = json!(name);
            }
            messages.push(out);
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(up.model));
        body.insert("messages".into(), Value::Array(messages));
        body.insert("stream".into(), json!(stream));
        let mut options = Map::new();
        if let Some(t) = req.temperature {
            options.insert("temperature".into(), json!(t));
        }
        if let Some(p) = req.top_p {
            options.insert("top_p".into(), json!(p));
        }
        if let Some(max) = req.output_limit() {
            options.insert("num_predict".into(), json!(max));
        }
        if let Some(stop) = &req.stop {
            options.insert("stop".into(), json!(stop));
        }
        if !options.is_empty() {
            body.insert("options".into(), Value::Object(options));
        }
        match req.json_mode() {
            Some(JsonMode::Object) => {
                body.insert("format".into(), json!("json"));
            }
            Some(mode) => {
                body.insert("format".into(), mode.schema());
            }
            None => {}
        }
        // Ollama has no tool_choice: `none` is said by sending no tools.
        if let Some(tools) = req.tools.as_ref().filter(|_| req.tool_choice != Some(ToolChoice::None)) {
            body.insert("tools".into(), serde_json::to_value(tools).map_err(|e| Error::internal(e.to_string()))?);
        }
        Ok(WireRequest::post_json(join(&up.provider.base_url, "api/chat"), headers(up), to_json(&body)?))
    }

    fn answer(&self, body: &[u8]) -> Result<ChatResponse> {
        let value: Value = from_json(body, "chat answer")?;
        let calls: Vec<ToolCall> =
            value["message"]["tool_calls"].as_array().into_iter().flatten().map(tool_call).collect();
        let text = value["message"]["content"].as_str().unwrap_or_default().to_owned();
        let answer = AnswerMessage {
            content: (!text.is_empty() || calls.is_empty()).then_some(text),
            tool_calls: (!calls.is_empty()).then_some(calls.clone()),
            ..AnswerMessage::default()
        };
        Ok(ChatResponse {
            id: format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()),
            object: "chat.completion".to_owned(),
            created: unix_now(),
            model: value["model"].as_str().unwrap_or_default().to_owned(),
            choices: vec![Choice {
                index: 0,
                message: answer,
                finish_reason: Some(finish_reason(value["done_reason"].as_str(), !calls.is_empty())),
                logprobs: None,
                extra: Map::new(),
            }],
            usage: Some(usage(&value)),
            extra: Map::new(),
        })
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(OllamaStream::default())
    }

    fn framing(&self) -> super::Framing {
        super::Framing::Ndjson
    }

    fn fault(&self, body: &[u8]) -> Fault {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        Fault { message: value["error"].as_str().map(str::to_owned), ..Fault::default() }
    }

    fn probe(&self, up: Upstream<'_>) -> Result<WireRequest> {
        Ok(WireRequest::get(join(&up.provider.base_url, "api/tags"), headers(up)))
    }
}

fn tool_call(call: &Value) -> ToolCall {
    let function = &call["function"];
    ToolCall {
        id: call["id"].as_str().map(str::to_owned).unwrap_or_else(new_call_id),
        kind: "function".to_owned(),
        function: FunctionCall {
            name: function["name"].as_str().unwrap_or_default().to_owned(),
            arguments: match &function["arguments"] {
                Value::String(text) => text.clone(),
                Value::Null => "{}".to_owned(),
                other => other.to_string(),
            },
        },
    }
}

fn finish_reason(reason: Option<&str>, called: bool) -> String {
    match reason {
        Some("length") => "length",
        _ if called => "tool_calls",
        _ => "stop",
    }
    .to_owned()
}

fn usage(answer: &Value) -> Usage {
    Usage::new(answer["prompt_eval_count"].as_u64().unwrap_or(0), answer["eval_count"].as_u64().unwrap_or(0))
}

#[derive(Default)]
struct OllamaStream {
    started: bool,
    calls: u32,
    done: bool,
}

impl Decoder for OllamaStream {
    fn frame(&mut self, _event: Option<&str>, data: &str) -> Result<Vec<ChatChunk>> {
        if data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let value: Value = from_json(data.as_bytes(), "stream line")?;
        if let Some(message) = value["error"].as_str() {
            return Err(Error::new(ErrorCode::NetworkError, format!("the provider broke off the stream: {message}")));
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(ChatChunk::delta(Delta::role(), None));
        }
        if let Some(text) = value["message"]["content"].as_str().filter(|t| !t.is_empty()) {
            out.push(ChatChunk::delta(Delta::text(text), None));
        }
        for call in value["message"]["tool_calls"].as_array().into_iter().flatten() {
            let call = tool_call(call);
            out.push(ChatChunk::delta(
                Delta::tool_call(self.calls, Some(call.id), Some(call.function.name), call.function.arguments),
                None,
            ));
            self.calls += 1;
        }
        if value["done"] == true {
            self.done = true;
            out.push(ChatChunk::delta(
                Delta::default(),
                Some(finish_reason(value["done_reason"].as_str(), self.calls > 0)),
            ));
            out.push(ChatChunk::usage(usage(&value)));
        }
        Ok(out)
    }

    fn finished(&self) -> bool {
        self.done
    }
}
