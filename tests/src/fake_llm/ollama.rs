//! The fake's Ollama: `POST /api/chat` (streaming JSON lines unless
//! `"stream": false`, the last with `done`, `done_reason` and the eval
//! counts) and `GET /api/tags`. Errors are `{"error": "..."}`.

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
    Router::new().route("/api/chat", post(chat)).route("/api/tags", get(tags))
}

fn error(status: StatusCode, message: &str, retry_after: Option<&str>) -> Response {
    json_status(status, json!({ "error": message }), retry_after)
}

async fn tags(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    record(&shared, "/api/tags", &headers, &Bytes::new());
    if let Err(got) = check_key(&shared, &headers, None) {
        return error(StatusCode::UNAUTHORIZED, &format!("unauthorized key {got}"), None);
    }
    axum::Json(json!({ "models": [{ "name": "llama-fake", "model": "llama-fake", "modified_at": "2026-01-01T00:00:00Z",
                                     "size": 1, "digest": "0", "details": { "format": "gguf", "family": "llama" } }] }))
    .into_response()
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = record(&shared, "/api/chat", &headers, &body);
    if let Err(got) = check_key(&shared, &headers, None) {
        return error(StatusCode::UNAUTHORIZED, &format!("unauthorized key {got}"), None);
    }
    let ask = ask(&request);
    match trick(&ask.model) {
        Some(Trick::RateLimited) => return error(StatusCode::TOO_MANY_REQUESTS, "too many requests", Some("7")),
        Some(Trick::Slow) => return hang(&shared).await,
        _ => {}
    }
    let reply = think(&ask);
    let calls = reply.call.as_ref().map(|(name, args)| {
        json!([{ "function": { "name": name, "arguments": serde_json::from_str::<Value>(args).unwrap_or(Value::Null) } }])
    });
    let line = |content: &str, calls: Option<Value>, done: bool| {
        let mut message = json!({ "role": "assistant", "content": content });
        if let Some(calls) = calls {
            message["tool_calls"] = calls;
        }
        let mut out = json!({ "model": ask.model, "created_at": "2026-01-01T00:00:00.000000Z", "message": message, "done": done });
        if done {
            for (k, v) in [
                ("done_reason", json!("stop")),
                ("total_duration", json!(1000)),
                ("load_duration", json!(10)),
                ("prompt_eval_count", json!(reply.prompt_tokens)),
                ("prompt_eval_duration", json!(100)),
                ("eval_count", json!(reply.completion_tokens)),
                ("eval_duration", json!(100)),
            ] {
                out[k] = v;
            }
        }
        out
    };
    if !ask.stream {
        return axum::Json(line(reply.text.as_deref().unwrap_or_default(), calls, true)).into_response();
    }
    let mut lines: Vec<Value> = Reply::pieces(reply.text.as_deref().unwrap_or_default())
        .into_iter()
        .map(|piece| line(&piece, None, false))
        .collect();
    if let Some(calls) = calls {
        lines.push(line("", Some(calls), false));
    }
    lines.push(line("", None, true));
    let frames = lines.into_iter().map(|l| format!("{l}\n")).collect();
    let break_after = (trick(&ask.model) == Some(Trick::BreaksAfterFirst)).then_some(1);
    stream("application/x-ndjson", frames, break_after)
}

fn ask(request: &Value) -> Ask {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let mut ask = Ask {
        model: request["model"].as_str().unwrap_or_default().to_owned(),
        // Ollama streams unless told otherwise.
        stream: request["stream"] != false,
        json: !request["format"].is_null(),
        prompt_tokens: words(&request["messages"]),
        ..Ask::default()
    };
    if last["role"] == "tool" {
        ask.tool_result = last["content"].as_str().map(str::to_owned);
    }
    let user = messages.iter().rev().find(|m| m["role"] == "user").cloned().unwrap_or(Value::Null);
    ask.question = user["content"].as_str().unwrap_or_default().to_owned();
    for image in user["images"].as_array().into_iter().flatten() {
        ask.images.push(("image/png".to_owned(), image_bytes(image.as_str().unwrap_or_default())));
    }
    ask.tool = request["tools"][0]["function"]["name"].as_str().map(str::to_owned);
    ask
}
