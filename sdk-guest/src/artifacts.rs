//! Files for the caller (`helmdeck:host/artifacts`): screenshots, PDFs,
//! exports. Requires the `artifacts` capability in the pack's manifest.

use crate::ToolResult;
use crate::bindings::helmdeck::host::artifacts as wit;
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
    /// A signed, expiring link that downloads the artifact without a token
    /// (share it; it stops working when it expires).
    pub download_url: String,
    /// When `download_url` expires, in seconds since the Unix epoch.
    pub download_expires: u64,
}

/// Store `content` as an artifact named `name` with media type `content_type`.
pub fn put(name: &str, content_type: &str, content: &[u8]) -> ToolResult<ArtifactRef> {
    let a = wit::put(name, content_type, content)?;
    Ok(ArtifactRef {
        id: a.id,
        name: a.name,
        content_type: a.content_type,
        size: a.size,
        sha256: a.sha256,
        download_url: a.download_url,
        download_expires: a.download_expires,
    })
}
