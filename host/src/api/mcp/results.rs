//! Turning a dispatched call into an MCP `CallToolResult`: the output as
//! `structuredContent` plus its JSON text, the artifacts the call stored as
//! inline `image` blocks (small raster images) or `resource_link` blocks with
//! a signed URL (everything else), and failures as `isError` results that
//! carry the error code and message.

use crate::Error;
use crate::app::Helmdeck;
use crate::artifacts::Reader;
use crate::auth::Principal;
use crate::dispatch::{CallFailure, CallResponse};
use crate::store::ArtifactMeta;
use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock, Resource};
use serde_json::{Value, json};
use std::time::Duration;

/// At most this many artifacts of one result become content blocks.
const MAX_ARTIFACT_BLOCKS: usize = 16;

/// How long the signed link of a resource block stays valid.
const LINK_TTL: Duration = Duration::from_secs(3600);

/// Image types MCP clients render inline; other images come back as links.
const INLINE_IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A successful call of `caller`'s: only artifacts that call stored, read
/// as `caller` (so they are also the caller's own), become blocks.
pub async fn success(app: &Helmdeck, caller: &Principal, done: CallResponse) -> CallToolResult {
    let mut blocks = Vec::new();
    for id in artifact_ids(&done.output).into_iter().take(MAX_ARTIFACT_BLOCKS) {
        match app.services.artifacts.meta(&id, Reader::Principal(caller)).await {
            // Only what this call stored: a pack cannot surface another call's artifact.
            Ok(meta) if meta.call_id.as_deref() == Some(done.call_id.as_str()) => {
                blocks.push(artifact_block(app, meta).await);
            }
            Ok(_) => tracing::warn!(artifact = %id, call = %done.call_id, "output names an artifact of another call"),
            Err(e) => tracing::warn!(artifact = %id, error = %e, "output names an artifact that cannot be read"),
        }
    }
    let mut result = CallToolResult::structured(done.output);
    result.content.extend(blocks);
    result
}

/// A failed call: `isError` with `error[code]: message` as text and the
/// error (with the call id for the audit log) as structured content.
pub fn failure(failure: CallFailure) -> CallToolResult {
    error_result(&failure.error, Some(&failure.call_id))
}

/// An `isError` result for `error`, outside any call when `call_id` is `None`.
pub fn error_result(error: &Error, call_id: Option<&str>) -> CallToolResult {
    let mut body = json!({ "code": error.code, "message": error.message });
    if let Some(details) = &error.details {
        body["details"] = details.clone();
    }
    if let Some(ms) = error.retry_after_ms {
        body["retry_after_ms"] = ms.into();
    }
    if let Some(id) = call_id {
        body["call_id"] = id.into();
    }
    let mut result =
        CallToolResult::error(vec![ContentBlock::text(format!("error[{}]: {}", error.code, error.message))]);
    result.structured_content = Some(json!({ "error": body }));
    result
}

/// The ids of every artifact reference in `output`: any object shaped like
/// the SDK's `ArtifactRef` (`id`, `content_type`, `size`, `sha256`), at any
/// depth, each once.
pub fn artifact_ids(output: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    collect(output, &mut ids);
    ids
}

fn collect(value: &Value, ids: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let shaped = map.get("content_type").is_some_and(Value::is_string)
                && map.get("size").is_some_and(Value::is_u64)
                && map.get("sha256").is_some_and(Value::is_string);
            if let (true, Some(Value::String(id))) = (shaped, map.get("id"))
                && !ids.contains(id)
            {
                ids.push(id.clone());
            }
            map.values().for_each(|v| collect(v, ids));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, ids)),
        _ => {}
    }
}

/// Inline when it is a raster image within the configured size, else a link.
async fn artifact_block(app: &Helmdeck, meta: ArtifactMeta) -> ContentBlock {
    let inline =
        INLINE_IMAGE_TYPES.contains(&meta.content_type.as_str()) && meta.size <= app.config.mcp.inline_image_bytes;
    if inline {
        match app.services.artifacts.content(&meta).await {
            Ok(bytes) => {
                return ContentBlock::image(base64::engine::general_purpose::STANDARD.encode(bytes), meta.content_type);
            }
            Err(e) => tracing::warn!(artifact = %meta.id, error = %e, "artifact bytes unreadable; sending a link"),
        }
    }
    let link = app.services.links.artifact(&meta.id, LINK_TTL);
    let description = if meta.content_type.starts_with("image/") {
        format!("{} bytes, larger than the inline limit; the link is valid for an hour", meta.size)
    } else {
        "the link is valid for an hour".to_owned()
    };
    ContentBlock::resource_link(
        Resource::new(link.url, meta.name)
            .with_mime_type(meta.content_type)
            .with_size(meta.size)
            .with_description(description),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn error_code(result: &CallToolResult) -> Option<ErrorCode> {
        let code = result.structured_content.as_ref()?.pointer("/error/code")?.as_str()?;
        ErrorCode::parse(code)
    }

    fn artifact(id: &str, content_type: &str) -> Value {
        json!({ "id": id, "name": "a", "content_type": content_type, "size": 10, "sha256": "00" })
    }

    #[test]
    fn artifact_references_are_found_at_any_depth_once_each() {
        let output = json!({
            "shot": artifact("aa", "image/png"),
            "pages": [{ "pdf": artifact("bb", "application/pdf") }, { "again": artifact("aa", "image/png") }],
            "not_a_ref": { "id": "cc", "content_type": "image/png" },
            "text": "aa"
        });
        let mut ids = artifact_ids(&output);
        ids.sort();
        assert_eq!(ids, ["aa", "bb"]);
        assert!(artifact_ids(&json!([1, "x", null])).is_empty());
    }

    #[test]
    fn error_results_carry_the_code_message_details_and_call() {
        let error = Error::invalid_input("input for `t.go` does not match its schema: /url is required")
            .with_details(json!({ "violations": [{ "pointer": "/url" }] }));
        let result = error_result(&error, Some("c1"));
        assert_eq!(result.is_error, Some(true));
        assert_eq!(error_code(&result), Some(ErrorCode::InvalidInput));
        let text = result.content[0].as_text().unwrap().text.clone();
        assert!(text.starts_with("error[invalid_input]: ") && text.contains("/url"), "{text}");
        let body = &result.structured_content.unwrap()["error"];
        assert_eq!(body["call_id"], "c1");
        assert_eq!(body["details"]["violations"][0]["pointer"], "/url");
    }
}
