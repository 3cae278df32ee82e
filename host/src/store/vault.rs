//! The vault's stored rows: credential metadata in the clear, the secret
//! only as ciphertext. Sealing and opening is [`crate::vault`]'s job; the
//! store never sees a key or a plaintext value.

use super::{StoreError, Timestamp};

/// A value sealed with the vault key: AES-256-GCM with a 96-bit nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBlob {
    /// Fresh random nonce of this write.
    pub nonce: Vec<u8>,
    /// Ciphertext with the 16-byte tag appended.
    pub ciphertext: Vec<u8>,
}

/// One credential as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// Unique name packs refer to (`${vault:NAME}`).
    pub name: String,
    /// `login`, `cookies`, `api_key`, `oauth`, `ssh_key` or `basic`.
    pub kind: String,
    pub description: String,
    /// Host patterns (with an optional path prefix) where it may be used.
    pub hosts: Vec<String>,
    /// Packs allowed to use it (`*` for any).
    pub packs: Vec<String>,
    /// Token subjects allowed to use it; empty means any.
    pub subjects: Vec<String>,
    /// A masked hint for people (`…x7Qz`), never the value.
    pub hint: String,
    /// The sealed secret.
    pub sealed: SealedBlob,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl StoredCredential {
    /// Refuse a row that could not be used back.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        if self.name.is_empty() {
            return Err(StoreError::invalid("name", "a credential needs a non-empty name"));
        }
        if self.sealed.nonce.len() != 12 || self.sealed.ciphertext.len() < 16 {
            return Err(StoreError::invalid("ciphertext", "a credential must be sealed before it is stored"));
        }
        Ok(())
    }
}
