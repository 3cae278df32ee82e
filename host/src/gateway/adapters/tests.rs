//! Each adapter against its wire format, without a network: requests built
//! from one OpenAI conversation (system prompt, image, tool call, tool
//! result, JSON mode), whole answers and streams read back.

use super::*;
use crate::gateway::chat::{ChatChunk, ChatRequest};
use crate::gateway::config::{self, GatewayConfig};
use serde_json::{Value, json};

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

fn conversation() -> ChatRequest {
    serde_json::from_value(json!({
        "model": "x",
        "max_tokens": 64,
        "temperature": 0.5,
        "stop": ["END"],
        "messages": [
            { "role": "system", "content": "be brief" },
            { "role": "user", "content": [
                { "type": "text", "text": "weather here?" },
                { "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{PNG}") } }
            ] },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } }
            ] },
            { "role": "tool", "tool_call_id": "call_1", "content": "{\"celsius\": 4}" }
        ],
        "tools": [{ "type": "function", "function": { "name": "weather", "description": "by city",
                    "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } } }],
        "tool_choice": "required",
        "response_format": { "type": "json_object" }
    }))
    .unwrap()
}

fn body(wire: config::Wire, stream: bool) -> (WireRequest, Value) {
    let config = GatewayConfig::default();
    let name = match wire {
        config::Wire::Openai => "openai",
        config::Wire::Anthropic => "anthropic",
        config::Wire::Gemini => "gemini",
        config::Wire::Ollama => "ollama",
    };
    let provider = &config.providers[name];
    let up = Upstream { provider, model: "m-1", key: Some("k-secret") };
    let request = for_wire(wire).chat(up, &conversation(), stream).unwrap();
    let value = serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
    (request, value)
}

fn decode(wire: config::Wire, frames: &[(Option<&str>, Value)]) -> Vec<ChatChunk> {
    let mut decoder = for_wire(wire).decoder();
    let mut out = Vec::new();
    for (event, data) in frames {
        // A JSON string stands for raw text (`[DONE]`).
        let text = data.as_str().map_or_else(|| data.to_string(), str::to_owned);
        out.extend(decoder.frame(*event, &text).unwrap());
    }
    assert!(decoder.finished(), "the end marker was seen");
    out
}

/// Text and tool-call argument fragments of a decoded stream, in order.
fn joined(chunks: &[ChatChunk]) -> (String, String, Vec<String>, Option<String>) {
    let (mut text, mut args, mut names, mut finish) = (String::new(), String::new(), Vec::new(), None);
    for choice in chunks.iter().flat_map(|c| &c.choices) {
        text.push_str(choice.delta.content.as_deref().unwrap_or_default());
        for call in choice.delta.tool_calls.iter().flatten() {
            let f = call.function.as_ref().unwrap();
            names.extend(f.name.clone());
            args.push_str(f.arguments.as_deref().unwrap_or_default());
        }
        if choice.finish_reason.is_some() {
            finish = choice.finish_reason.clone();
        }
    }
    (text, args, names, finish)
}

#[test]
fn openai_passes_the_request_through_with_the_providers_model_and_stream_usage() {
    let (request, body) = body(config::Wire::Openai, true);
    assert_eq!(request.url.as_str(), "https://api.openai.com/v1/chat/completions");
    assert!(request.headers.contains(&("authorization".into(), "Bearer k-secret".into())));
    assert_eq!(body["model"], "m-1");
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Oslo\"}");
    assert_eq!(body["response_format"]["type"], "json_object");
    let chunks = decode(
        config::Wire::Openai,
        &[
            (
                None,
                json!({ "id": "c1", "choices": [{ "index": 0, "delta": { "role": "assistant", "content": "Hi" } }] }),
            ),
            (
                None,
                json!({ "id": "c1", "choices": [], "usage": { "prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4 } }),
            ),
            (None, json!("[DONE]")),
        ],
    );
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1].usage.as_ref().unwrap().total_tokens, 4);
    let mut decoder = for_wire(config::Wire::Openai).decoder();
    let err = decoder.frame(None, &json!({ "error": { "message": "overloaded" } }).to_string()).unwrap_err();
    assert!(err.message.contains("overloaded"), "{}", err.message);
}

#[test]
fn anthropic_gets_a_top_level_system_image_blocks_tool_use_and_tool_results() {
    let (request, body) = body(config::Wire::Anthropic, false);
    assert_eq!(request.url.as_str(), "https://api.anthropic.com/v1/messages");
    assert!(request.headers.contains(&("anthropic-version".into(), anthropic::API_VERSION.into())));
    assert!(request.headers.contains(&("authorization".into(), "Bearer k-secret".into())));
    assert_eq!(body["system"][0]["text"], "be brief");
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "user, assistant, user (tool result)");
    assert_eq!(
        messages[0]["content"][1]["source"],
        json!({ "type": "base64", "media_type": "image/png", "data": PNG })
    );
    assert_eq!(
        messages[1]["content"][0],
        json!({ "type": "tool_use", "id": "call_1", "name": "weather", "input": { "city": "Oslo" } })
    );
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(messages[2]["content"][0]["tool_use_id"], "call_1");
    assert_eq!(body["tools"][0]["input_schema"]["properties"]["city"]["type"], "string");
    assert_eq!(body["tool_choice"], json!({ "type": "any" }));
    assert_eq!(body["output_config"]["format"]["type"], "json_schema");

    let answer = for_wire(config::Wire::Anthropic)
        .answer(
            json!({ "id": "msg_1", "type": "message", "role": "assistant", "model": "m-1",
                    "content": [{ "type": "text", "text": "Let me look." },
                                { "type": "tool_use", "id": "toolu_1", "name": "weather", "input": { "city": "Oslo" } }],
                    "stop_reason": "tool_use",
                    "usage": { "input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 7 } })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(choice.message.content.as_deref(), Some("Let me look."));
    let call = &choice.message.tool_calls.as_ref().unwrap()[0];
    assert_eq!((call.id.as_str(), call.function.arguments.as_str()), ("toolu_1", "{\"city\":\"Oslo\"}"));
    let usage = answer.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (15, 7));
    assert_eq!(usage.extra["prompt_tokens_details"]["cached_tokens"], 5);

    let chunks = decode(
        config::Wire::Anthropic,
        &[
            (
                Some("message_start"),
                json!({ "type": "message_start", "message": { "id": "msg_2", "usage": { "input_tokens": 9, "output_tokens": 1 } } }),
            ),
            (
                Some("content_block_start"),
                json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
            ),
            (Some("ping"), json!({ "type": "ping" })),
            (
                Some("content_block_delta"),
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "On " } }),
            ),
            (
                Some("content_block_delta"),
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "it." } }),
            ),
            (
                Some("content_block_start"),
                json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "tool_use", "id": "toolu_2", "name": "weather", "input": {} } }),
            ),
            (
                Some("content_block_delta"),
                json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "{\"city\": " } }),
            ),
            (
                Some("content_block_delta"),
                json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "\"Oslo\"}" } }),
            ),
            (Some("content_block_stop"), json!({ "type": "content_block_stop", "index": 1 })),
            (
                Some("message_delta"),
                json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use" }, "usage": { "output_tokens": 12 } }),
            ),
            (Some("message_stop"), json!({ "type": "message_stop" })),
        ],
    );
    let (text, args, names, finish) = joined(&chunks);
    assert_eq!((text.as_str(), args.as_str()), ("On it.", "{\"city\": \"Oslo\"}"));
    assert_eq!(names, ["weather"]);
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    let usage = chunks.iter().find_map(|c| c.usage.clone()).unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (9, 12));
    let fragments: Vec<_> =
        chunks.iter().flat_map(|c| &c.choices).flat_map(|c| c.delta.tool_calls.iter().flatten()).collect();
    assert_eq!(fragments.len(), 3, "the id and name first, then each argument fragment");
    assert_eq!(fragments[0].id.as_deref(), Some("toolu_2"));
    assert!(fragments[1].id.is_none() && fragments.iter().all(|f| f.index == 0));

    let mut decoder = for_wire(config::Wire::Anthropic).decoder();
    let err = decoder
        .frame(
            Some("error"),
            &json!({ "type": "error", "error": { "type": "overloaded_error", "message": "busy" } }).to_string(),
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::RateLimited);
}

#[test]
fn gemini_gets_model_turns_inline_data_function_parts_and_json_mime_type() {
    let (request, body) = body(config::Wire::Gemini, true);
    assert_eq!(
        request.url.as_str(),
        "https://generativelanguage.googleapis.com/v1/models/m-1:streamGenerateContent?alt=sse"
    );
    assert!(request.headers.contains(&("x-goog-api-key".into(), "k-secret".into())));
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "be brief");
    let contents = body["contents"].as_array().unwrap();
    assert_eq!(contents[0]["parts"][1]["inlineData"], json!({ "mimeType": "image/png", "data": PNG }));
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(contents[1]["parts"][0]["functionCall"]["args"], json!({ "city": "Oslo" }));
    assert_eq!(contents[2]["parts"][0]["functionResponse"]["name"], "weather", "looked up from the call id");
    assert_eq!(contents[2]["parts"][0]["functionResponse"]["response"], json!({ "celsius": 4 }));
    assert_eq!(body["generationConfig"]["responseMimeType"], "application/json");
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 64);
    assert_eq!(body["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
    assert_eq!(body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["type"], "object");

    let chunks = decode(
        config::Wire::Gemini,
        &[
            (
                None,
                json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": "Sun" }] } }], "responseId": "r1" }),
            ),
            (
                None,
                json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": "ny" }, { "functionCall": { "name": "weather", "args": { "city": "Oslo" } } }] },
                             "finishReason": "STOP" }],
                           "usageMetadata": { "promptTokenCount": 8, "candidatesTokenCount": 3, "totalTokenCount": 11 } }),
            ),
        ],
    );
    let (text, args, names, finish) = joined(&chunks);
    assert_eq!((text.as_str(), args.as_str(), finish.as_deref()), ("Sunny", "{\"city\":\"Oslo\"}", Some("tool_calls")));
    assert_eq!(names, ["weather"]);
    assert_eq!(chunks.iter().find_map(|c| c.usage.clone()).unwrap().total_tokens, 11);
    let fault = for_wire(config::Wire::Gemini).fault(
        json!({ "error": { "code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
                           "details": [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s" }] } })
        .to_string()
        .as_bytes(),
    );
    assert_eq!(fault.retry_after_ms, Some(7000));
}

#[test]
fn ollama_gets_bare_base64_images_object_arguments_tool_names_and_options() {
    let (request, body) = body(config::Wire::Ollama, false);
    assert_eq!(request.url.as_str(), "http://127.0.0.1:11434/api/chat");
    assert_eq!(body["stream"], false, "Ollama streams unless told not to");
    assert_eq!(body["messages"][1]["images"], json!([PNG]));
    assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["arguments"], json!({ "city": "Oslo" }));
    assert_eq!(body["messages"][3]["tool_name"], "weather");
    assert_eq!(body["options"], json!({ "temperature": 0.5, "num_predict": 64, "stop": ["END"] }));
    assert_eq!(body["format"], "json");
    let chunks = decode(
        config::Wire::Ollama,
        &[
            (None, json!({ "model": "m-1", "message": { "role": "assistant", "content": "Co" }, "done": false })),
            (
                None,
                json!({ "model": "m-1", "message": { "role": "assistant", "content": "ld",
                           "tool_calls": [{ "function": { "name": "weather", "arguments": { "city": "Oslo" } } }] }, "done": false }),
            ),
            (
                None,
                json!({ "model": "m-1", "message": { "role": "assistant", "content": "" }, "done": true,
                           "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 2 }),
            ),
        ],
    );
    let (text, args, _, finish) = joined(&chunks);
    assert_eq!((text.as_str(), args.as_str(), finish.as_deref()), ("Cold", "{\"city\":\"Oslo\"}", Some("tool_calls")));
    assert_eq!(chunks.iter().find_map(|c| c.usage.clone()).unwrap().prompt_tokens, 5);
}

#[test]
fn formats_that_only_take_inline_images_refuse_urls_naming_the_field() {
    let mut request = conversation();
    request.messages[1].content = Some(crate::gateway::chat::Content::Parts(vec![crate::gateway::chat::Part::Image {
        url: "https://example.com/cat.png".into(),
        detail: None,
    }]));
    let config = GatewayConfig::default();
    for name in ["gemini", "ollama"] {
        let provider = &config.providers[name];
        let up = Upstream { provider, model: "m", key: None };
        let err = for_wire(provider.wire).chat(up, &request, false).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("messages[1].content[0]") && err.message.contains("data:"), "{}", err.message);
    }
    let provider = &config.providers["anthropic"];
    let up = Upstream { provider, model: "m", key: None };
    let body: Value =
        serde_json::from_slice(&for_wire(provider.wire).chat(up, &request, false).unwrap().body.unwrap()).unwrap();
    assert_eq!(body["messages"][0]["content"][0]["source"]["type"], "url", "Anthropic takes image URLs itself");
}
