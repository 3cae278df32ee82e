//! Helmdeck's pack formats: the pack manifest (`helmdeck-pack.yaml`) that
//! names a component, pins its digest and requests capabilities, and the
//! pack directory that holds a manifest beside its component. Shared by the
//! host (install, load) and the tooling that builds and publishes packs.

mod capability;
mod digest;
mod manifest;
mod pack_dir;

pub use capability::{Capability, CapabilityScope, FsAccess};
pub use digest::{Digest, sha256_hex};
pub use manifest::{ComponentRef, Example, Limits, MANIFEST_FILE, Manifest, ManifestError};
pub use pack_dir::write_pack_dir;
