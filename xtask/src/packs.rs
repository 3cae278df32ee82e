//! Building the packs under `packs/` into installable pack directories
//! (`target/packs/<name>/`), and installing them.

use crate::workspace::{run, step};
use anyhow::Result;
use helmdeck_build::{PackCrate, Progress, Workspace, assemble};
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Install each built pack directory, granting what its manifest requests.
pub fn install_all(helmdeck: &Path, data_dir: Option<&Path>, dirs: &[PathBuf]) -> Result<()> {
    step("installing the built-in packs", || {
        for dir in dirs {
            let mut cmd = Command::new(helmdeck);
            if let Some(d) = data_dir {
                cmd.arg("--data-dir").arg(d);
            }
            cmd.args(["pack", "install", "--yes"]).arg(dir).stdout(std::process::Stdio::null());
            run(&mut cmd)?;
        }
        Ok(())
    })
}
