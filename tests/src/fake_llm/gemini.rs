//! The fake's Gemini (under `/v1`, the current client's default, and
//! `/v1beta`): `POST /v1/models/{model}:generateContent`,
//! `POST /v1/models/{model}:streamGenerateContent?alt=sse` (each SSE
//! `data:` a whole `GenerateContentResponse`, the last with `finishReason`
//! and `usageMetadata`) and `GET /v1/models`. The key comes in
//! `x-goog-api-key` (or `?key=`); errors are Google's `{"error": {code,
//! message, status, details}}`, a 429 with a `RetryInfo`.

use super::{
    Ask, Reply, Shared, Trick, check_key, hang, image_bytes, json_status, record, stream, think, trick, words,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/{version}/models", get(models)).route("/{version}/models/{call}", post(generate))
}

fn error(status: StatusCode, google: &str, message: &str, details: Value) -> Response {
    let body =
        json!({ "error": { "code": status.as_u16(), "message": message, "status": google, "details": details } });
    json_status(status, body, None)
}

fn refuse(shared: &Shared, headers: &HeaderMap, query: Option<&str>) -> Option<Response> {
    let got = check_key(shared, headers, query).err()?;
    Some(error(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        &format!("API key not valid. Please pass a valid API key. (got {got})"),
        json!([{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com" }]),
    ))
}

async fn models(
    State(shared): State<Arc<Shared>>,
    Path(version): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    record(&shared, &format!("/{version}/models"), &headers, &Bytes::new());
    if let Some(refusal) = refuse(&shared, &headers, query.as_deref()) {
        return refusal;
    }
    axum::Json(json!({ "models": [{ "name": "models/gemini-fake", "displayName": "Gemini Fake",
                                      "supportedGenerationMethods": ["generateContent"] }] }))
    .into_response()
}

async fn generate(
    State(shared): State<Arc<Shared>>,
    Path((version, call)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut request = record(&shared, &format!("/{version}/models/{call}"), &headers, &body);
    if let Some(refusal) = refuse(&shared, &headers, query.as_deref()) {
        return refusal;
    }
    let Some((model, method)) = call.split_once(':') else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no method", json!([]));
    };
    let streaming = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return error(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("no method {method}"), json!([])),
    };
    request["model"] = json!(model);
    let ask = ask(&request, streaming);
    match trick(model) {
        Some(Trick::RateLimited) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
                json!([{ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s" }]),
            );
            response.headers_mut().insert("retry-after", "7".parse().expect("a header value"));
            return response;
        }
        Some(Trick::Slow) => return hang(&shared).await,
        _ => {}
    }
    let reply = think(&ask);
    let usage = json!({ "promptTokenCount": reply.prompt_tokens, "candidatesTokenCount": reply.completion_tokens,
                        "totalTokenCount": reply.prompt_tokens + reply.completion_tokens });
    let call_part = reply.call.as_ref().map(|(name, args)| {
        json!({ "functionCall": { "name": name, "args": serde_json::from_str::<Value>(args).unwrap_or(Value::Null) } })
    });
    let answer = |parts: Vec<Value>, last: bool| {
        let mut candidate = json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
        let mut out = json!({ "candidates": [candidate.take()], "modelVersion": model, "responseId": "fake-response" });
        if last {
            out["candidates"][0]["finishReason"] = json!("STOP");
            out["usageMetadata"] = usage.clone();
        }
        out
    };
    if !streaming {
        let mut parts = Vec::new();
        if let Some(text) = &reply.text {
            parts.push(json!({ "text": text }));
        }
        parts.extend(call_part);
        return axum::Json(answer(parts, true)).into_response();
    }
    let mut events: Vec<Value> = Vec::new();
    if let Some(text) = &reply.text {
        events.extend(Reply::pieces(text).into_iter().map(|piece| answer(vec![json!({ "text": piece })], false)));
    }
    if let Some(part) = call_part {
        events.push(answer(vec![part], false));
    }
    match events.last_mut() {
        Some(last) => {
            last["candidates"][0]["finishReason"] = json!("STOP");
            last["usageMetadata"] = usage;
        }
        None => events.push(answer(Vec::new(), true)),
    }
    let frames = events.into_iter().map(|e| format!("data: {e}\r\n\r\n")).collect();
    let break_after = (trick(model) == Some(Trick::BreaksAfterFirst)).then_some(1);
    stream("text/event-stream", frames, break_after)
}

fn ask(request: &Value, streaming: bool) -> Ask {
    let contents = request["contents"].as_array().cloned().unwrap_or_default();
    let mut ask = Ask {
        model: request["model"].as_str().unwrap_or_default().to_owned(),
        stream: streaming,
        json: request["generationConfig"]["responseMimeType"] == "application/json",
        prompt_tokens: words(&request["contents"]) + words(&request["systemInstruction"]),
        ..Ask::default()
    };
    let last_parts = contents.last().map(|c| c["parts"].clone()).unwrap_or(Value::Null);
    if let Some(response) = last_parts.as_array().into_iter().flatten().find_map(|p| p.get("functionResponse")) {
        let answer = &response["response"];
        ask.tool_result = Some(answer["result"].as_str().map_or_else(|| answer.to_string(), str::to_owned));
    }
    let user = contents
        .iter()
        .rev()
        .find(|c| {
            c["role"] == "user" && c["parts"].as_array().is_some_and(|p| p.iter().any(|p| p.get("text").is_some()))
        })
        .cloned()
        .unwrap_or(Value::Null);
    let parts = user["parts"].as_array().cloned().unwrap_or_default();
    ask.question = parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(" ");
    for part in &parts {
        if let Some(inline) = part.get("inlineData") {
            // Protobuf JSON: either spelling (the official client sends `mime_type`).
            let media = inline["mimeType"].as_str().or(inline["mime_type"].as_str()).unwrap_or_default().to_owned();
            ask.images.push((media, image_bytes(inline["data"].as_str().unwrap_or_default())));
        }
    }
    if request["toolConfig"]["functionCallingConfig"]["mode"] != "NONE" {
        ask.tool = request["tools"][0]["functionDeclarations"][0]["name"].as_str().map(str::to_owned);
    }
    ask
}
