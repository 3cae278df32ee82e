//! Publishing: turn a pack directory (manifest + component) into what a
//! catalog serves, and signing a manifest in place.
//!
//! The published manifest always pins the component's digest, and the
//! signature covers the manifest's exact bytes, so one signature binds the
//! code and the permissions it requests. A manifest that already pins the
//! right digest is published byte for byte, so a signature made beside it
//! with `cosign sign-blob` stays valid.

use crate::catalog::{CATALOG_FILE, Catalog, CatalogError, CatalogVersion};
use crate::signing::{SigningError, SigningKey, signature_file_name};
use crate::{Digest, MANIFEST_FILE, Manifest, ManifestError};
use std::path::{Path, PathBuf};

/// Why publishing or signing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A file could not be read or written.
    #[error("{action} `{path}`: {error}")]
    Io {
        /// What was attempted (`cannot read`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The manifest is not valid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The catalog's index is not valid.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The key could not be read or could not sign.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// The manifest pins a digest the component does not have.
    #[error(
        "digest check failed: `{component}` has SHA-256 {actual}, but the manifest pins {pinned}; rebuild, or update \
         `component.sha256` in {MANIFEST_FILE}"
    )]
    Digest {
        /// The component file.
        component: PathBuf,
        /// Its SHA-256.
        actual: Digest,
        /// What the manifest pins.
        pinned: Digest,
    },
    /// No key was given and there is no usable signature file.
    #[error("{0}")]
    Unsigned(String),
}

/// A pack directory read for publishing.
#[derive(Debug)]
pub struct PackSource {
    /// The manifest, with `component.sha256` pinned.
    pub manifest: Manifest,
    /// The exact manifest bytes to publish and sign.
    pub manifest_bytes: Vec<u8>,
    /// Whether `manifest_bytes` are the file's own bytes (a signature made
    /// beside the file covers them).
    pub verbatim: bool,
    /// Where the manifest was read from.
    pub manifest_path: PathBuf,
    /// The component's bytes.
    pub component: Vec<u8>,
}

impl PackSource {
    /// Read `path` (a pack directory or its manifest) and the component it
    /// names (or `component` when given), pinning the component's digest.
    pub fn read(path: &Path, component: Option<&Path>) -> Result<PackSource, PublishError> {
        let manifest_path = if path.is_dir() { path.join(MANIFEST_FILE) } else { path.to_path_buf() };
        let text = read_to_string(&manifest_path)?;
        let mut manifest = Manifest::from_yaml(&text)?;
        let component_path = match component {
            Some(p) => p.to_path_buf(),
            None => manifest_path.parent().unwrap_or(Path::new(".")).join(&manifest.component.file),
        };
        let component = std::fs::read(&component_path).map_err(|error| PublishError::Io {
            action: "cannot read the component (build the pack first)",
            path: component_path.clone(),
            error,
        })?;
        let actual = Digest::of(&component);
        match manifest.component.sha256 {
            Some(pinned) if pinned != actual => Err(PublishError::Digest { component: component_path, actual, pinned }),
            Some(_) => {
                Ok(PackSource { manifest, manifest_bytes: text.into_bytes(), verbatim: true, manifest_path, component })
            }
            None => {
                manifest.component.sha256 = Some(actual);
                let manifest_bytes = manifest.to_yaml().into_bytes();
                Ok(PackSource { manifest, manifest_bytes, verbatim: false, manifest_path, component })
            }
        }
    }

    /// The detached signature: made with `key`, or read from the `.sig` file
    /// beside the manifest (as `cosign sign-blob` writes it).
    pub fn signature(&self, key: Option<&SigningKey>) -> Result<String, PublishError> {
        if let Some(key) = key {
            return Ok(key.sign(&self.manifest_bytes)?);
        }
        let sig_path = sig_path(&self.manifest_path);
        if !self.verbatim {
            return Err(PublishError::Unsigned(format!(
                "{} does not pin `component.sha256`, so a signature beside it cannot cover the component; pass --key, or \
                 add `sha256: {}` under `component:` and sign again",
                self.manifest_path.display(),
                Digest::of(&self.component)
            )));
        }
        match std::fs::read_to_string(&sig_path) {
            Ok(sig) => Ok(sig.trim().to_owned()),
            Err(_) => Err(PublishError::Unsigned(format!(
                "no signature: pass --key cosign.key, or sign first with `helmdeck pack sign` or `cosign sign-blob \
                 --key cosign.key --output-signature {} {}`",
                sig_path.display(),
                self.manifest_path.display()
            ))),
        }
    }
}

/// Sign the manifest at `path` (or in directory `path`) in place, writing
/// `helmdeck-pack.yaml.sig` beside it. The manifest must pin the digest of
/// the component it names. Returns the signature's path.
pub fn sign_manifest(path: &Path, key: &SigningKey) -> Result<PathBuf, PublishError> {
    let source = PackSource::read(path, None)?;
    if !source.verbatim {
        return Err(PublishError::Unsigned(format!(
            "{} does not pin `component.sha256`; add `sha256: {}` under `component:` so the signature covers the code",
            source.manifest_path.display(),
            Digest::of(&source.component)
        )));
    }
    let signature = key.sign(&source.manifest_bytes)?;
    let out = sig_path(&source.manifest_path);
    write(&out, signature.as_bytes())?;
    Ok(out)
}

/// Metadata for a catalog that does not exist yet.
#[derive(Debug, Clone)]
pub struct CatalogMeta {
    /// The catalog's own name.
    pub name: String,
    /// What it offers.
    pub description: String,
    /// Who maintains it.
    pub maintainer: String,
}

/// What [`publish`] wrote.
#[derive(Debug, Clone)]
pub struct Published {
    /// The pack's name.
    pub name: String,
    /// The version entry added to the index.
    pub entry: CatalogVersion,
    /// The catalog's `index.yaml`.
    pub index: PathBuf,
}

/// Publish `source` into the catalog directory `catalog_dir` (created with
/// `meta` when it has no `index.yaml` yet): copy the manifest, component and
/// signature under `packs/<name>/<version>/` and add or replace the version
/// in the index (written atomically).
pub fn publish(
    source: &PackSource,
    signature: &str,
    catalog_dir: &Path,
    meta: &CatalogMeta,
) -> Result<Published, PublishError> {
    let index_path = catalog_dir.join(CATALOG_FILE);
    let mut catalog = match std::fs::read_to_string(&index_path) {
        Ok(text) => Catalog::from_yaml(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Catalog::new(&meta.name, &meta.description, &meta.maintainer)
        }
        Err(error) => return Err(PublishError::Io { action: "cannot read", path: index_path, error }),
    };
    let m = &source.manifest;
    let relative = format!("packs/{}/{}", m.name, m.version);
    let dir = catalog_dir.join(&relative);
    std::fs::create_dir_all(&dir).map_err(|error| PublishError::Io {
        action: "cannot create",
        path: dir.clone(),
        error,
    })?;
    write(&dir.join(MANIFEST_FILE), &source.manifest_bytes)?;
    write(&dir.join(&m.component.file), &source.component)?;
    let sig_name = signature_file_name(MANIFEST_FILE);
    write(&dir.join(&sig_name), signature.as_bytes())?;
    let entry = CatalogVersion {
        version: m.version.clone(),
        manifest: format!("{relative}/{MANIFEST_FILE}"),
        manifest_sha256: Digest::of(&source.manifest_bytes),
        component: format!("{relative}/{}", m.component.file),
        component_sha256: Digest::of(&source.component),
        component_size: Some(source.component.len() as u64),
        signature: Some(format!("{relative}/{sig_name}")),
        capabilities: m.requested().collect(),
        min_host_version: m.min_host_version.clone(),
    };
    catalog.upsert(&m.name, entry.clone(), &m.description, m.category.as_deref(), &m.tags);
    catalog.validate()?;
    write(&index_path, catalog.to_yaml().as_bytes())?;
    Ok(Published { name: m.name.clone(), entry, index: index_path })
}

fn sig_path(manifest_path: &Path) -> PathBuf {
    let name =
        manifest_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| MANIFEST_FILE.into());
    manifest_path.with_file_name(signature_file_name(&name))
}

fn read_to_string(path: &Path) -> Result<String, PublishError> {
    std::fs::read_to_string(path).map_err(|error| PublishError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        error,
    })
}

/// Write through a temporary file and a rename, so readers never see half a file.
fn write(path: &Path, bytes: &[u8]) -> Result<(), PublishError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)).map_err(|error| PublishError::Io {
        action: "cannot write",
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::PublicKey;

    fn pack_dir(version: &str, pin: Option<Digest>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let pin = pin.map(|d| format!("\n  sha256: {d}")).unwrap_or_default();
        let yaml = format!(
            "# a comment that survives verbatim publishing\nname: hello\nversion: {version}\ndescription: Greets.\n\
             component:\n  file: hello.wasm{pin}\ncapabilities:\n  http: {{}}\n"
        );
        std::fs::write(dir.path().join(MANIFEST_FILE), yaml).unwrap();
        std::fs::write(dir.path().join("hello.wasm"), b"component bytes").unwrap();
        dir
    }

    fn meta() -> CatalogMeta {
        CatalogMeta { name: "demo".into(), description: "Demo.".into(), maintainer: "Demo".into() }
    }

    #[test]
    fn publishing_pins_the_digest_signs_the_published_bytes_and_indexes_the_version() {
        let (pack, catalog) = (pack_dir("1.0.0", None), tempfile::tempdir().unwrap());
        let key = SigningKey::generate().unwrap();
        let source = PackSource::read(pack.path(), None).unwrap();
        assert!(!source.verbatim);
        let published = publish(&source, &source.signature(Some(&key)).unwrap(), catalog.path(), &meta()).unwrap();
        let version_dir = catalog.path().join("packs/hello/1.0.0");
        let manifest_bytes = std::fs::read(version_dir.join(MANIFEST_FILE)).unwrap();
        let signature = std::fs::read_to_string(version_dir.join("helmdeck-pack.yaml.sig")).unwrap();
        key.public_key().unwrap().verify(&manifest_bytes, &signature).unwrap();
        let manifest = Manifest::from_yaml(std::str::from_utf8(&manifest_bytes).unwrap()).unwrap();
        assert_eq!(manifest.component.sha256, Some(Digest::of(b"component bytes")));
        let index = Catalog::from_yaml(&std::fs::read_to_string(&published.index).unwrap()).unwrap();
        let entry = index.find("hello", None).unwrap();
        assert_eq!(
            (entry.manifest_sha256, entry.component_sha256),
            (Digest::of(&manifest_bytes), Digest::of(b"component bytes"))
        );
        assert_eq!(entry.capabilities, vec![crate::Capability::Http]);
        assert_eq!(index.name, "demo");
    }

    #[test]
    fn a_pinned_manifest_publishes_verbatim_with_the_signature_beside_it() {
        let pack = pack_dir("1.1.0", Some(Digest::of(b"component bytes")));
        let key = SigningKey::generate().unwrap();
        let sig = sign_manifest(pack.path(), &key).unwrap();
        assert_eq!(sig, pack.path().join("helmdeck-pack.yaml.sig"));
        let source = PackSource::read(pack.path(), None).unwrap();
        assert!(source.verbatim && source.manifest_bytes.starts_with(b"# a comment"));
        let catalog = tempfile::tempdir().unwrap();
        publish(&source, &source.signature(None).unwrap(), catalog.path(), &meta()).unwrap();
        let published = std::fs::read(catalog.path().join("packs/hello/1.1.0").join(MANIFEST_FILE)).unwrap();
        let signature =
            std::fs::read_to_string(catalog.path().join("packs/hello/1.1.0/helmdeck-pack.yaml.sig")).unwrap();
        PublicKey::from_pem(key.public_key().unwrap().to_pem()).unwrap().verify(&published, &signature).unwrap();
    }

    #[test]
    fn a_wrong_pin_and_a_missing_signature_are_refused() {
        let pack = pack_dir("1.0.0", Some(Digest::of(b"other bytes")));
        let err = PackSource::read(pack.path(), None).unwrap_err();
        assert!(err.to_string().starts_with("digest check failed"), "{err}");
        let pack = pack_dir("1.0.0", Some(Digest::of(b"component bytes")));
        let err = PackSource::read(pack.path(), None).unwrap().signature(None).unwrap_err();
        assert!(err.to_string().contains("cosign sign-blob"), "{err}");
        let unpinned = pack_dir("1.0.0", None);
        assert!(sign_manifest(unpinned.path(), &SigningKey::generate().unwrap()).is_err());
    }
}
