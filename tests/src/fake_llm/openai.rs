//! The fake's OpenAI chat completions: `POST /v1/chat/completions` (JSON or
//! SSE `data:` chunks ending in `[DONE]`, usage last with
//! `stream_options.include_usage`) and `GET /v1/models`.

use super::{
    Ask, Reply, Shared, Trick, check_key, hang, image_bytes, json_status, record, stream, think, trick, words,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/v1/chat/completions", post(chat)).route("/v1/models", get(models))
}

fn error(status: StatusCode, kind: &str, message: &str, retry_after: Option<&str>) -> Response {
    json_status(
        status,
        json!({ "error": { "message": message, "type": kind, "param": null, "code": null } }),
        retry_after,
    )
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    record(&shared, "/v1/models", &headers, &Bytes::new());
    if let Err(got) = check_key(&shared, &headers, None) {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            &format!("Incorrect API key provided: {got}"),
            None,
        );
    }
    axum::Json(
        json!({ "object": "list", "data": [{ "id": "fake-1", "object": "model", "created": 0, "owned_by": "fake" }] }),
    )
    .into_response()
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = record(&shared, "/v1/chat/completions", &headers, &body);
    if let Err(got) = check_key(&shared, &headers, None) {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            &format!("Incorrect API key provided: {got}"),
            None,
        );
    }
    let ask = ask(&request);
    match trick(&ask.model) {
        Some(Trick::RateLimited) => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "Rate limit reached; slow down",
                Some("7"),
            );
        }
        Some(Trick::Slow) => return hang(&shared).await,
        _ => {}
    }
    let reply = think(&ask);
    let id = "chatcmpl-fake";
    if !ask.stream {
        let tool_calls = reply.call.as_ref().map(|(name, args)| {
            json!([{ "id": "call_fake1", "type": "function", "function": { "name": name, "arguments": args } }])
        });
        let mut message = json!({ "role": "assistant", "content": reply.text, "refusal": null });
        if let Some(calls) = tool_calls {
            message["tool_calls"] = calls;
        }
        return axum::Json(json!({
            "id": id, "object": "chat.completion", "created": 1_700_000_000, "model": ask.model,
            "choices": [{ "index": 0, "message": message, "logprobs": null,
                          "finish_reason": if reply.call.is_some() { "tool_calls" } else { "stop" } }],
            "usage": usage(&reply),
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Option<&str>| {
        let value = json!({ "id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": ask.model,
                            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] });
        format!("data: {value}\n\n")
    };
    let mut frames = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    if let Some(text) = &reply.text {
        frames.extend(Reply::pieces(text).into_iter().map(|piece| chunk(json!({ "content": piece }), None)));
    }
    if let Some((name, args)) = &reply.call {
        frames.push(chunk(
            json!({ "tool_calls": [{ "index": 0, "id": "call_fake1", "type": "function", "function": { "name": name, "arguments": "" } }] }),
            None,
        ));
        for piece in Reply::argument_fragments(args) {
            frames.push(chunk(json!({ "tool_calls": [{ "index": 0, "function": { "arguments": piece } }] }), None));
        }
    }
    frames.push(chunk(json!({}), Some(if reply.call.is_some() { "tool_calls" } else { "stop" })));
    if request["stream_options"]["include_usage"] == true {
        let value = json!({ "id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": ask.model,
                            "choices": [], "usage": usage(&reply) });
        frames.push(format!("data: {value}\n\n"));
    }
    frames.push("data: [DONE]\n\n".to_owned());
    let break_after = (trick(&ask.model) == Some(Trick::BreaksAfterFirst)).then_some(2);
    stream("text/event-stream", frames, break_after)
}

fn usage(reply: &Reply) -> Value {
    json!({ "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens })
}

fn ask(request: &Value) -> Ask {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let mut ask = Ask {
        model: request["model"].as_str().unwrap_or_default().to_owned(),
        stream: request["stream"] == true,
        json: matches!(request["response_format"]["type"].as_str(), Some("json_object" | "json_schema")),
        prompt_tokens: words(&request["messages"]),
        ..Ask::default()
    };
    if last["role"] == "tool" {
        ask.tool_result = Some(text_of(&last["content"]));
    }
    let user = messages.iter().rev().find(|m| m["role"] == "user").cloned().unwrap_or(Value::Null);
    ask.question = text_of(&user["content"]);
    for part in user["content"].as_array().into_iter().flatten() {
        if part["type"] == "image_url"
            && let Some((media, data)) = part["image_url"]["url"]
                .as_str()
                .and_then(|u| u.strip_prefix("data:"))
                .and_then(|u| u.split_once(";base64,"))
        {
            ask.images.push((media.to_owned(), image_bytes(data)));
        }
    }
    if request["tool_choice"] != "none" {
        ask.tool = request["tools"][0]["function"]["name"].as_str().map(str::to_owned);
    }
    ask
}

/// The text of OpenAI content: a string or the text parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}
