//! Why a marketplace operation failed, one variant per check, and the one
//! place these (and the format crate's errors) become the edge [`Error`].
//! Every refusal message starts with the check that failed
//! (`signature check failed`, `digest check failed`, ...).

use crate::{Error, ErrorCode};
use helmdeck_marketplace::{Capability, CatalogError, Digest, PublishError, SigningError, VerifyError};

/// A marketplace failure.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// A downloaded file's SHA-256 differs from what the catalog or the signed manifest says.
    #[error("digest check failed: {what} has SHA-256 {actual}, but {expected_by} says {expected}; {advice}")]
    Digest { what: String, actual: Digest, expected_by: &'static str, expected: Digest, advice: &'static str },
    /// The signed manifest is not the pack and version the catalog lists.
    #[error("catalog check failed: catalog `{catalog}` lists {listed}, but its signed manifest is {found}")]
    Mismatch { catalog: String, listed: String, found: String },
    /// A lower version than the one installed, without permission.
    #[error(
        "downgrade check failed: pack `{pack}` {installed} is installed and {requested} is older; pass \
         --allow-downgrade (REST: `allow_downgrade: true`) to install it anyway"
    )]
    Downgrade { pack: String, installed: semver::Version, requested: semver::Version },
    /// The pack needs a newer host.
    #[error("version check failed: pack `{pack}` {version} needs Helmdeck {needed} or newer; this is {running}")]
    HostTooOld { pack: String, version: semver::Version, needed: semver::Version, running: &'static str },
    /// An upgrade would need capabilities nobody granted.
    #[error("{}", new_capabilities(pack, version, missing))]
    NewCapabilities { pack: String, version: String, missing: Vec<Capability> },
    /// No catalog (or not the named one) offers the pack.
    #[error("{0}")]
    NotOffered(String),
    /// Several catalogs offer the pack; which one is the operator's choice.
    #[error("pack `{pack}` is offered by several catalogs ({catalogs}); pass --catalog NAME (REST: `catalog`)")]
    Ambiguous { pack: String, catalogs: String },
    /// A catalog name that is not registered.
    #[error("no catalog `{name}` is registered (registered: {known}); add one with `helmdeck marketplace add`")]
    UnknownCatalog { name: String, known: String },
    /// A catalog location this Helmdeck cannot fetch from.
    #[error("{0}")]
    Location(String),
    /// Downloading failed.
    #[error("download failed: {0}")]
    Fetch(String),
    /// Reading or writing the marketplace's own files failed.
    #[error("{0}")]
    Storage(String),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("catalog `{catalog}`: {error}")]
    Catalog { catalog: String, error: CatalogError },
    #[error(transparent)]
    Publish(#[from] PublishError),
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
            MarketError::Storage(_) => ErrorCode::InternalError,
            MarketError::Publish(PublishError::Io { .. }) => ErrorCode::InternalError,
            _ => ErrorCode::InvalidInput,
        };
        Error::new(code, e.to_string())
    }
}
