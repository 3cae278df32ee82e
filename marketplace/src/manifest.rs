//! The pack manifest, `helmdeck-pack.yaml`: who the pack is, which component
//! it runs (pinned by digest), what it may touch, and its limits. A signature
//! over the manifest therefore binds code and requested permissions together.

use crate::{Capability, CapabilityScope, Digest, Example};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The manifest's file name inside a pack directory.
pub const MANIFEST_FILE: &str = "helmdeck-pack.yaml";

/// A pack manifest. Unknown fields are refused, so a typo such as
/// `capabilites:` fails loudly instead of granting nothing silently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Pack name: the namespace of its tools (`http` in `http.fetch`).
    /// Lower-case letters, digits, `-` and `_`, starting with a letter, at most 32.
    pub name: String,
    /// Semantic version of the pack.
    pub version: semver::Version,
    /// One or two sentences for people and models.
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// SPDX license expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// A category for search (`network`, `browser`, `data`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The component this manifest describes.
    pub component: ComponentRef,
    /// Requested capabilities and their scopes. A component importing any
    /// other `helmdeck:host` interface is refused at install.
    #[serde(default)]
    pub capabilities: BTreeMap<Capability, CapabilityScope>,
    #[serde(default)]
    pub limits: Limits,
    /// The oldest host version able to run this pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_host_version: Option<semver::Version>,
    /// Example calls per tool, for `helmdeck pack test` and the UI.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub examples: BTreeMap<String, Vec<Example>>,
}

/// Which component file, and its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentRef {
    /// File name of the `.wasm` component, relative to the manifest.
    pub file: String,
    /// SHA-256 of the component. Required for published packs; a local
    /// development install without it records the digest it computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
}

/// Per-call limits the pack asks for; the host clamps them to its maxima.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Linear memory per call, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    /// Wall-clock time per call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// A manifest that cannot be used, with the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not YAML, or not the manifest's shape.
    #[error("{MANIFEST_FILE} is not a valid manifest: {0}")]
    Parse(String),
    /// Parsed, but a field's value is unusable.
    #[error("{MANIFEST_FILE}: `{field}` {problem}")]
    Field { field: String, problem: String },
}

impl Manifest {
    /// Parse and validate YAML.
    pub fn from_yaml(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_norway::from_str(text).map_err(|e| ManifestError::Parse(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest as YAML.
    pub fn to_yaml(&self) -> String {
        // Plain data with string keys: serialization cannot fail.
        serde_norway::to_string(self).unwrap_or_default()
    }

    /// Check every field's value.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let field = |field: &str, problem: String| ManifestError::Field { field: field.to_owned(), problem };
        if !is_pack_name(&self.name) {
            return Err(field(
                "name",
                format!("`{}` must be 1-32 lower-case letters, digits, `-` or `_`, starting with a letter", self.name),
            ));
        }
        if self.description.trim().is_empty() {
            return Err(field("description", "must not be empty".into()));
        }
        let file = &self.component.file;
        if file.is_empty()
            || file.contains('/')
            || file.contains('\\')
            || file.starts_with('.')
            || !file.ends_with(".wasm")
        {
            return Err(field(
                "component.file",
                format!("`{file}` must be a plain `.wasm` file name next to the manifest"),
            ));
        }
        for (cap, scope) in &self.capabilities {
            scope.check(*cap).map_err(|problem| field(&format!("capabilities.{cap}"), problem))?;
        }
        if self.limits.memory_mb == Some(0) {
            return Err(field("limits.memory_mb", "must be at least 1".into()));
        }
        if self.limits.timeout_ms == Some(0) {
            return Err(field("limits.timeout_ms", "must be at least 1".into()));
        }
        Ok(())
    }

    /// The requested capabilities, in a stable order.
    pub fn requested(&self) -> impl Iterator<Item = Capability> + '_ {
        self.capabilities.keys().copied()
    }
}

/// Whether `name` is a valid pack name: `^[a-z][a-z0-9_-]{0,31}$`.
pub fn is_pack_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 32
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTP: &str = "
name: http
version: 0.1.0
description: HTTP requests.
component:
  file: http.wasm
  sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
capabilities:
  http:
    hosts: ['*.example.com']
limits:
  memory_mb: 32
examples:
  fetch:
    - input: {url: 'https://example.com/'}
      expected_output_subset: {status: 200}
";

    #[test]
    fn a_full_manifest_parses_and_round_trips() {
        let m = Manifest::from_yaml(HTTP).unwrap();
        assert_eq!(m.name, "http");
        assert_eq!(m.requested().collect::<Vec<_>>(), vec![Capability::Http]);
        assert_eq!(m.limits.memory_mb, Some(32));
        assert_eq!(m.examples["fetch"][0].expected_output_subset, Some(serde_json::json!({"status": 200})));
        assert_eq!(Manifest::from_yaml(&m.to_yaml()).unwrap(), m);
    }

    #[test]
    fn misspelt_fields_are_refused() {
        let err = Manifest::from_yaml(&HTTP.replace("capabilities:", "capabilites:")).unwrap_err();
        assert!(err.to_string().contains("capabilites"), "{err}");
    }

    #[test]
    fn unknown_capabilities_are_refused() {
        let err = Manifest::from_yaml(&HTTP.replace("  http:\n", "  sockets:\n")).unwrap_err();
        assert!(err.to_string().contains("sockets"), "{err}");
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (HTTP.replace("name: http", "name: Http"), "name"),
            (HTTP.replace("file: http.wasm", "file: ../x.wasm"), "component.file"),
            (HTTP.replace("memory_mb: 32", "memory_mb: 0"), "limits.memory_mb"),
            (HTTP.replace("hosts: ['*.example.com']", "access: read"), "capabilities.http"),
        ];
        for (yaml, field) in cases {
            match Manifest::from_yaml(&yaml).unwrap_err() {
                ManifestError::Field { field: f, .. } => assert_eq!(f, field),
                other => panic!("expected a field error for {field}, got {other}"),
            }
        }
    }

    #[test]
    fn a_bad_digest_is_a_parse_error() {
        let err = Manifest::from_yaml(&HTTP.replace("sha256: ba78", "sha256: zz78")).unwrap_err();
        assert!(err.to_string().contains("SHA-256"), "{err}");
    }
}
