//! The fake's Anthropic Messages: `POST /v1/messages` (JSON, or the named
//! SSE events `message_start`, `content_block_start`, `ping`,
//! `content_block_delta` with `text_delta`/`input_json_delta`,
//! `content_block_stop`, `message_delta`, `message_stop`) and
//! `GET /v1/models`. It takes the key as `Authorization: Bearer` (what the
//! current official client sends) or `x-api-key`, and wants
//! `anthropic-version`.

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
    Router::new().route("/v1/messages", post(messages)).route("/v1/models", get(models))
}

fn error(status: StatusCode, kind: &str, message: &str, retry_after: Option<&str>) -> Response {
    json_status(status, json!({ "type": "error", "error": { "type": kind, "message": message } }), retry_after)
}

fn refuse(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    if let Err(got) = check_key(shared, headers, None) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            &format!("invalid x-api-key: {got}"),
            None,
        ));
    }
    if !headers.contains_key("anthropic-version") {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
            None,
        ));
    }
    None
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    record(&shared, "/v1/models", &headers, &Bytes::new());
    if let Some(refusal) = refuse(&shared, &headers) {
        return refusal;
    }
    axum::Json(json!({
        "data": [{ "type": "model", "id": "claude-fake", "display_name": "Claude Fake", "created_at": "2026-01-01T00:00:00Z" }],
        "has_more": false, "first_id": "claude-fake", "last_id": "claude-fake"
    }))
    .into_response()
}

async fn messages(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = record(&shared, "/v1/messages", &headers, &body);
    if let Some(refusal) = refuse(&shared, &headers) {
        return refusal;
    }
    if !request["max_tokens"].is_u64() {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "max_tokens: Field required", None);
    }
    let ask = ask(&request);
    match trick(&ask.model) {
        Some(Trick::RateLimited) => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
                Some("7"),
            );
        }
        Some(Trick::Slow) => return hang(&shared).await,
        _ => {}
    }
    let reply = think(&ask);
    let stop = if reply.call.is_some() { "tool_use" } else { "end_turn" };
    if !ask.stream {
        let mut content = Vec::new();
        if let Some(text) = &reply.text {
            content.push(json!({ "type": "text", "text": text }));
        }
        if let Some((name, args)) = &reply.call {
            let input: Value = serde_json::from_str(args).unwrap_or(Value::Null);
            content.push(json!({ "type": "tool_use", "id": "toolu_fake1", "name": name, "input": input }));
        }
        return axum::Json(json!({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": ask.model, "content": content,
            "stop_reason": stop, "stop_sequence": null,
            "usage": { "input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens }
        }))
        .into_response();
    }
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut frames = vec![
        event(
            "message_start",
            json!({ "type": "message_start", "message": {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": ask.model, "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": reply.prompt_tokens, "output_tokens": 1 } } }),
        ),
        event("ping", json!({ "type": "ping" })),
    ];
    let mut index = 0;
    if let Some(text) = &reply.text {
        frames.push(event(
            "content_block_start",
            json!({ "type": "content_block_start", "index": index, "content_block": { "type": "text", "text": "" } }),
        ));
        for piece in Reply::pieces(text) {
            frames.push(event(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": piece } }),
            ));
        }
        frames.push(event("content_block_stop", json!({ "type": "content_block_stop", "index": index })));
        index += 1;
    }
    if let Some((name, args)) = &reply.call {
        frames.push(event(
            "content_block_start",
            json!({ "type": "content_block_start", "index": index,
                    "content_block": { "type": "tool_use", "id": "toolu_fake1", "name": name, "input": {} } }),
        ));
        for piece in Reply::argument_fragments(args) {
            frames.push(event(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": index, "delta": { "type": "input_json_delta", "partial_json": piece } }),
            ));
        }
        frames.push(event("content_block_stop", json!({ "type": "content_block_stop", "index": index })));
    }
    frames.push(event(
        "message_delta",
        json!({ "type": "message_delta", "delta": { "stop_reason": stop, "stop_sequence": null },
                "usage": { "output_tokens": reply.completion_tokens } }),
    ));
    frames.push(event("message_stop", json!({ "type": "message_stop" })));
    let break_after = (trick(&ask.model) == Some(Trick::BreaksAfterFirst)).then_some(4);
    stream("text/event-stream", frames, break_after)
}

fn ask(request: &Value) -> Ask {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let mut ask = Ask {
        model: request["model"].as_str().unwrap_or_default().to_owned(),
        stream: request["stream"] == true,
        json: request["output_config"]["format"]["type"] == "json_schema",
        prompt_tokens: words(&request["messages"]) + words(&request["system"]),
        ..Ask::default()
    };
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let blocks = |content: &Value| match content {
        Value::String(s) => vec![json!({ "type": "text", "text": s })],
        Value::Array(blocks) => blocks.clone(),
        _ => Vec::new(),
    };
    if let Some(result) = blocks(&last["content"]).iter().find(|b| b["type"] == "tool_result") {
        ask.tool_result = Some(match &result["content"] {
            Value::String(s) => s.clone(),
            other => {
                other.as_array().into_iter().flatten().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join(" ")
            }
        });
    }
    let user = messages.iter().rev().find(|m| m["role"] == "user").cloned().unwrap_or(Value::Null);
    let user_blocks = blocks(&user["content"]);
    ask.question = user_blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join(" ");
    for block in &user_blocks {
        if block["type"] == "image" && block["source"]["type"] == "base64" {
            let media = block["source"]["media_type"].as_str().unwrap_or_default().to_owned();
            ask.images.push((media, image_bytes(block["source"]["data"].as_str().unwrap_or_default())));
        }
    }
    if request["tool_choice"]["type"] != "none" {
        ask.tool = request["tools"][0]["name"].as_str().map(str::to_owned);
    }
    ask
}
