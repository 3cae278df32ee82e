//! Installed packs on disk: `<packs-dir>/<name>/<version>/` holding the
//! manifest and the component. Writes go to a temporary directory first and
//! are renamed into place, so a crash never leaves a half-written pack.

use crate::{Error, Result};
use helmdeck_marketplace::{Digest, MANIFEST_FILE, Manifest};
use std::path::{Path, PathBuf};

/// The directory of installed packs.
#[derive(Debug, Clone)]
pub struct PackFiles {
    root: PathBuf,
}

impl PackFiles {
    /// Packs under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PackFiles { root: root.into() }
    }

    fn dir(&self, name: &str, version: &semver::Version) -> PathBuf {
        self.root.join(name).join(version.to_string())
    }

    /// Write `manifest` and `component` for a pack version, replacing any
    /// previous copy of that version atomically. Blocking.
    pub fn write(&self, manifest: &Manifest, component: &[u8]) -> Result<()> {
        let io = |e: std::io::Error| Error::internal(format!("could not write pack `{}`: {e}", manifest.name));
        let parent = self.root.join(&manifest.name);
        std::fs::create_dir_all(&parent).map_err(io)?;
        let staging = parent.join(format!(".staging-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir(&staging).map_err(io)?;
        let written = std::fs::write(staging.join(MANIFEST_FILE), manifest.to_yaml())
            .and_then(|()| std::fs::write(staging.join(&manifest.component.file), component));
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(io(e));
        }
        let target = self.dir(&manifest.name, &manifest.version);
        let retired = parent.join(format!(".retired-{}", uuid::Uuid::now_v7().simple()));
        let had_previous = target.exists();
        if had_previous {
            std::fs::rename(&target, &retired).map_err(io)?;
        }
        std::fs::rename(&staging, &target).map_err(io)?;
        if had_previous {
            let _ = std::fs::remove_dir_all(&retired);
        }
        Ok(())
    }

    /// Read a pack version back and check the component against `digest`:
    /// the check on every load from disk. Blocking.
    pub fn read(&self, name: &str, version: &semver::Version, digest: &Digest) -> Result<(Manifest, Vec<u8>)> {
        let dir = self.dir(name, version);
        let io = |what: &Path, e: std::io::Error| Error::internal(format!("could not read `{}`: {e}", what.display()));
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| io(&manifest_path, e))?;
        let manifest = Manifest::from_yaml(&text).map_err(|e| Error::internal(format!("installed pack `{name}` {version}: {e}")))?;
        let component_path = dir.join(&manifest.component.file);
        let component = std::fs::read(&component_path).map_err(|e| io(&component_path, e))?;
        let found = Digest::of(&component);
        if &found != digest {
            return Err(Error::internal(format!(
                "installed pack `{name}` {version} was modified on disk: its component digest is {found}, but {digest} was \
                 installed; reinstall the pack"
            )));
        }
        Ok((manifest, component))
    }

    /// Delete a pack version (and the pack's directory when it was the last). Blocking.
    pub fn remove(&self, name: &str, version: &semver::Version) -> Result<()> {
        let dir = self.dir(name, version);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| Error::internal(format!("could not delete `{}`: {e}", dir.display())))?;
        }
        // Only succeeds when empty: the other versions stay.
        let _ = std::fs::remove_dir(self.root.join(name));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: &str) -> Manifest {
        Manifest::from_yaml(&format!("name: p\nversion: {version}\ndescription: d\ncomponent:\n  file: p.wasm\n")).unwrap()
    }

    #[test]
    fn a_written_pack_reads_back_and_a_tampered_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = PackFiles::new(dir.path());
        let m = manifest("1.0.0");
        files.write(&m, b"wasm-bytes").unwrap();
        let (read, bytes) = files.read("p", &m.version, &Digest::of(b"wasm-bytes")).unwrap();
        assert_eq!((read, bytes), (m.clone(), b"wasm-bytes".to_vec()));
        std::fs::write(dir.path().join("p/1.0.0/p.wasm"), b"wasm-bytez").unwrap();
        let err = files.read("p", &m.version, &Digest::of(b"wasm-bytes")).unwrap_err();
        assert!(err.message.contains("modified on disk"), "{}", err.message);
    }

    #[test]
    fn rewriting_a_version_replaces_it_and_removal_keeps_other_versions() {
        let dir = tempfile::tempdir().unwrap();
        let files = PackFiles::new(dir.path());
        files.write(&manifest("1.0.0"), b"one").unwrap();
        files.write(&manifest("1.0.0"), b"uno").unwrap();
        files.write(&manifest("2.0.0"), b"two").unwrap();
        assert_eq!(std::fs::read(dir.path().join("p/1.0.0/p.wasm")).unwrap(), b"uno");
        files.remove("p", &semver::Version::new(1, 0, 0)).unwrap();
        assert!(!dir.path().join("p/1.0.0").exists());
        assert!(dir.path().join("p/2.0.0/p.wasm").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("p")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("2.0.0")]);
    }
}
