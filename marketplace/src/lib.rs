//! Helmdeck's pack formats and their trust: the pack manifest
//! (`helmdeck-pack.yaml`) that names a component, pins its digest and
//! requests capabilities; the catalog (`index.yaml`) that lists published
//! versions; cosign-compatible signing and verification of manifests; and
//! publishing a pack directory into a catalog directory.
//!
//! Shared by the host (install, load, `helmdeck pack publish`) and the
//! tooling (`cargo xtask publish`), plus the pack directory that holds a
//! manifest beside its component (`write_pack_dir`). Nothing here does
//! network I/O: fetching catalogs is the host's job.

mod capability;
mod catalog;
mod digest;
mod example;
mod manifest;
mod pack_dir;
mod publish;
mod signing;
mod trust;

pub use capability::{Capability, CapabilityScope, FsAccess};
pub use catalog::{CATALOG_FILE, CATALOG_VERSION, Catalog, CatalogError, CatalogPack, CatalogVersion, resolve_url};
pub use digest::{Digest, sha256_hex};
pub use example::Example;
pub use manifest::{ComponentRef, Limits, MANIFEST_FILE, Manifest, ManifestError, is_pack_name};
pub use pack_dir::write_pack_dir;
pub use publish::{CatalogMeta, PackSource, PublishError, Published, publish, sign_manifest};
pub use signing::{KeyId, PublicKey, SigningError, SigningKey, signature_file_name};
pub use trust::{SignatureMaterial, TrustPolicy, TrustRoot, VerifiedSignature, VerifyError};

/// JSON Schema (2020-12) of the pack manifest, `helmdeck-pack.yaml`.
pub const MANIFEST_SCHEMA: &str = include_str!("../schema/helmdeck-pack.schema.json");

/// JSON Schema (2020-12) of the catalog, `index.yaml`.
pub const CATALOG_SCHEMA: &str = include_str!("../schema/catalog.schema.json");
