//! Artifact metadata: what a stored artifact is, who made it and in which
//! call. The bytes live in the artifact store (filesystem or S3), not here.

use super::packs::check_sha256_hex;
use super::{StoreError, Timestamp};
use serde::{Deserialize, Serialize};

/// The metadata of one stored artifact. Immutable once put.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactMeta {
    /// Its unique id, the handle packs and agents pass around.
    pub id: String,
    /// The name the pack gave it (`screenshot.png`).
    pub name: String,
    /// Its MIME type, served back on download.
    pub content_type: String,
    /// Its length in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of its bytes, to detect a changed blob; checked on put.
    pub sha256: String,
    /// When it was stored.
    pub created_at: Timestamp,
    /// On whose behalf it was made (the token subject): its owner, the one
    /// subject besides `admin` that reads it back by id
    /// ([`crate::artifacts::Reader`]).
    pub actor: String,
    /// The call that made it, linking it to the audit log.
    pub call_id: Option<String>,
    /// The pack that made it.
    pub pack: Option<String>,
}

impl ArtifactMeta {
    /// Refuse metadata that could not be served back: every backend calls
    /// this before writing.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        if self.id.is_empty() {
            return Err(StoreError::invalid("id", "an artifact needs a non-empty id"));
        }
        check_sha256_hex("sha256", &self.sha256)
    }
}
