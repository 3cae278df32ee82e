//! The workspace's tasks beyond building packs (build the binary, serve,
//! test, lint), and the command helpers the tasks share. Locating the
//! workspace and building are `helmdeck-build`'s, shared with the tests.

use crate::publish::Bundle;
use anyhow::{Context, Result, bail};
use helmdeck_build::{Progress, Workspace};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The workspace this xtask belongs to (this crate's parent directory).
pub fn locate() -> Result<Workspace> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has no parent directory")?;
    Ok(Workspace::locate(root)?)
}

/// Build the `helmdeck` binary and return its path.
pub fn build_helmdeck(ws: &Workspace, release: bool) -> Result<PathBuf> {
    let profile = if release { "release" } else { "dev" };
    step(&format!("building helmdeck ({profile})"), || {
        Ok(ws.build_binary("helmdeck", "helmdeck", profile, Progress::Shown)?)
    })
}

/// Build `helmdeck-mcp`, the stdio bridge MCP clients start, and return its path.
pub fn build_bridge(ws: &Workspace, release: bool) -> Result<PathBuf> {
    let profile = if release { "release" } else { "dev" };
    step(&format!("building helmdeck-mcp ({profile})"), || {
        Ok(ws.build_binary("helmdeck-mcp", "helmdeck-mcp", profile, Progress::Shown)?)
    })
}

/// Run `helmdeck serve` in the foreground until it exits, with the bundled
/// catalog it installs the built-in packs from (on a fresh data directory)
/// or upgrades them from.
pub fn serve(helmdeck: &Path, data_dir: Option<&Path>, listen: Option<&str>, bundle: &Bundle) -> Result<()> {
    let mut cmd = Command::new(helmdeck);
    if let Some(dir) = data_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    cmd.arg("serve").arg("--bundled-catalog").arg(&bundle.catalog).arg("--bundled-catalog-key").arg(&bundle.public_key);
    if let Some(addr) = listen {
        cmd.args(["--listen", addr]);
    }
    eprintln!("==> starting helmdeck serve (Ctrl-C stops it)");
    eprintln!("    token for the API: {} token issue --subject you", helmdeck.display());
    eprintln!("    MCP client set-up: {} connect claude-code (or claude-desktop, gemini-cli, ...)", helmdeck.display());
    run(&mut cmd)
}

/// Every test: unit, integration, end-to-end and doc tests.
pub fn test(ws: &Workspace, extra: &[String]) -> Result<()> {
    let started = Instant::now();
    if has_nextest(ws) {
        run(ws.cargo().args(["nextest", "run", "--workspace", "--no-fail-fast"]).args(extra))?;
        if extra.is_empty() {
            run(ws.cargo().args(["test", "--workspace", "--doc"]))?;
        }
    } else {
        run(ws.cargo().args(["test", "--workspace", "--no-fail-fast"]).args(extra))?;
    }
    eprintln!("==> all tests passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Formatting and clippy, warnings denied.
pub fn lint(ws: &Workspace) -> Result<()> {
    run(ws.cargo().args(["fmt", "--all", "--check"]))?;
    run(ws.cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
}

fn has_nextest(ws: &Workspace) -> bool {
    ws.cargo().args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success())
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
