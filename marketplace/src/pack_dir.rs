//! An installable pack directory: `helmdeck-pack.yaml` and the component it
//! names, side by side. `helmdeck pack install DIR` reads one; the build
//! tooling writes one per pack; the host keeps one per installed version.

use crate::{MANIFEST_FILE, Manifest};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Write `manifest` and `component` as the pack directory `dir`, replacing
/// whatever `dir` held. The files are written into a staging directory
/// beside `dir` and renamed into place, so a reader sees the old pack or the
/// new one, never half of one. The manifest is written as given: set
/// `component.sha256` first when the directory is meant for installation
/// elsewhere. Blocking.
pub fn write_pack_dir(dir: &Path, manifest: &Manifest, component: &[u8]) -> io::Result<()> {
    let parent =
        dir.parent().ok_or_else(|| io::Error::other(format!("`{}` has no parent directory", dir.display())))?;
    std::fs::create_dir_all(parent)?;
    let staging = sibling(dir, "staging");
    std::fs::create_dir(&staging)?;
    let written = std::fs::write(staging.join(MANIFEST_FILE), manifest.to_yaml())
        .and_then(|()| std::fs::write(staging.join(&manifest.component.file), component));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let retired = sibling(dir, "retired");
    let had_previous = dir.exists();
    if had_previous {
        std::fs::rename(dir, &retired)?;
    }
    std::fs::rename(&staging, dir)?;
    if had_previous {
        let _ = std::fs::remove_dir_all(&retired);
    }
    Ok(())
}

/// A hidden, unique name next to `dir` (`.staging-<name>-<pid>-<n>`).
fn sibling(dir: &Path, purpose: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.with_file_name(format!(".{purpose}-{name}-{}-{n}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::from_yaml("name: p\nversion: 1.0.0\ndescription: d\ncomponent:\n  file: p.wasm\n").unwrap()
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_pack_directory_holds_the_manifest_and_the_component_and_is_replaced_whole() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("packs").join("p");
        write_pack_dir(&dir, &manifest(), b"one").unwrap();
        std::fs::write(dir.join("stray.txt"), b"left from before").unwrap();
        write_pack_dir(&dir, &manifest(), b"two").unwrap();
        assert_eq!(entries(&dir), vec!["helmdeck-pack.yaml".to_owned(), "p.wasm".to_owned()]);
        assert_eq!(std::fs::read(dir.join("p.wasm")).unwrap(), b"two");
        let yaml = std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
        assert_eq!(Manifest::from_yaml(&yaml).unwrap(), manifest());
        // No staging or retired directories are left behind.
        assert_eq!(entries(&root.path().join("packs")), vec!["p".to_owned()]);
    }
}
