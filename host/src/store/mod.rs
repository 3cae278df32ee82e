//! Durable state behind one trait: the audit chain, installed packs,
//! artifact metadata, sessions, the vault's sealed credentials and the AI
//! gateway's usage counters.
//!
//! [`Store`] is what the rest of the host talks to; [`SqliteStore`] is the
//! single-machine implementation (a PostgreSQL one can come later without
//! changing callers). Store methods block on disk I/O, so async code calls them
//! through [`run_blocking`]. SQL lives only in the implementations; the meaning
//! of a record (hashing, redaction, query validation) lives in
//! [`crate::audit`] and in the record types here, shared by every backend.

mod artifacts;
mod error;
mod packs;
mod sessions;
mod sqlite;
mod timestamp;
mod usage;
mod vault;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use artifacts::ArtifactMeta;
pub use error::StoreError;
pub use packs::InstalledPack;
pub use sessions::{SessionRecord, SessionState};
pub use sqlite::SqliteStore;
pub use timestamp::Timestamp;
pub use usage::{LatencyHistogram, UsageRow};
pub use vault::{SealedBlob, StoredCredential};

use crate::audit::{AuditEvent, AuditPage, AuditQuery, AuditRecord, AuditRow};
use std::sync::Arc;

/// Everything Helmdeck persists, behind one interface.
///
/// Every method **blocks** the calling thread on disk (and, for a remote
/// database, network) I/O; never call one directly from an async task, use
/// [`run_blocking`]. Implementations are shared between threads and must
/// serialize audit appends themselves, across processes too, so the hash
/// chain stays linear.
pub trait Store: Send + Sync {
    /// Append `event` as the next record of the audit chain and return it with
    /// its id, time and hashes. The event is stored as given: redaction is the
    /// caller's job ([`crate::audit::AuditLog`] does it).
    fn append_audit(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError>;

    /// One page of audit records matching `query`, newest first. Fails with
    /// [`StoreError::Invalid`] when the limit or cursor is out of range.
    fn query_audit(&self, query: &AuditQuery) -> Result<AuditPage, StoreError>;

    /// Up to `limit` stored audit rows with an id above `after_id` (all rows
    /// when `None`), in id order: the chain walk of
    /// [`crate::audit::verify_chain`]. Rows are returned raw, undecoded, so
    /// verification sees exactly what is on disk.
    fn read_audit_chain(&self, after_id: Option<i64>, limit: usize) -> Result<Vec<AuditRow>, StoreError>;

    /// Record `pack` as installed, replacing the entry with the same name and
    /// version. Fails with [`StoreError::Invalid`] when the version is not
    /// semver or the digest is not hex SHA-256.
    fn upsert_pack(&self, pack: &InstalledPack) -> Result<(), StoreError>;

    /// Forget pack `name`: only `version` when given, every version otherwise.
    /// Returns how many entries were removed (0 when there were none).
    fn remove_pack(&self, name: &str, version: Option<&str>) -> Result<usize, StoreError>;

    /// Every installed pack, by name, then by ascending semver version.
    fn list_packs(&self) -> Result<Vec<InstalledPack>, StoreError>;

    /// Record the metadata of a newly stored artifact. Artifacts are
    /// immutable: a second put with the same id fails.
    fn put_artifact(&self, meta: &ArtifactMeta) -> Result<(), StoreError>;

    /// The metadata of artifact `id`, or [`StoreError::NotFound`].
    fn get_artifact(&self, id: &str) -> Result<ArtifactMeta, StoreError>;

    /// Insert a session or update its state, task count, expiry and closing.
    fn put_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// Session `id`, or [`StoreError::NotFound`].
    fn get_session(&self, id: &str) -> Result<SessionRecord, StoreError>;

    /// Sessions in `state` (all when `None`), oldest first.
    fn list_sessions(&self, state: Option<SessionState>) -> Result<Vec<SessionRecord>, StoreError>;

    /// Insert or replace credential `credential.name` (sealed; the store
    /// never sees a plaintext value).
    fn put_credential(&self, credential: &StoredCredential) -> Result<(), StoreError>;

    /// Credential `name`, or [`StoreError::NotFound`].
    fn get_credential(&self, name: &str) -> Result<StoredCredential, StoreError>;

    /// Every credential, by name.
    fn list_credentials(&self) -> Result<Vec<StoredCredential>, StoreError>;

    /// Remove credential `name`; `false` when there was none.
    fn delete_credential(&self, name: &str) -> Result<bool, StoreError>;

    /// Record that credential `name` was used at `at`.
    fn touch_credential(&self, name: &str, at: Timestamp) -> Result<(), StoreError>;

    /// The sealed known value that proves which key the vault uses; `None`
    /// before the vault's first start.
    fn vault_key_check(&self) -> Result<Option<SealedBlob>, StoreError>;

    /// Store the key check (first start only; rotation uses [`Store::rotate_vault`]).
    fn put_vault_key_check(&self, check: &SealedBlob) -> Result<(), StoreError>;

    /// Replace the key check and every credential's ciphertext in one
    /// transaction. Fails, changing nothing, unless `resealed` covers
    /// exactly the stored credentials.
    fn rotate_vault(&self, check: &SealedBlob, resealed: &[StoredCredential]) -> Result<(), StoreError>;

    /// Add each row's counts to the stored row with the same provider,
    /// model and alias (creating it), in one transaction.
    fn add_usage(&self, rows: &[UsageRow]) -> Result<(), StoreError>;

    /// Every usage row, by provider, model and alias.
    fn list_usage(&self) -> Result<Vec<UsageRow>, StoreError>;
}

/// Run `op` against `store` on tokio's blocking thread pool and convert its
/// error into the edge [`crate::Error`]: the one way async code uses a
/// [`Store`].
///
/// A panic inside `op` becomes `internal_error` instead of unwinding into the
/// caller's task.
pub async fn run_blocking<T, F>(store: &Arc<dyn Store>, op: F) -> crate::Result<T>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = Arc::clone(store);
    let joined = tokio::task::spawn_blocking(move || op(store.as_ref())).await;
    let result = joined.map_err(|e| crate::Error::internal(format!("a storage task did not finish: {e}")))?;
    result.map_err(crate::Error::from)
}
