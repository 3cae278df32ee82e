//! What can go wrong while building.

use helmdeck_marketplace::ManifestError;
use std::path::PathBuf;
use std::process::ExitStatus;

/// A build step that failed, naming the command or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `cargo` (or another tool) could not be started at all.
    #[error("could not run `{command}`: {source}; is cargo on PATH?")]
    Spawn {
        /// The command line.
        command: String,
        /// Why it could not start.
        source: std::io::Error,
    },
    /// The command ran and failed; its own output (printed above) says why.
    #[error("`{command}` failed ({status}); its output above says why{hint}")]
    Failed {
        /// The command line.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// Advice for the usual cause, starting with `; `, or empty.
        hint: &'static str,
    },
    /// `cargo metadata` or a build message had an unexpected shape.
    #[error("cargo answered something unexpected: {0}")]
    CargoOutput(String),
    /// The build succeeded but did not produce what was asked for.
    #[error("cargo built no {what} for `{package}`")]
    MissingArtifact {
        /// The package.
        package: String,
        /// What was expected (`executable`, `.wasm component`).
        what: &'static str,
    },
    /// A file could not be read or written.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A pack crate's `helmdeck-pack.yaml` is not a valid manifest.
    #[error("`{}`: {source}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        source: ManifestError,
    },
}

impl BuildError {
    /// An I/O error about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io { path, source }
    }
}
