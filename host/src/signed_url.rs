//! Signed, expiring links: a URL anyone may open without a bearer token
//! until it expires, because it carries an HMAC-SHA256 over its path and
//! expiry made with a key only this server has (`url.key` in the data
//! directory, mode 0600, generated on first start). Used for sharing
//! artifacts (`/shared/artifacts/{id}?expires=..&sig=..`); any other
//! read-only path can be signed the same way.
//!
//! The signature covers `"{path}\n{expires}"`: changing the id, the path or
//! the expiry breaks it; rotating the key (deleting `url.key`) revokes
//! every link at once.

use crate::{Error, ErrorCode, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a link is valid when the caller does not say.
pub const DEFAULT_LINK_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest a link may be valid.
pub const MAX_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A signed link and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignedLink {
    /// Absolute URL (the server's public base + path + `?expires=..&sig=..`).
    pub url: String,
    /// Seconds since the Unix epoch.
    pub expires: u64,
}

/// Signs and checks links for one server.
pub struct LinkSigner {
    key: Vec<u8>,
    base: std::sync::RwLock<String>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSigner").field("base", &self.base()).finish_non_exhaustive()
    }
}

impl LinkSigner {
    /// The signer whose key is in `path` (created, 0600, when missing),
    /// making links under `base` (`http://host:port`).
    pub fn load_or_create(path: &Path, base: &str) -> Result<LinkSigner> {
        let io = |e: std::io::Error| Error::internal(format!("link signing key `{}`: {e}", path.display()));
        let key = match std::fs::read_to_string(path) {
            Ok(text) => hex::decode(text.trim())
                .map_err(|e| Error::internal(format!("`{}` is not hex: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = rand::random::<[u8; 32]>().to_vec();
                crate::auth::write_private(path, hex::encode(&key).as_bytes()).map_err(io)?;
                key
            }
            Err(e) => return Err(io(e)),
        };
        if key.len() < 32 {
            return Err(Error::internal(format!(
                "`{}` holds a key shorter than 32 bytes; delete it to make a new one",
                path.display()
            )));
        }
        Ok(LinkSigner { key, base: std::sync::RwLock::new(base.trim_end_matches('/').to_owned()) })
    }

    /// The base links start with.
    pub fn base(&self) -> String {
        self.base.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Make links under `base` from now on (`serve` sets the address it
    /// bound when no public URL was configured).
    pub fn set_base(&self, base: &str) {
        *self.base.write().unwrap_or_else(std::sync::PoisonError::into_inner) = base.trim_end_matches('/').to_owned();
    }

    /// A link to `path` (starting with `/`) valid for `ttl` (capped at [`MAX_LINK_TTL`]).
    pub fn link(&self, path: &str, ttl: Duration) -> SignedLink {
        let expires = unix_now() + ttl.min(MAX_LINK_TTL).as_secs().max(1);
        let sig = self.signature(path, expires);
        SignedLink { url: format!("{}{path}?expires={expires}&sig={sig}", self.base()), expires }
    }

    /// The shareable download link of artifact `id`.
    pub fn artifact(&self, id: &str, ttl: Duration) -> SignedLink {
        self.link(&format!("/shared/artifacts/{id}"), ttl)
    }

    /// Check a link's `expires` and `sig` for `path`: `auth_failed` when the
    /// signature does not match or the link has expired.
    pub fn verify(&self, path: &str, expires: u64, sig: &str) -> Result<()> {
        let bad = || Error::new(ErrorCode::AuthFailed, "the link's signature is not valid; ask for a new link");
        let given = hex::decode(sig).map_err(|_| bad())?;
        self.mac(path, expires).verify_slice(&given).map_err(|_| bad())?;
        if unix_now() >= expires {
            return Err(Error::new(ErrorCode::AuthFailed, "the link has expired; ask for a new link"));
        }
        Ok(())
    }

    fn signature(&self, path: &str, expires: u64) -> String {
        hex::encode(self.mac(path, expires).finalize().into_bytes())
    }

    fn mac(&self, path: &str, expires: u64) -> Hmac<Sha256> {
        // HMAC takes keys of any length; ours is 32 bytes.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(url: &str) -> (u64, String) {
        let q = url.split_once('?').unwrap().1;
        let mut expires = 0;
        let mut sig = String::new();
        for pair in q.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("sig", v) => sig = v.to_owned(),
                _ => {}
            }
        }
        (expires, sig)
    }

    #[test]
    fn a_link_verifies_for_its_path_only_and_the_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("url.key");
        let signer = LinkSigner::load_or_create(&key, "http://127.0.0.1:1/").unwrap();
        let link = signer.artifact("abc", Duration::from_secs(60));
        assert!(link.url.starts_with("http://127.0.0.1:1/shared/artifacts/abc?expires="), "{}", link.url);
        let (expires, sig) = query(&link.url);
        assert_eq!(expires, link.expires);
        let again = LinkSigner::load_or_create(&key, "http://x").unwrap();
        again.verify("/shared/artifacts/abc", expires, &sig).unwrap();
        for (path, exp, s) in [
            ("/shared/artifacts/abd", expires, sig.as_str()),
            ("/shared/artifacts/abc", expires + 1, sig.as_str()),
            ("/shared/artifacts/abc", expires, "00"),
            ("/shared/artifacts/abc", expires, "not hex"),
        ] {
            assert_eq!(again.verify(path, exp, s).unwrap_err().code, ErrorCode::AuthFailed, "{path} {exp} {s}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn an_expired_link_is_refused_and_ttls_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let signer = LinkSigner::load_or_create(&dir.path().join("k"), "http://h").unwrap();
        let past = unix_now() - 1;
        let sig = signer.signature("/p", past);
        let err = signer.verify("/p", past, &sig).unwrap_err();
        assert!(err.message.contains("expired"), "{}", err.message);
        let long = signer.link("/p", Duration::from_secs(365 * 24 * 3600));
        assert!(long.expires <= unix_now() + MAX_LINK_TTL.as_secs());
    }
}
