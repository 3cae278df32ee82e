//! Why a marketplace operation failed, one variant per check, and the one
//! place these (and the format crate's errors) become the edge [`Error`].
//! Every refusal message starts with the check that failed
//! (`signature check failed`, `digest check failed`, ...).

use crate::{Error, ErrorCode};
use helmdeck_marketplace::{Capability, CatalogError, Digest, PublishError, SigningError, VerifyError};

/// A marketplace failure. Field values are names, versions and digests
/// only: never key material or passwords.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// A downloaded file's SHA-256 differs from what the catalog or the signed manifest says.
    #[error("digest check failed: {what} has SHA-256 {actual}, but {expected_by} says {expected}; {advice}")]
    Digest {
        /// The file (`the downloaded component of pack \`x\` 1.0.0 …`).
        what: String,
        /// Its SHA-256.
        actual: Digest,
        /// Who pinned the expected value (`the catalog`, `the signed manifest`).
        expected_by: &'static str,
        /// The pinned value.
        expected: Digest,
        /// What to do next.
        advice: &'static str,
    },
    /// The signed manifest is not the pack and version the catalog lists.
    #[error("catalog check failed: catalog `{catalog}` lists {listed}, but its signed manifest is {found}")]
    Mismatch {
        /// The catalog's local name.
        catalog: String,
        /// The pack and version the index lists.
        listed: String,
        /// The pack and version the manifest names.
        found: String,
    },
    /// A lower version than the one installed, without permission.
    #[error(
        "downgrade check failed: pack `{pack}` {installed} is installed and {requested} is older; pass \
         --allow-downgrade (REST: `allow_downgrade: true`) to install it anyway"
    )]
    Downgrade {
        /// The pack.
        pack: String,
        /// The newest installed version.
        installed: semver::Version,
        /// The older version asked for.
        requested: semver::Version,
    },
    /// The pack needs a newer host.
    #[error("version check failed: pack `{pack}` {version} needs Helmdeck {needed} or newer; this is {running}")]
    HostTooOld {
        /// The pack.
        pack: String,
        /// Its version.
        version: semver::Version,
        /// Its `min_host_version`.
        needed: semver::Version,
        /// This Helmdeck's version.
        running: &'static str,
    },
    /// An upgrade would need capabilities nobody granted.
    #[error("{}", new_capabilities(pack, version, missing))]
    NewCapabilities {
        /// The pack.
        pack: String,
        /// The new version.
        version: String,
        /// What it requests that the installed version was not granted.
        missing: Vec<Capability>,
    },
    /// No catalog (or not the named one) offers the pack; the message says what to do.
    #[error("{0}")]
    NotOffered(String),
    /// Several catalogs offer the pack; which one is the operator's choice.
    #[error("pack `{pack}` is offered by several catalogs ({catalogs}); pass --catalog NAME (REST: `catalog`)")]
    Ambiguous {
        /// The pack.
        pack: String,
        /// The catalogs offering it, comma-separated.
        catalogs: String,
    },
    /// A catalog name that is not registered.
    #[error("no catalog `{name}` is registered (registered: {known}); add one with `helmdeck marketplace add`")]
    UnknownCatalog {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// A catalog location this Helmdeck cannot fetch from, or a bad catalog registration.
    #[error("{0}")]
    Location(String),
    /// Downloading failed.
    #[error("download failed: {0}")]
    Fetch(String),
    /// The guarded HTTP client refused or failed a download; its code
    /// (`egress_denied`, `network_error`, `timeout`) is kept.
    #[error("download failed: {}", .0.message)]
    Transfer(Error),
    /// Reading or writing the marketplace's own files failed.
    #[error("{0}")]
    Storage(String),
    /// The signature was missing or not accepted.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A catalog's index is not valid.
    #[error("catalog `{catalog}`: {error}")]
    Catalog {
        /// The catalog's local name.
        catalog: String,
        /// What is wrong with its index.
        error: CatalogError,
    },
    /// Publishing or signing a pack directory failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// A key could not be read or could not sign.
    #[error(transparent)]
    Signing(#[from] SigningError),
}

fn new_capabilities(pack: &str, version: &str, missing: &[Capability]) -> String {
    let names: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let (verb, them) = if names.len() > 1 { ("were", "them") } else { ("was", "it") };
    format!(
        "grant check failed: pack `{pack}` {version} requests {}, which {verb} not granted to the installed version; \
         pass --grant {} (REST: `grants`) to grant {them}",
        quoted.join(", "),
        names.join(",")
    )
}

impl From<MarketError> for Error {
    fn from(e: MarketError) -> Self {
        let code = match &e {
            MarketError::Verify(_) | MarketError::NewCapabilities { .. } => ErrorCode::Unauthorized,
            MarketError::NotOffered(_) | MarketError::UnknownCatalog { .. } => ErrorCode::NotFound,
            MarketError::Fetch(_) => ErrorCode::NetworkError,
            MarketError::Transfer(e) => e.code,
            MarketError::Storage(_) => ErrorCode::InternalError,
            MarketError::Publish(PublishError::Io { .. }) => ErrorCode::InternalError,
            _ => ErrorCode::InvalidInput,
        };
        Error::new(code, e.to_string())
    }
}
