//! Where things are (workspace root, target directory) and the cargo
//! invocations the tasks share.

use crate::publish::Bundle;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The workspace this xtask belongs to.
pub struct Workspace {
    pub root: PathBuf,
    pub target: PathBuf,
}

impl Workspace {
    /// Find the root (this crate's parent) and cargo's target directory.
    pub fn locate() -> Result<Workspace> {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has no parent directory")?.to_path_buf();
        let output = cargo().args(["metadata", "--format-version", "1", "--no-deps"]).current_dir(&root).output()?;
        if !output.status.success() {
            bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let meta: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        let target = PathBuf::from(meta["target_directory"].as_str().context("no target_directory in cargo metadata")?);
        Ok(Workspace { root, target })
    }

    /// Build the `helmdeck` binary and return its path.
    pub fn build_helmdeck(&self, release: bool) -> Result<PathBuf> {
        let profile = if release { "release" } else { "debug" };
        step(&format!("building helmdeck ({profile})"), || {
            let mut cmd = cargo();
            cmd.args(["build", "--package", "helmdeck", "--bin", "helmdeck"]).current_dir(&self.root);
            if release {
                cmd.arg("--release");
            }
            run(&mut cmd)
        })?;
        Ok(self.target.join(profile).join("helmdeck"))
    }

    /// Run `helmdeck serve` in the foreground until it exits, with the
    /// bundled catalog it installs (on a fresh data directory) or syncs the
    /// built-in packs from.
    pub fn serve(&self, helmdeck: &Path, data_dir: Option<&Path>, listen: Option<&str>, bundle: &Bundle) -> Result<()> {
        let mut cmd = Command::new(helmdeck);
        if let Some(dir) = data_dir {
            cmd.arg("--data-dir").arg(dir);
        }
        cmd.arg("serve")
            .arg("--bundled-catalog")
            .arg(&bundle.catalog)
            .arg("--bundled-catalog-key")
            .arg(&bundle.public_key);
        if let Some(addr) = listen {
            cmd.args(["--listen", addr]);
        }
        eprintln!("==> starting helmdeck serve (Ctrl-C stops it)");
        eprintln!("    token for the API: {} token issue --subject you", helmdeck.display());
        run(&mut cmd)
    }

    /// Every test: unit, integration, end-to-end and doc tests.
    pub fn test(&self, extra: &[String]) -> Result<()> {
        let started = Instant::now();
        if has_nextest() {
            let mut cmd = cargo();
            cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"]).args(extra).current_dir(&self.root);
            run(&mut cmd)?;
            if extra.is_empty() {
                run(cargo().args(["test", "--workspace", "--doc"]).current_dir(&self.root))?;
            }
        } else {
            run(cargo().args(["test", "--workspace", "--no-fail-fast"]).args(extra).current_dir(&self.root))?;
        }
        eprintln!("==> all tests passed in {:.0?}", started.elapsed());
        Ok(())
    }

    /// Formatting and clippy, warnings denied.
    pub fn lint(&self) -> Result<()> {
        run(cargo().args(["fmt", "--all", "--check"]).current_dir(&self.root))?;
        run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]).current_dir(&self.root))
    }
}

/// `cargo` as invoked by the user (the same toolchain).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn has_nextest() -> bool {
    cargo().args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success())
}

/// Run a command, failing with its command line when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Run `work` under a progress line with its duration.
pub fn step<T>(what: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("==> {what}");
    let started = Instant::now();
    let out = work()?;
    eprintln!("    done in {:.1?}", started.elapsed());
    Ok(out)
}
