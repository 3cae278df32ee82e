//! The artifact store: files packs produce (screenshots, PDFs, exports).
//! Content lives in a blob backend (the filesystem under the data directory
//! by default; an S3-compatible backend can implement [`BlobStore`] later),
//! metadata in the [`Store`].
//!
//! [`ArtifactLinks`] signs expiring download links, so a client without a
//! token (a chat UI showing a screenshot, an MCP resource link) can fetch one
//! artifact and nothing else.

use crate::store::{ArtifactMeta, Store, Timestamp, run_blocking};
use crate::{Error, ErrorCode, Result};
use helmdeck_marketplace::sha256_hex;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

    /// The metadata of artifact `id` (without reading its bytes); `not_found` when absent.
    pub async fn meta(&self, id: &str) -> Result<ArtifactMeta> {
        if !id.chars().all(|c| c.is_ascii_hexdigit()) || id.is_empty() {
            return Err(Error::not_found(format!("artifact `{id}` does not exist")));
        }
        let key = id.to_owned();
        run_blocking(&self.store, move |s| s.get_artifact(&key)).await
    }

    /// The metadata and bytes of artifact `id`; `not_found` when absent.
    pub async fn get(&self, id: &str) -> Result<(ArtifactMeta, Vec<u8>)> {
        let meta = self.meta(id).await?;
        let blobs = self.blobs.clone();
        let key = meta.id.clone();
        let bytes = tokio::task::spawn_blocking(move || blobs.get(&key))
            .await
            .map_err(|e| Error::internal(format!("artifact read task failed: {e}")))?
            .map_err(|e| Error::internal(format!("the artifact's content is missing: {e}")))?;
        Ok((meta, bytes))
    }
}

/// How long a signed artifact link stays valid.
pub const LINK_TTL: Duration = Duration::from_secs(3600);

/// Signs and checks artifact download links:
/// `/api/v1/artifacts/{id}/download?expires={unix seconds}&sig={hex}` where
/// `sig` is HMAC-SHA256 over `helmdeck-artifact-link-v1\n{id}\n{expires}`
/// with a 32-byte key kept in the data directory (`artifact-links.key`,
/// mode 0600, created on first start). Deleting the key file revokes every
/// link issued so far (a new key is made at the next start).
#[derive(Clone)]
pub struct ArtifactLinks {
    key: Vec<u8>,
}

/// What a signed link proves: who may fetch artifact `id` until `expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLink {
    pub id: String,
    /// Unix time in seconds after which the link is refused.
    pub expires: u64,
    /// Lowercase hex HMAC-SHA256.
    pub sig: String,
}

impl SignedLink {
    /// The link's path and query, to append to the server's base URL.
    pub fn path(&self) -> String {
        format!("/api/v1/artifacts/{}/download?expires={}&sig={}", self.id, self.expires, self.sig)
    }
}

impl ArtifactLinks {
    /// Links signed with the key in the file at `path`, created on first use.
    pub fn load_or_create(path: &Path) -> Result<ArtifactLinks> {
        let key = crate::auth::read_or_create_secret(path, "artifact link key")?;
        Ok(ArtifactLinks { key: key.into_bytes() })
    }

    fn mac(&self, id: &str, expires: u64) -> Hmac<Sha256> {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|e| unreachable!("HMAC key: {e}"));
        mac.update(format!("helmdeck-artifact-link-v1\n{id}\n{expires}").as_bytes());
        mac
    }

    /// A link to artifact `id` valid for [`LINK_TTL`] from now.
    pub fn sign(&self, id: &str) -> SignedLink {
        let expires = unix_now() + LINK_TTL.as_secs();
        let sig = hex::encode(self.mac(id, expires).finalize().into_bytes());
        SignedLink { id: id.to_owned(), expires, sig }
    }

    /// Check `link` at time `now` (unix seconds): `auth_failed` when the
    /// signature is wrong (compared in constant time) or the link expired.
    pub fn verify(&self, link: &SignedLink, now: u64) -> Result<()> {
        let sig = hex::decode(&link.sig).unwrap_or_default();
        if self.mac(&link.id, link.expires).verify_slice(&sig).is_err() {
            return Err(Error::new(ErrorCode::AuthFailed, "the artifact link is not valid; ask for a new one"));
        }
        if now > link.expires {
            return Err(Error::new(
                ErrorCode::AuthFailed,
                format!(
                    "the artifact link has expired; call the tool again or download it with a token from \
                     `GET /api/v1/artifacts/{}`",
                    link.id
                ),
            ));
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
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
        return Err(Error::invalid_input(format!("artifact `content_type` `{content_type}` is not a media type like `image/png`")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn store(dir: &std::path::Path, max: u64) -> ArtifactStore {
        let db: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("db.sqlite")).unwrap());
        ArtifactStore::new(Arc::new(FsBlobStore::new(dir.join("artifacts"))), db, max)
    }

    #[tokio::test]
    async fn stored_artifacts_read_back_with_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), 1024);
        let meta = s.put("shot.png", "image/png", b"png!".to_vec(), "ada", None, Some("browser".into())).await.unwrap();
        assert_eq!(meta.sha256, sha256_hex(b"png!"));
        let (read, bytes) = s.get(&meta.id).await.unwrap();
        assert_eq!(read, meta);
        assert_eq!(bytes, b"png!");
    }

    #[tokio::test]
    async fn oversized_badly_typed_and_unknown_artifacts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), 4);
        let big = s.put("a", "text/plain", b"12345".to_vec(), "ada", None, None).await.unwrap_err();
        assert_eq!(big.code, ErrorCode::ResourceExhausted);
        let typed = s.put("a", "png", b"1".to_vec(), "ada", None, None).await.unwrap_err();
        assert!(typed.message.contains("content_type"), "{}", typed.message);
        assert_eq!(s.get("../../etc/passwd").await.unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(s.get("0123abcd").await.unwrap_err().code, ErrorCode::NotFound);
    }

    #[test]
    fn signed_links_verify_until_they_expire_and_only_for_their_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let links = ArtifactLinks::load_or_create(&dir.path().join("links.key")).unwrap();
        let link = links.sign("abc123");
        assert!(link.path().starts_with("/api/v1/artifacts/abc123/download?expires="), "{}", link.path());
        assert!(links.verify(&link, unix_now()).is_ok());
        let expired = links.verify(&link, link.expires + 1).unwrap_err();
        assert_eq!(expired.code, ErrorCode::AuthFailed);
        assert!(expired.message.contains("expired"), "{}", expired.message);
        for forged in [
            SignedLink { id: "abc124".into(), ..link.clone() },
            SignedLink { expires: link.expires + 3600, ..link.clone() },
            SignedLink { sig: "00".repeat(32), ..link.clone() },
            SignedLink { sig: "not hex".into(), ..link.clone() },
        ] {
            assert_eq!(links.verify(&forged, unix_now()).unwrap_err().code, ErrorCode::AuthFailed, "{forged:?}");
        }
        let other_key = ArtifactLinks::load_or_create(&dir.path().join("other.key")).unwrap();
        assert!(other_key.verify(&link, unix_now()).is_err(), "a link is bound to its key");
    }
}
