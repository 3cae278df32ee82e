//! cosign-compatible keys and `sign-blob` signatures: ECDSA P-256 over
//! SHA-256, ASN.1 DER, standard base64. Keys use cosign's formats (PEM
//! `PUBLIC KEY`; `ENCRYPTED SIGSTORE PRIVATE KEY` with scrypt and
//! nacl/secretbox), so `cosign sign-blob` / `verify-blob` and Helmdeck read
//! each other's files. The cryptography is the `sigstore` crate's.

use crate::Digest;
use base64::Engine as _;
use sigstore::crypto::signing_key::ecdsa::ECDSAKeys;
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
use std::fmt;
use zeroize::Zeroizing;

/// The file name of a detached signature next to the blob it signs
/// (`helmdeck-pack.yaml` → `helmdeck-pack.yaml.sig`).
pub fn signature_file_name(blob_file: &str) -> String {
    format!("{blob_file}.sig")
}

/// A key or signature that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The private key could not be decrypted or parsed.
    #[error(
        "cannot read the private key: {0}; check the password (HELMDECK_SIGNING_KEY_PASSWORD or COSIGN_PASSWORD) \
         and that the file is an ECDSA P-256 key from `helmdeck key generate` or `cosign generate-key-pair`"
    )]
    PrivateKey(String),
    /// The public key is not a PEM `PUBLIC KEY` of a supported type.
    #[error("cannot read the public key: {0}; expected a PEM `PUBLIC KEY` (cosign.pub)")]
    PublicKey(String),
    /// Key generation or signing failed inside the crypto library.
    #[error("signing failed: {0}")]
    Crypto(String),
}

/// An ECDSA P-256 signing key.
pub struct SigningKey {
    keys: ECDSAKeys,
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate() -> Result<SigningKey, SigningError> {
        let signer = SigningScheme::ECDSA_P256_SHA256_ASN1.create_signer().map_err(crypto)?;
        match signer.to_sigstore_keypair().map_err(crypto)? {
            sigstore::crypto::signing_key::SigStoreKeyPair::ECDSA(keys) => Ok(SigningKey { keys }),
            _ => Err(SigningError::Crypto("the P-256 scheme produced another key type".into())),
        }
    }

    /// Read a cosign encrypted private key (`cosign.key`). Runs scrypt once:
    /// about 0.2 s when the scrypt crates are optimised.
    pub fn from_encrypted_pem(pem: &[u8], password: &[u8]) -> Result<SigningKey, SigningError> {
        let keys = ECDSAKeys::from_encrypted_pem(pem, password).map_err(|e| SigningError::PrivateKey(e.to_string()))?;
        match keys {
            ECDSAKeys::P256(_) => Ok(SigningKey { keys }),
            other => Err(SigningError::PrivateKey(format!("the key is {other}, but only ECDSA P-256 is supported"))),
        }
    }

    /// The private key encrypted with `password`, in cosign's format.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<Zeroizing<String>, SigningError> {
        let pem = self.keys.as_inner().private_key_to_encrypted_pem(password).map_err(crypto)?;
        Ok(Zeroizing::new(pem.replace("\r\n", "\n")))
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey, SigningError> {
        let pem = self.keys.as_inner().public_key_to_pem().map_err(crypto)?;
        PublicKey::from_pem(&pem)
    }

    /// Sign `blob` as `cosign sign-blob` does: the signature, base64.
    pub fn sign(&self, blob: &[u8]) -> Result<String, SigningError> {
        let signer = self.keys.to_sigstore_signer().map_err(crypto)?;
        let der = signer.sign(blob).map_err(crypto)?;
        Ok(base64_encode(&der))
    }
}

/// A public key that verifies signatures, with its fingerprint.
#[derive(Clone)]
pub struct PublicKey {
    pem: String,
    id: KeyId,
    key: std::sync::Arc<CosignVerificationKey>,
}

impl PublicKey {
    /// Parse a PEM `PUBLIC KEY` (SPKI), as in `cosign.pub`.
    pub fn from_pem(pem: &str) -> Result<PublicKey, SigningError> {
        let key =
            CosignVerificationKey::try_from_pem(pem.as_bytes()).map_err(|e| SigningError::PublicKey(e.to_string()))?;
        let der = spki_der(pem).ok_or_else(|| SigningError::PublicKey("no PEM `PUBLIC KEY` block".into()))?;
        Ok(PublicKey { pem: pem.replace("\r\n", "\n"), id: KeyId(Digest::of(&der)), key: std::sync::Arc::new(key) })
    }

    /// The PEM text (LF line endings).
    pub fn to_pem(&self) -> &str {
        &self.pem
    }

    /// The SHA-256 of the key's DER encoding: what Helmdeck shows as the signer.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// Check a base64 `sign-blob` signature over `blob` (high- and low-S alike).
    pub fn verify(&self, blob: &[u8], signature_base64: &str) -> Result<(), String> {
        self.key
            .verify_signature(Signature::Base64Encoded(signature_base64.trim_ascii().as_bytes()), blob)
            .map_err(|e| e.to_string())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

/// A key's fingerprint: SHA-256 of its SubjectPublicKeyInfo DER. Shown as
/// `sha256:` and the first 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyId(Digest);

impl KeyId {
    /// The full fingerprint, 64 hex digits.
    pub fn full(&self) -> String {
        self.0.to_hex()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", &self.0.to_hex()[..16])
    }
}

/// The DER body of the first `PUBLIC KEY` PEM block.
fn spki_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
        .skip(1)
        .take_while(|l| *l != "-----END PUBLIC KEY-----")
        .collect();
    base64_decode(&body)
}

fn crypto(e: sigstore::errors::SigstoreError) -> SigningError {
    SigningError::Crypto(e.to_string())
}

/// Standard base64 with padding (what cosign writes).
fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decode standard base64; `None` when malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_key_and_fails_for_another_blob_or_key() {
        let key = SigningKey::generate().unwrap();
        let public = key.public_key().unwrap();
        let sig = key.sign(b"manifest bytes").unwrap();
        public.verify(b"manifest bytes", &sig).unwrap();
        assert!(public.verify(b"manifest bytez", &sig).is_err());
        let other = SigningKey::generate().unwrap().public_key().unwrap();
        assert!(other.verify(b"manifest bytes", &sig).is_err());
        assert_ne!(public.id(), other.id());
    }

    #[test]
    fn an_encrypted_key_round_trips_and_a_wrong_password_is_refused() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_encrypted_pem(b"hunter2").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"), "{}", &*pem);
        let back = SigningKey::from_encrypted_pem(pem.as_bytes(), b"hunter2").unwrap();
        assert_eq!(back.public_key().unwrap().id(), key.public_key().unwrap().id());
        let err = SigningKey::from_encrypted_pem(pem.as_bytes(), b"wrong").err().unwrap();
        assert!(err.to_string().contains("password"), "{err}");
    }

    #[test]
    fn the_key_id_is_the_sha256_of_the_spki_der() {
        let public = SigningKey::generate().unwrap().public_key().unwrap();
        let der = spki_der(public.to_pem()).unwrap();
        assert_eq!(public.id().full(), Digest::of(&der).to_hex());
        assert!(public.id().to_string().starts_with("sha256:") && public.id().to_string().len() == 23);
    }
}
