//! The catalog, `index.yaml`: a named, maintained list of packs and, per
//! pack, its published versions with where to get the manifest, the
//! component and the signature, and their digests. URLs may be relative;
//! they resolve against the catalog's own location, so a catalog directory
//! can be copied, mirrored or served over HTTP unchanged.

use crate::{Capability, Digest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The catalog's file name inside a catalog directory.
pub const CATALOG_FILE: &str = "index.yaml";

/// The catalog format version this build reads and writes.
pub const CATALOG_VERSION: u32 = 1;

/// A catalog. Unknown fields are refused, like the manifest's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The format version (`1`); a newer one is refused with advice to upgrade Helmdeck.
    pub catalog_version: u32,
    /// The catalog's own name (`helmdeck-builtin`); operators register it under a local name.
    pub name: String,
    /// What the catalog offers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Who maintains it (a person, team or address).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub maintainer: String,
    /// Packs by name.
    #[serde(default)]
    pub packs: BTreeMap<String, CatalogPack>,
}

/// One pack of a catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogPack {
    /// The newest version's description, for search.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The newest version's category, for search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The newest version's tags, for search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Published versions, ascending.
    pub versions: Vec<CatalogVersion>,
}

/// One published version of a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogVersion {
    /// The version; equal to the signed manifest's.
    pub version: semver::Version,
    /// URL of the manifest (`helmdeck-pack.yaml`), absolute or relative to the catalog.
    pub manifest: String,
    /// SHA-256 of the manifest's bytes.
    pub manifest_sha256: Digest,
    /// URL of the component (`.wasm`).
    pub component: String,
    /// SHA-256 of the component; the signed manifest pins the same value.
    pub component_sha256: Digest,
    /// The component's size in bytes (for download progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_size: Option<u64>,
    /// URL of the detached signature over the manifest; absent means unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The capabilities the manifest requests (informational: the signed
    /// manifest is what install checks and shows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    /// The oldest Helmdeck able to run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_host_version: Option<semver::Version>,
}

/// A catalog that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Not YAML, or not the catalog's shape.
    #[error("{CATALOG_FILE} is not a valid catalog: {0}")]
    Parse(String),
    /// A newer format than this Helmdeck reads.
    #[error(
        "{CATALOG_FILE} has catalog_version {found}, but this Helmdeck reads version {CATALOG_VERSION}; upgrade Helmdeck"
    )]
    Version {
        /// The catalog's `catalog_version`.
        found: u32,
    },
    /// Parsed, but a value is unusable.
    #[error("{CATALOG_FILE}: `{field}` {problem}")]
    Field {
        /// The field at fault (`packs.http.versions`).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl Catalog {
    /// An empty catalog with its metadata.
    pub fn new(name: &str, description: &str, maintainer: &str) -> Catalog {
        Catalog {
            catalog_version: CATALOG_VERSION,
            name: name.to_owned(),
            description: description.to_owned(),
            maintainer: maintainer.to_owned(),
            packs: BTreeMap::new(),
        }
    }

    /// Parse and validate YAML.
    pub fn from_yaml(text: &str) -> Result<Catalog, CatalogError> {
        let catalog: Catalog = serde_norway::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        catalog.validate()?;
        Ok(catalog)
    }

    /// The catalog as YAML.
    pub fn to_yaml(&self) -> String {
        // Plain data with string keys: serialization cannot fail.
        serde_norway::to_string(self).unwrap_or_default()
    }

    /// Check the format version, names and version order.
    pub fn validate(&self) -> Result<(), CatalogError> {
        if self.catalog_version != CATALOG_VERSION {
            return Err(CatalogError::Version { found: self.catalog_version });
        }
        let field = |field: String, problem: String| CatalogError::Field { field, problem };
        if self.name.trim().is_empty() {
            return Err(field("name".into(), "must not be empty".into()));
        }
        for (name, pack) in &self.packs {
            if !crate::manifest::is_pack_name(name) {
                return Err(field(
                    format!("packs.{name}"),
                    "is not a pack name (lower-case letters, digits, `-`, `_`)".into(),
                ));
            }
            if pack.versions.is_empty() {
                return Err(field(format!("packs.{name}.versions"), "must list at least one version".into()));
            }
            if pack.versions.windows(2).any(|w| w[0].version >= w[1].version) {
                return Err(field(
                    format!("packs.{name}.versions"),
                    "must be in ascending order without repeats".into(),
                ));
            }
        }
        Ok(())
    }

    /// The newest version of `pack`, or exactly `version` when given.
    pub fn find(&self, pack: &str, version: Option<&semver::Version>) -> Option<&CatalogVersion> {
        let versions = &self.packs.get(pack)?.versions;
        match version {
            Some(v) => versions.iter().find(|entry| &entry.version == v),
            None => versions.last(),
        }
    }

    /// Add or replace `entry` for `pack`, keeping versions ascending, and
    /// refresh the pack's search fields from its newest version.
    pub fn upsert(
        &mut self,
        pack: &str,
        entry: CatalogVersion,
        description: &str,
        category: Option<&str>,
        tags: &[String],
    ) {
        let listed = self.packs.entry(pack.to_owned()).or_default();
        listed.versions.retain(|v| v.version != entry.version);
        let newest = listed.versions.last().is_none_or(|v| v.version < entry.version);
        listed.versions.push(entry);
        listed.versions.sort_by(|a, b| a.version.cmp(&b.version));
        if newest {
            listed.description = description.to_owned();
            listed.category = category.map(str::to_owned);
            listed.tags = tags.to_vec();
        }
    }
}

/// Resolve `reference` (absolute, or relative to the catalog) against the
/// catalog's URL. Errors name the reference.
pub fn resolve_url(catalog: &url::Url, reference: &str) -> Result<url::Url, CatalogError> {
    catalog.join(reference).map_err(|e| CatalogError::Field {
        field: reference.to_owned(),
        problem: format!("is not a URL relative to {catalog}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "
catalog_version: 1
name: demo
description: Demo packs.
maintainer: Demo Team <demo@example.invalid>
packs:
  hello:
    description: Greets.
    versions:
      - version: 1.0.0
        manifest: packs/hello/1.0.0/helmdeck-pack.yaml
        manifest_sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        component: packs/hello/1.0.0/hello.wasm
        component_sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        signature: packs/hello/1.0.0/helmdeck-pack.yaml.sig
      - version: 1.1.0
        manifest: https://mirror.example.invalid/hello-1.1.0.yaml
        manifest_sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        component: hello.wasm
        component_sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
";

    #[test]
    fn a_catalog_parses_finds_versions_and_round_trips() {
        let catalog = Catalog::from_yaml(INDEX).unwrap();
        assert_eq!(catalog.find("hello", None).unwrap().version, semver::Version::new(1, 1, 0));
        assert!(catalog.find("hello", None).unwrap().signature.is_none());
        assert!(catalog.find("hello", Some(&semver::Version::new(1, 0, 0))).unwrap().signature.is_some());
        assert!(catalog.find("hello", Some(&semver::Version::new(2, 0, 0))).is_none());
        assert_eq!(Catalog::from_yaml(&catalog.to_yaml()).unwrap(), catalog);
    }

    #[test]
    fn relative_urls_resolve_against_the_catalog_and_absolute_ones_stay() {
        let base = url::Url::parse("http://127.0.0.1:8080/catalogs/demo/index.yaml").unwrap();
        assert_eq!(
            resolve_url(&base, "packs/hello/1.0.0/hello.wasm").unwrap().as_str(),
            "http://127.0.0.1:8080/catalogs/demo/packs/hello/1.0.0/hello.wasm"
        );
        assert_eq!(
            resolve_url(&base, "https://m.example.invalid/x.wasm").unwrap().as_str(),
            "https://m.example.invalid/x.wasm"
        );
        let file = url::Url::parse("file:///srv/catalog/index.yaml").unwrap();
        assert_eq!(resolve_url(&file, "packs/a.wasm").unwrap().as_str(), "file:///srv/catalog/packs/a.wasm");
    }

    #[test]
    fn newer_formats_unordered_versions_and_typos_are_refused() {
        let err = Catalog::from_yaml(&INDEX.replace("catalog_version: 1", "catalog_version: 2")).unwrap_err();
        assert!(matches!(err, CatalogError::Version { found: 2 }), "{err}");
        let err = Catalog::from_yaml(&INDEX.replace("version: 1.1.0", "version: 0.9.0")).unwrap_err();
        assert!(err.to_string().contains("packs.hello.versions"), "{err}");
        let err = Catalog::from_yaml(&INDEX.replace("maintainer:", "maintainr:")).unwrap_err();
        assert!(err.to_string().contains("maintainr"), "{err}");
    }

    #[test]
    fn upsert_replaces_a_version_keeps_order_and_tracks_the_newest_description() {
        let mut catalog = Catalog::from_yaml(INDEX).unwrap();
        let mut entry = catalog.find("hello", None).unwrap().clone();
        entry.version = semver::Version::new(0, 5, 0);
        catalog.upsert("hello", entry.clone(), "old", None, &[]);
        assert_eq!(catalog.packs["hello"].description, "Greets.");
        entry.version = semver::Version::new(1, 1, 0);
        entry.component_size = Some(3);
        catalog.upsert("hello", entry, "Greets better.", Some("demo"), &[]);
        let versions: Vec<String> = catalog.packs["hello"].versions.iter().map(|v| v.version.to_string()).collect();
        assert_eq!(versions, ["0.5.0", "1.0.0", "1.1.0"]);
        assert_eq!(catalog.packs["hello"].description, "Greets better.");
        assert_eq!(catalog.find("hello", None).unwrap().component_size, Some(3));
        catalog.validate().unwrap();
    }
}
