//! OpenAI chat completions, spoken by OpenAI, DeepSeek, OpenRouter, Groq,
//! Mistral and any OpenAI-compatible server: the request passes through as
//! the client sent it (fields the gateway does not know included), with the
//! provider's model name and, when streaming, `stream_options.include_usage`
//! so the gateway can meter tokens.

use super::{Adapter, Decoder, Fault, Upstream, WireRequest, from_json, join, to_json};
use crate::gateway::chat::{ChatChunk, ChatRequest, ChatResponse, StreamOptions};
use crate::{Error, ErrorCode, Result};
use serde_json::Value;

/// The OpenAI wire format.
pub struct OpenAi;

fn auth(up: Upstream<'_>) -> Vec<(String, String)> {
    up.key.map(|key| vec![("authorization".to_owned(), format!("Bearer {key}"))]).unwrap_or_default()
}

impl Adapter for OpenAi {
    fn chat(&self, up: Upstream<'_>, req: &ChatRequest, stream: bool) -> Result<WireRequest> {
        let mut out = req.clone();
        out.model = up.model.to_owned();
        if stream {
            out.stream = Some(true);
            let options = out.stream_options.get_or_insert_with(StreamOptions::default);
            options.include_usage = Some(true);
        } else {
            out.stream = None;
            out.stream_options = None;
        }
        let mut headers = auth(up);
        if stream {
            headers.push(("accept".to_owned(), "text/event-stream".to_owned()));
        }
        Ok(WireRequest::post_json(join(&up.provider.base_url, "chat/completions"), headers, to_json(&out)?))
    }

    fn answer(&self, body: &[u8]) -> Result<ChatResponse> {
        from_json(body, "chat completion")
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(OpenAiStream { done: false })
    }

    fn fault(&self, body: &[u8]) -> Fault {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let message = value["error"]["message"].as_str().or(value["message"].as_str()).map(str::to_owned);
        Fault { message, ..Fault::default() }
    }

    fn probe(&self, up: Upstream<'_>) -> Result<WireRequest> {
        Ok(WireRequest::get(join(&up.provider.base_url, "models"), auth(up)))
    }
}

struct OpenAiStream {
    done: bool,
}

impl Decoder for OpenAiStream {
    fn frame(&mut self, _event: Option<&str>, data: &str) -> Result<Vec<ChatChunk>> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        let chunk: ChatChunk = from_json(data.as_bytes(), "stream chunk")?;
        if let Some(error) = chunk.extra.get("error") {
            let message = error["message"].as_str().unwrap_or("the provider reported an error mid-stream");
            return Err(Error::new(ErrorCode::NetworkError, format!("the provider broke off the stream: {message}")));
        }
        Ok(vec![chunk])
    }

    fn finished(&self) -> bool {
        self.done
    }
}
