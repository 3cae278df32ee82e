//! Building the packs under `packs/` into installable pack directories
//! (`cargo xtask publish` signs them into the bundled catalog).

use crate::workspace::{Workspace, cargo, run, step};
use anyhow::{Context, Result, bail};
use helmdeck_marketplace::{Digest, MANIFEST_FILE, Manifest};
use std::path::{Path, PathBuf};

/// Cargo profile packs are built with (see the workspace `Cargo.toml`).
pub const PACK_PROFILE: &str = "pack";

/// A pack crate under `packs/`.
struct PackCrate {
    crate_name: String,
    manifest: Manifest,
}

/// Build every pack and write `target/packs/<name>/` for each; returns those directories.
pub fn build_all(ws: &Workspace) -> Result<Vec<PathBuf>> {
    let crates = discover(&ws.root.join("packs"))?;
    step(&format!("building {} packs for wasm32-wasip2", crates.len()), || {
        let mut cmd = cargo();
        cmd.args(["build", "--profile", PACK_PROFILE, "--target", "wasm32-wasip2"]).current_dir(&ws.root);
        for c in &crates {
            cmd.args(["--package", &c.crate_name]);
        }
        run(&mut cmd)
    })?;
    let out_root = ws.target.join("packs");
    let mut dirs = Vec::new();
    for c in crates {
        let wasm =
            ws.target.join("wasm32-wasip2").join(PACK_PROFILE).join(format!("{}.wasm", c.crate_name.replace('-', "_")));
        let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let mut manifest = c.manifest;
        manifest.component.sha256 = Some(Digest::of(&bytes));
        let dir = out_root.join(&manifest.name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(&manifest.component.file), &bytes)?;
        std::fs::write(dir.join(MANIFEST_FILE), manifest.to_yaml())?;
        eprintln!("    {:<10} {:>8} KiB  {}", manifest.name, bytes.len() / 1024, dir.display());
        dirs.push(dir);
    }
    Ok(dirs)
}

fn discover(packs: &Path) -> Result<Vec<PackCrate>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(packs).with_context(|| format!("reading {}", packs.display()))? {
        let dir = entry?.path();
        let (cargo_toml, manifest_path) = (dir.join("Cargo.toml"), dir.join(MANIFEST_FILE));
        if !cargo_toml.exists() {
            continue;
        }
        if !manifest_path.exists() {
            bail!("{} has no {MANIFEST_FILE}", dir.display());
        }
        let cargo: toml::Value = toml::from_str(&std::fs::read_to_string(&cargo_toml)?)?;
        let crate_name = cargo["package"]["name"].as_str().context("package.name")?.to_owned();
        let manifest = Manifest::from_yaml(&std::fs::read_to_string(&manifest_path)?)
            .with_context(|| format!("{}", manifest_path.display()))?;
        found.push(PackCrate { crate_name, manifest });
    }
    found.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
    Ok(found)
}
