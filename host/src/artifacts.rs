//! The artifact store: files packs produce (screenshots, PDFs, exports).
//! Content lives in a blob backend (the filesystem under the data directory
//! by default; an S3-compatible backend can implement [`BlobStore`] later),
//! metadata in the [`Store`].
//!
//! An artifact belongs to the token subject whose call stored it
//! ([`ArtifactMeta::actor`]). Every read names its [`Reader`]: a subject
//! reads its own artifacts (`admin` every one), and another subject's are
//! `not_found` exactly as an id that does not exist, so ids cannot be
//! probed; a signed link is a bearer capability for its one artifact.

use crate::auth::{Principal, Scope};
use crate::store::{ArtifactMeta, Store, StoreError, Timestamp, run_blocking};
use crate::{Error, ErrorCode, Result};
use helmdeck_marketplace::sha256_hex;
use std::path::PathBuf;
use std::sync::Arc;

/// Largest artifact a pack may store, by default.
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 64 << 20;

/// Where artifact bytes live. Blocking; called on the blocking pool.
pub trait BlobStore: Send + Sync {
    /// Store `bytes` under `id` (ids are fresh UUIDs: never overwritten).
    fn put(&self, id: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// The bytes stored under `id`.
    fn get(&self, id: &str) -> std::io::Result<Vec<u8>>;
}

/// Blobs as files in one directory, written atomically.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    dir: PathBuf,
}

impl FsBlobStore {
    /// Blobs under `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FsBlobStore { dir: dir.into() }
    }
}

impl BlobStore for FsBlobStore {
    fn put(&self, id: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{id}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(tmp, self.dir.join(id))
    }

    fn get(&self, id: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.dir.join(id))
    }
}

/// Who reads an artifact, which decides the artifacts they may read.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    /// A token's holder: the artifacts its subject's calls stored; with
    /// `admin`, every artifact.
    Principal(&'a Principal),
    /// The holder of a signed link to this artifact, verified by the caller:
    /// a capability the owner chose to hand out (`/shared/artifacts/{id}`),
    /// good for that one artifact until it expires.
    SignedLink,
}

impl Reader<'_> {
    fn may_read(&self, meta: &ArtifactMeta) -> bool {
        match self {
            Reader::Principal(p) => p.holds(Scope::Admin) || p.subject == meta.actor,
            Reader::SignedLink => true,
        }
    }
}

/// Artifacts: blobs plus metadata, with a size limit.
#[derive(Clone)]
pub struct ArtifactStore {
    blobs: Arc<dyn BlobStore>,
    store: Arc<dyn Store>,
    max_bytes: u64,
}

impl ArtifactStore {
    /// An artifact store over `blobs` and `store`, refusing artifacts over `max_bytes`.
    pub fn new(blobs: Arc<dyn BlobStore>, store: Arc<dyn Store>, max_bytes: u64) -> Self {
        ArtifactStore { blobs, store, max_bytes }
    }

    /// Store `content` and record who made it.
    pub async fn put(
        &self,
        name: &str,
        content_type: &str,
        content: Vec<u8>,
        actor: &str,
        call_id: Option<String>,
        pack: Option<String>,
    ) -> Result<ArtifactMeta> {
        validate(name, content_type)?;
        if content.len() as u64 > self.max_bytes {
            return Err(Error::new(
                ErrorCode::ResourceExhausted,
                format!("the artifact is {} bytes; the limit is {} bytes", content.len(), self.max_bytes),
            ));
        }
        let meta = ArtifactMeta {
            id: uuid::Uuid::now_v7().simple().to_string(),
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            size: content.len() as u64,
            sha256: sha256_hex(&content),
            created_at: Timestamp::now(),
            actor: actor.to_owned(),
            call_id,
            pack,
        };
        let blobs = self.blobs.clone();
        let id = meta.id.clone();
        tokio::task::spawn_blocking(move || blobs.put(&id, &content))
            .await
            .map_err(|e| Error::internal(format!("artifact write task failed: {e}")))?
            .map_err(|e| Error::internal(format!("the artifact could not be written: {e}")))?;
        let record = meta.clone();
        run_blocking(&self.store, move |s| s.put_artifact(&record)).await?;
        Ok(meta)
    }

    /// The metadata of artifact `id` (without reading its bytes) when
    /// `reader` may read it; `not_found` when it is absent or not theirs,
    /// with the same message either way.
    pub async fn meta(&self, id: &str, reader: Reader<'_>) -> Result<ArtifactMeta> {
        if !id.chars().all(|c| c.is_ascii_hexdigit()) || id.is_empty() {
            return Err(absent(id));
        }
        let key = id.to_owned();
        let meta =
            match run_blocking(&self.store, move |s| s.get_artifact(&key).map(Some).or_else(none_if_absent)).await? {
                Some(meta) if reader.may_read(&meta) => meta,
                _ => return Err(absent(id)),
            };
        Ok(meta)
    }

    /// The metadata and bytes of artifact `id` when `reader` may read it;
    /// `not_found` otherwise (see [`ArtifactStore::meta`]).
    pub async fn get(&self, id: &str, reader: Reader<'_>) -> Result<(ArtifactMeta, Vec<u8>)> {
        let meta = self.meta(id, reader).await?;
        let bytes = self.content(&meta).await?;
        Ok((meta, bytes))
    }

    /// The bytes of the artifact `meta` describes (as [`ArtifactStore::meta`]
    /// returned it), for callers that looked at the metadata first.
    pub async fn content(&self, meta: &ArtifactMeta) -> Result<Vec<u8>> {
        let (blobs, key) = (self.blobs.clone(), meta.id.clone());
        tokio::task::spawn_blocking(move || blobs.get(&key))
            .await
            .map_err(|e| Error::internal(format!("artifact read task failed: {e}")))?
            .map_err(|e| Error::internal(format!("the artifact's content is missing: {e}")))
    }
}

/// The one answer for an artifact a reader cannot have, whether it exists or not.
fn absent(id: &str) -> Error {
    Error::not_found(format!("artifact `{id}` does not exist"))
}

fn none_if_absent(e: StoreError) -> std::result::Result<Option<ArtifactMeta>, StoreError> {
    match e {
        StoreError::NotFound { .. } => Ok(None),
        other => Err(other),
    }
}

fn validate(name: &str, content_type: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(Error::invalid_input("artifact `name` must be 1-255 printable characters"));
    }
    let valid_type = content_type.split_once('/').is_some_and(|(a, b)| {
        let token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c));
        token(a) && token(b.split(';').next().unwrap_or("").trim())
    });
    if !valid_type {
        return Err(Error::invalid_input(format!(
            "artifact `content_type` `{content_type}` is not a media type like `image/png`"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn store(dir: &std::path::Path, max: u64) -> ArtifactStore {
        let db: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("db.sqlite")).unwrap());
        ArtifactStore::new(Arc::new(FsBlobStore::new(dir.join("artifacts"))), db, max)
    }

    #[tokio::test]
    async fn stored_artifacts_read_back_with_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), 1024);
        let meta = s.put("shot.png", "image/png", b"png!".to_vec(), "ada", None, Some("browser".into())).await.unwrap();
        assert_eq!(meta.sha256, sha256_hex(b"png!"));
        let (read, bytes) = s.get(&meta.id, Reader::Principal(&principal("ada", &[]))).await.unwrap();
        assert_eq!(read, meta);
        assert_eq!(bytes, b"png!");
    }

    fn principal(subject: &str, scopes: &[Scope]) -> Principal {
        Principal { subject: subject.to_owned(), scopes: scopes.iter().copied().collect() }
    }

    #[tokio::test]
    async fn another_subject_gets_not_found_as_for_a_missing_id_while_admin_and_links_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), 1024);
        let meta = s.put("a.txt", "text/plain", b"mine".to_vec(), "ada", None, None).await.unwrap();
        let other = principal("eve", &[Scope::PacksRead, Scope::PacksCall, Scope::AuditAll]);
        let refused = s.get(&meta.id, Reader::Principal(&other)).await.unwrap_err();
        let missing_id = format!("{}0", &meta.id[..meta.id.len() - 1]);
        let missing = s.get(&missing_id, Reader::Principal(&other)).await.unwrap_err();
        assert_eq!((refused.code, missing.code), (ErrorCode::NotFound, ErrorCode::NotFound));
        assert_eq!(refused.message.replace(&meta.id, "ID"), missing.message.replace(&missing_id, "ID"));
        assert!(s.get(&meta.id, Reader::Principal(&principal("root", &[Scope::Admin]))).await.is_ok());
        assert!(s.get(&meta.id, Reader::SignedLink).await.is_ok());
    }

    #[tokio::test]
    async fn oversized_badly_typed_and_unknown_artifacts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), 4);
        let big = s.put("a", "text/plain", b"12345".to_vec(), "ada", None, None).await.unwrap_err();
        assert_eq!(big.code, ErrorCode::ResourceExhausted);
        let typed = s.put("a", "png", b"1".to_vec(), "ada", None, None).await.unwrap_err();
        assert!(typed.message.contains("content_type"), "{}", typed.message);
        assert_eq!(s.get("../../etc/passwd", Reader::SignedLink).await.unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(s.get("0123abcd", Reader::SignedLink).await.unwrap_err().code, ErrorCode::NotFound);
    }
}
