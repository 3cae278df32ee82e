//! Who a catalog's packs must be signed by.
//!
//! A catalog is configured with one or more [`TrustRoot`]s; a pack's
//! signature material ([`SignatureMaterial`]) must verify against one of
//! them, and the result is a [`VerifiedSignature`], the only proof of
//! signing the install path accepts (it cannot be built any other way).
//!
//! Today a root is a pinned publisher key and the material a detached
//! `sign-blob` signature. Keyless Sigstore fits as one more variant of each
//! (`TrustRoot::Keyless { identity, issuer, trusted_root }` checking a
//! `SignatureMaterial::Bundle` offline); callers only ever call
//! [`TrustPolicy::verify`], so the install flow does not change.

use crate::signing::{PublicKey, SigningError};
use serde::{Deserialize, Serialize};

/// One root of trust for a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TrustRoot {
    /// A pinned publisher key (what `cosign verify-blob --key` checks).
    PublicKey {
        /// The PEM `PUBLIC KEY`.
        pem: String,
    },
}

impl TrustRoot {
    /// A root pinning `key`.
    pub fn public_key(key: &PublicKey) -> TrustRoot {
        TrustRoot::PublicKey { pem: key.to_pem().to_owned() }
    }

    /// A short, stable name for the root: `key sha256:0123456789abcdef`.
    pub fn describe(&self) -> String {
        match self {
            TrustRoot::PublicKey { pem } => match PublicKey::from_pem(pem) {
                Ok(key) => format!("key {}", key.id()),
                Err(_) => "key (unreadable)".to_owned(),
            },
        }
    }

    /// Check that the root is usable (the key parses).
    pub fn check(&self) -> Result<(), SigningError> {
        match self {
            TrustRoot::PublicKey { pem } => PublicKey::from_pem(pem).map(drop),
        }
    }
}

/// What a publisher provides to prove a manifest is theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureMaterial {
    /// A detached `cosign sign-blob` signature: base64 DER ECDSA.
    Detached(String),
}

/// A signature that verified against a trust root. Only
/// [`TrustPolicy::verify`] creates one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    signer: String,
}

impl VerifiedSignature {
    /// Who signed, as recorded and shown: `<catalog>/key sha256:<fingerprint>`.
    pub fn signer(&self) -> &str {
        &self.signer
    }
}

/// Why a signature was not accepted. Each message starts with the check that failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No signature material at all.
    #[error("signature check failed: {subject} is unsigned; the catalog must publish a signature for it")]
    Unsigned {
        /// What was to be verified (`pack \`x\` 1.0.0 from catalog \`c\``).
        subject: String,
    },
    /// The catalog has no usable trust root.
    #[error(
        "signature check failed: catalog `{catalog}` has no trusted key; add one with `helmdeck marketplace add {catalog} LOCATION --key cosign.pub`"
    )]
    NoTrustRoot {
        /// The catalog's local name.
        catalog: String,
    },
    /// Material present, but no root accepts it.
    #[error(
        "signature check failed: the signature of {subject} does not verify with the trusted {roots} of catalog \
         `{catalog}` ({reason}); the manifest was changed after signing, or signed with a key this catalog does not trust"
    )]
    Rejected {
        /// What was to be verified.
        subject: String,
        /// The catalog's local name.
        catalog: String,
        /// The roots tried (`key sha256:…`).
        roots: String,
        /// Why each root refused.
        reason: String,
    },
}

/// The trust roots of one catalog.
#[derive(Debug, Clone)]
pub struct TrustPolicy<'a> {
    /// The catalog's name (for messages and the signer string).
    pub catalog: &'a str,
    /// Any one of these must accept the signature.
    pub roots: &'a [TrustRoot],
}

impl TrustPolicy<'_> {
    /// Verify `material` over `blob` (the exact manifest bytes). `subject`
    /// names what is verified in messages (`pack \`x\` 1.0.0`).
    pub fn verify(
        &self,
        subject: &str,
        blob: &[u8],
        material: Option<&SignatureMaterial>,
    ) -> Result<VerifiedSignature, VerifyError> {
        let Some(material) = material else {
            return Err(VerifyError::Unsigned { subject: subject.to_owned() });
        };
        if self.roots.is_empty() {
            return Err(VerifyError::NoTrustRoot { catalog: self.catalog.to_owned() });
        }
        let mut reasons = Vec::new();
        for root in self.roots {
            match (root, material) {
                (TrustRoot::PublicKey { pem }, SignatureMaterial::Detached(signature)) => {
                    let key = match PublicKey::from_pem(pem) {
                        Ok(key) => key,
                        Err(e) => {
                            reasons.push(e.to_string());
                            continue;
                        }
                    };
                    match key.verify(blob, signature) {
                        Ok(()) => {
                            return Ok(VerifiedSignature { signer: format!("{}/key {}", self.catalog, key.id()) });
                        }
                        Err(e) => reasons.push(format!("key {}: {e}", key.id())),
                    }
                }
            }
        }
        let roots = self.roots.iter().map(TrustRoot::describe).collect::<Vec<_>>().join(", ");
        Err(VerifyError::Rejected {
            subject: subject.to_owned(),
            catalog: self.catalog.to_owned(),
            roots,
            reason: reasons.join("; "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;

    #[test]
    fn any_trusted_key_verifies_and_names_the_signer() {
        let (a, b) = (SigningKey::generate().unwrap(), SigningKey::generate().unwrap());
        let roots = [TrustRoot::public_key(&a.public_key().unwrap()), TrustRoot::public_key(&b.public_key().unwrap())];
        let policy = TrustPolicy { catalog: "main", roots: &roots };
        let signature = SignatureMaterial::Detached(b.sign(b"blob").unwrap());
        let verified = policy.verify("pack `p` 1.0.0", b"blob", Some(&signature)).unwrap();
        assert_eq!(verified.signer(), format!("main/key {}", b.public_key().unwrap().id()));
    }

    #[test]
    fn unsigned_untrusted_and_altered_blobs_are_refused_naming_the_check() {
        let key = SigningKey::generate().unwrap();
        let roots = [TrustRoot::public_key(&key.public_key().unwrap())];
        let policy = TrustPolicy { catalog: "main", roots: &roots };
        let err = policy.verify("pack `p` 1.0.0", b"blob", None).unwrap_err();
        assert!(matches!(err, VerifyError::Unsigned { .. }) && err.to_string().contains("unsigned"), "{err}");

        let stranger = SignatureMaterial::Detached(SigningKey::generate().unwrap().sign(b"blob").unwrap());
        let err = policy.verify("pack `p` 1.0.0", b"blob", Some(&stranger)).unwrap_err();
        assert!(err.to_string().starts_with("signature check failed"), "{err}");

        let genuine = SignatureMaterial::Detached(key.sign(b"blob").unwrap());
        assert!(matches!(policy.verify("p", b"blab", Some(&genuine)), Err(VerifyError::Rejected { .. })));
        let none = TrustPolicy { catalog: "main", roots: &[] };
        assert!(matches!(none.verify("p", b"blob", Some(&genuine)), Err(VerifyError::NoTrustRoot { .. })));
    }

    #[test]
    fn trust_roots_serialize_with_a_kind_tag() {
        let root = TrustRoot::PublicKey { pem: "PEM".into() };
        assert_eq!(serde_json::to_value(&root).unwrap(), serde_json::json!({"kind": "public-key", "pem": "PEM"}));
    }
}
