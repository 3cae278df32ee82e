//! Files for the caller (`helmdeck:host/artifacts`): screenshots, PDFs,
//! exports. Requires the `artifacts` capability in the pack's manifest.

use crate::bindings::helmdeck::host::artifacts as wit;
use crate::ToolResult;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A stored artifact, ready to put in a tool's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactRef {
    /// Identifier to download with `GET /api/v1/artifacts/{id}`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Media type, such as `image/png`.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

/// Store `content` as an artifact named `name` with media type `content_type`.
pub fn put(name: &str, content_type: &str, content: &[u8]) -> ToolResult<ArtifactRef> {
    let a = wit::put(name, content_type, content)?;
    Ok(ArtifactRef { id: a.id, name: a.name, content_type: a.content_type, size: a.size, sha256: a.sha256 })
}
