//! Helmdeck's pack formats: the pack manifest (`helmdeck-pack.yaml`) that
//! names a component, pins its digest and requests capabilities. Shared by
//! the host (install, load) and the tooling that builds and publishes packs.

mod capability;
mod digest;
mod manifest;

pub use capability::{Capability, CapabilityScope, FsAccess};
pub use digest::{sha256_hex, Digest};
pub use manifest::{ComponentRef, Example, Limits, Manifest, ManifestError, MANIFEST_FILE};
