//! The vault key and sealing: AES-256-GCM with a fresh random 96-bit nonce
//! per write and the credential's name as associated data, so a ciphertext
//! copied onto another row does not open.
//!
//! The key comes from `HELMDECK_VAULT_KEY` (64 hex digits or standard
//! base64 of 32 bytes) or from `vault.key` in the data directory, created
//! on first start with mode 0600. It is never written to the database and
//! is independent of the JWT secret.

use crate::store::SealedBlob;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use std::path::Path;
use zeroize::{Zeroize, Zeroizing};

/// The environment variable that carries the vault key.
pub const VAULT_KEY_ENV: &str = "HELMDECK_VAULT_KEY";

/// What the key check row seals: opening it proves the key is the vault's.
const KEY_CHECK_PLAINTEXT: &[u8] = b"helmdeck vault key check v1";
/// Associated data of the key check row (no credential can be named this).
const KEY_CHECK_AAD: &[u8] = b"\0key-check";

/// A 256-bit vault key, wiped from memory when dropped.
pub struct VaultKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKey([REDACTED])")
    }
}

/// Why a key could not be read or does not fit the vault.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not 32 bytes in hex or base64.
    #[error("{source_name} is not a vault key: give 64 hex digits or the base64 of 32 bytes")]
    Malformed {
        /// `HELMDECK_VAULT_KEY` or the key file's path.
        source_name: String,
    },
    /// The key file cannot be read or written.
    #[error("vault key file `{path}`: {reason}")]
    File { path: String, reason: String },
    /// The key does not open what the vault holds.
    #[error(
        "the vault key from {source_name} does not open this vault (it was sealed with another key); \
         start with the key the vault was created or last rotated with. Nothing was changed"
    )]
    Mismatch { source_name: String },
    /// Sealing or opening failed (a corrupt row or a wrong key).
    #[error("a vault value could not be {0}")]
    Crypto(&'static str),
}

impl VaultKey {
    /// A fresh random key.
    pub fn generate() -> VaultKey {
        VaultKey { bytes: Zeroizing::new(rand::random()) }
    }

    /// Parse 64 hex digits or standard base64 of 32 bytes; `source_name`
    /// names where the text came from in errors (never the text itself).
    pub fn parse(text: &str, source_name: &str) -> Result<VaultKey, KeyError> {
        let text = text.trim();
        let mut decoded = Zeroizing::new(
            hex::decode(text)
                .ok()
                .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
                .unwrap_or_default(),
        );
        let bytes: [u8; 32] =
            decoded.as_slice().try_into().map_err(|_| KeyError::Malformed { source_name: source_name.to_owned() })?;
        decoded.zeroize();
        Ok(VaultKey { bytes: Zeroizing::new(bytes) })
    }

    /// The key as 64 hex digits (what the key file and `rotate-key` print).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.bytes))
    }

    /// Read the key file at `path`; `None` when it does not exist.
    pub fn read_file(path: &Path) -> Result<Option<VaultKey>, KeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                VaultKey::parse(&text, &format!("the key file `{}`", path.display())).map(Some)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeyError::File { path: path.display().to_string(), reason: e.to_string() }),
        }
    }

    /// Write the key to a new file at `path` with mode 0600 (fails if it exists).
    pub fn write_new_file(&self, path: &Path) -> Result<(), KeyError> {
        crate::auth::write_private(path, self.to_hex().as_bytes())
            .map_err(|e| KeyError::File { path: path.display().to_string(), reason: e.to_string() })
    }

    /// Seal `plaintext` with `aad` under a fresh nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<SealedBlob, KeyError> {
        let nonce: [u8; 12] = rand::random();
        let ciphertext = self
            .cipher()
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad })
            .map_err(|_| KeyError::Crypto("sealed"))?;
        Ok(SealedBlob { nonce: nonce.to_vec(), ciphertext })
    }

    /// Open `sealed` with `aad`; fails when the key, the nonce, the
    /// ciphertext or the associated data differ from the seal.
    pub fn open(&self, sealed: &SealedBlob, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let nonce: [u8; 12] = sealed.nonce.as_slice().try_into().map_err(|_| KeyError::Crypto("opened"))?;
        self.cipher()
            .decrypt(&Nonce::from(nonce), Payload { msg: &sealed.ciphertext, aad })
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Crypto("opened"))
    }

    /// The key check value for this key.
    pub fn key_check(&self) -> Result<SealedBlob, KeyError> {
        self.seal(KEY_CHECK_PLAINTEXT, KEY_CHECK_AAD)
    }

    /// Whether `check` was sealed with this key.
    pub fn opens(&self, check: &SealedBlob) -> bool {
        self.open(check, KEY_CHECK_AAD).is_ok_and(|plain| plain.as_slice() == KEY_CHECK_PLAINTEXT)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_associated_data() {
        let key = VaultKey::generate();
        let sealed = key.seal(b"hunter2", b"db-password").unwrap();
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(key.open(&sealed, b"db-password").unwrap().as_slice(), b"hunter2");
        assert!(key.open(&sealed, b"other-name").is_err(), "a row copied under another name does not open");
        assert!(VaultKey::generate().open(&sealed, b"db-password").is_err());
        let again = key.seal(b"hunter2", b"db-password").unwrap();
        assert_ne!(again.nonce, sealed.nonce, "every write has a fresh nonce");
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_errors_never_echo_the_text() {
        let key = VaultKey::generate();
        let hex = key.to_hex();
        let check = key.key_check().unwrap();
        assert!(VaultKey::parse(&hex, "env").unwrap().opens(&check));
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(hex.as_str()).unwrap());
        assert!(VaultKey::parse(&b64, "env").unwrap().opens(&check));
        let err = VaultKey::parse("not-a-key-0123456789", "HELMDECK_VAULT_KEY").unwrap_err().to_string();
        assert!(err.contains("HELMDECK_VAULT_KEY") && !err.contains("not-a-key"), "{err}");
        assert!(!VaultKey::generate().opens(&check));
    }
}
