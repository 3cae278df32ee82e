//! Pack crates: each a `cdylib` with a `helmdeck-pack.yaml` beside its
//! `Cargo.toml`, built for `wasm32-wasip2` with the `pack` profile, then
//! assembled into an installable pack directory.

use crate::{BuildError, Progress, Workspace};
use helmdeck_marketplace::{Digest, MANIFEST_FILE, Manifest, write_pack_dir};
use std::path::{Path, PathBuf};

/// The target packs are built for.
pub const PACK_TARGET: &str = "wasm32-wasip2";
/// The cargo profile packs are built with (see the workspace `Cargo.toml`).
pub const PACK_PROFILE: &str = "pack";

const TARGET_HINT: &str =
    "; if it says the wasm32-wasip2 target is missing, run `rustup target add wasm32-wasip2` (or `cargo xtask setup`)";

/// A workspace member that builds a pack.
#[derive(Debug, Clone)]
pub struct PackCrate {
    /// The Cargo package name (`pack-http`).
    pub package: String,
    /// The crate's directory.
    pub dir: PathBuf,
    /// Its `helmdeck-pack.yaml`, as written (no digest yet).
    pub manifest: Manifest,
}

impl PackCrate {
    /// Every workspace member directly inside `parent` that has a
    /// `helmdeck-pack.yaml`, sorted by package name. A member without one is
    /// not a pack and is skipped.
    pub fn discover(ws: &Workspace, parent: &Path) -> Result<Vec<PackCrate>, BuildError> {
        let mut found = Vec::new();
        for member in ws.members_in(parent) {
            let path = member.dir.join(MANIFEST_FILE);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(BuildError::io(&path)(e)),
            };
            let manifest = Manifest::from_yaml(&text).map_err(|source| BuildError::Manifest { path, source })?;
            found.push(PackCrate { package: member.name.clone(), dir: member.dir.clone(), manifest });
        }
        found.sort_by(|a, b| a.package.cmp(&b.package));
        Ok(found)
    }
}

impl Workspace {
    /// Build `crates` for [`PACK_TARGET`] with [`PACK_PROFILE`] in one cargo
    /// run; returns each crate's component path, in the order given. A no-op
    /// for crates that are fresh.
    pub fn build_packs(&self, crates: &[PackCrate], progress: Progress) -> Result<Vec<PathBuf>, BuildError> {
        if crates.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["--profile", PACK_PROFILE, "--target", PACK_TARGET];
        for c in crates {
            args.extend(["--package", c.package.as_str()]);
        }
        let artifacts = self.build(&args, progress, TARGET_HINT)?;
        crates
            .iter()
            .map(|c| {
                let lib = c.package.replace('-', "_");
                artifacts
                    .iter()
                    .filter(|a| a.target.name == lib)
                    .flat_map(|a| &a.filenames)
                    .find(|f| f.extension().is_some_and(|e| e == "wasm"))
                    .cloned()
                    .ok_or_else(|| BuildError::MissingArtifact { package: c.package.clone(), what: ".wasm component" })
            })
            .collect()
    }
}

/// Write the installable pack directory `dir` for `krate` from the component
/// at `wasm`: the component under the manifest's file name, and the manifest
/// with `component.sha256` set to the component's digest. Returns that
/// manifest. `dir` is replaced atomically.
pub fn assemble(krate: &PackCrate, wasm: &Path, dir: &Path) -> Result<Manifest, BuildError> {
    let bytes = std::fs::read(wasm).map_err(BuildError::io(wasm))?;
    let mut manifest = krate.manifest.clone();
    manifest.component.sha256 = Some(Digest::of(&bytes));
    write_pack_dir(dir, &manifest, &bytes).map_err(BuildError::io(dir))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assembled_pack_directory_pins_the_component_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let wasm = tmp.path().join("built.wasm");
        std::fs::write(&wasm, b"\0asm-component").unwrap();
        let krate = PackCrate {
            package: "pack-demo".into(),
            dir: tmp.path().into(),
            manifest: Manifest::from_yaml(
                "name: demo\nversion: 1.2.3\ndescription: d\ncomponent:\n  file: demo.wasm\n",
            )
            .unwrap(),
        };
        let dir = tmp.path().join("out").join("demo");
        let manifest = assemble(&krate, &wasm, &dir).unwrap();
        assert_eq!(manifest.component.sha256, Some(Digest::of(b"\0asm-component")));
        assert_eq!(std::fs::read(dir.join("demo.wasm")).unwrap(), b"\0asm-component");
        let written = Manifest::from_yaml(&std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(written, manifest);
    }
}
