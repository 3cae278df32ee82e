//! Building the packs under `packs/` into installable pack directories
//! (`target/packs/<name>/`); `cargo xtask publish` signs them into the
//! bundled catalog.

use crate::workspace::step;
use anyhow::Result;
use helmdeck_build::{PackCrate, Progress, Workspace, assemble};
use std::path::PathBuf;

/// Build every pack and write `target/packs/<name>/` for each; returns those directories.
pub fn build_all(ws: &Workspace) -> Result<Vec<PathBuf>> {
    let crates = PackCrate::discover(ws, &ws.root.join("packs"))?;
    let components = step(&format!("building {} packs for wasm32-wasip2", crates.len()), || {
        Ok(ws.build_packs(&crates, Progress::Shown)?)
    })?;
    let out_root = ws.target_dir.join("packs");
    let mut dirs = Vec::new();
    for (krate, wasm) in crates.iter().zip(&components) {
        let dir = out_root.join(&krate.manifest.name);
        assemble(krate, wasm, &dir)?;
        let size = std::fs::metadata(wasm)?.len();
        eprintln!("    {:<10} {:>8} KiB  {}", krate.manifest.name, size / 1024, dir.display());
        dirs.push(dir);
    }
    Ok(dirs)
}
