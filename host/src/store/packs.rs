//! The installed-pack record: what the registry reloads at start-up.

use super::{StoreError, Timestamp};
use serde::{Deserialize, Serialize};

/// One installed version of a pack. Several versions of a name may be
/// installed side by side; `(name, version)` is the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPack {
    /// The pack's name, the namespace of its tools (`fs` for `fs.read`).
    pub name: String,
    /// Its semver version (`1.2.0`); checked on upsert.
    pub version: String,
    /// Lowercase hex SHA-256 of the component, the key of its compiled
    /// artifact and what the catalog signature covers; checked on upsert.
    pub digest: String,
    /// The capability interfaces a person granted it (`http`, `fs`, ...).
    pub grants: Vec<String>,
    /// Where it came from: a file path or a catalog URL.
    pub source: String,
    /// Who signed it, when it was verified against a trusted signer.
    pub signer: Option<String>,
    /// When this version was (last) installed.
    pub installed_at: Timestamp,
}

impl InstalledPack {
    /// Refuse a record the registry could not load back: every backend calls
    /// this before writing.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        if self.name.is_empty() {
            return Err(StoreError::invalid("name", "a pack needs a non-empty name"));
        }
        semver::Version::parse(&self.version).map_err(|e| {
            StoreError::invalid("version", format!("`{}` is not a semver version such as 1.2.0: {e}", self.version))
        })?;
        check_sha256_hex("digest", &self.digest)
    }

    /// The sort key of [`super::Store::list_packs`]: name, then semver order
    /// (so 1.10.0 follows 1.9.0); an unparsable version sorts first.
    pub(crate) fn sort_key(&self) -> (&str, Option<semver::Version>) {
        (&self.name, semver::Version::parse(&self.version).ok())
    }
}

/// Check that `value` is 64 lowercase hex digits, the form every digest in
/// the store takes so equal contents compare equal as text.
pub(crate) fn check_sha256_hex(field: &'static str, value: &str) -> Result<(), StoreError> {
    let well_formed = value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if well_formed { Ok(()) } else { Err(StoreError::invalid(field, "expected 64 lowercase hex digits (a SHA-256)")) }
}
