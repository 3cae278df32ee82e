//! What can go wrong in the store, and how it shows at the edges.

use crate::error::Error;
use std::path::PathBuf;

/// A storage failure. Converted into the edge [`Error`] in one place: missing
/// things become `not_found`, rejected input `invalid_input`, everything else
/// `internal_error` (a fault the caller cannot fix by changing the request).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Opening, configuring or migrating the database file failed.
    #[error(
        "cannot open the database `{}`: {source}; check that its directory exists and is writable",
        path.display()
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: Box<StoreError>,
    },
    /// The database's schema version is not one this build knows: a newer
    /// Helmdeck or another program wrote it.
    #[error(
        "the database has schema version {found} but this Helmdeck knows versions 0 to \
         {supported}; upgrade Helmdeck or point it at another data directory"
    )]
    UnknownSchema {
        /// The version found in the file.
        found: i64,
        /// The newest version this build can migrate to.
        supported: i64,
    },
    /// The database engine refused or failed a statement.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The named thing does not exist.
    #[error("{what} `{key}` does not exist")]
    NotFound {
        /// What kind of thing (`artifact`, ...).
        what: &'static str,
        /// Its identifier.
        key: String,
    },
    /// A value given to the store is out of range or malformed.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// The field at fault, as the caller named it (`limit`, `digest`).
        field: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A stored row cannot be decoded: the file was changed outside Helmdeck.
    #[error(
        "stored {what} `{key}` cannot be read ({reason}); the database was changed outside \
         Helmdeck, verify the audit chain"
    )]
    Corrupt {
        /// What kind of row (`audit record`, `installed pack`, ...).
        what: &'static str,
        /// Its identifier.
        key: String,
        /// Which column is wrong and how.
        reason: String,
    },
}

impl StoreError {
    /// A [`StoreError::Invalid`] for `field`.
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
        StoreError::Invalid { field, reason: reason.into() }
    }

    /// A [`StoreError::Corrupt`] for the `what` row keyed `key`.
    pub(crate) fn corrupt(what: &'static str, key: impl ToString, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt { what, key: key.to_string(), reason: reason.into() }
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Error {
        let message = err.to_string();
        match err {
            StoreError::NotFound { .. } => Error::not_found(message),
            StoreError::Invalid { field, .. } => {
                Error::invalid_input(message).with_details(serde_json::json!({ "field": field }))
            }
            _ => Error::internal(message),
        }
    }
}
