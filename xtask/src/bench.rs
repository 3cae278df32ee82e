//! `cargo xtask bench`: build the packs and a release `helmdeck`, then run
//! the benchmark binary (`bench/`, crate `helmdeck-bench`), which writes one
//! JSON report to `target/bench/report.json` and prints a summary table.
//!
//! The report (`bench/src/report.rs`) holds the machine (CPU model, cores,
//! kernel, git commit and whether the tree was dirty, time, build profile) and
//! one entry per measured quantity: group, name, unit, sample count, p50, p90,
//! p99, mean, min, max, the comparison with a baseline measured in the same
//! run, the target and whether it was met, and the conditions of the
//! measurement. Its shape never changes when benchmarks are added.
//!
//! # Adding a benchmark
//!
//! A benchmark group is a function `fn(&Context) -> Result<Vec<Entry>>` in
//! `bench/src/groups/<name>.rs`, listed once in `groups::ALL`; the module
//! docs of `bench/src/groups/mod.rs` walk through it. Nothing here changes:
//! every group runs, and `--only <name>` runs one.
//!
//! The browser comparison (`--only browser`) is driven from here instead
//! (`bench_browser.rs`): it needs Node.js and Playwright beside the real
//! server, so it runs the release binary as a process and its results are
//! added to the report under `"browser"`. The MCP measurements (`--only
//! mcp`, `bench_mcp.rs`) likewise run the official Python MCP client against
//! the real server and land under `"mcp"`.

use crate::packs;
use crate::workspace::{build_helmdeck, run, step};
use anyhow::Result;
use helmdeck_build::{Progress, Workspace};
use std::process::Command;

/// Options passed through to the benchmark binary.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Run only these groups (`engine`, `audit`, `rest`, `idle`, `browser`, `mcp`; repeatable).
    #[arg(long, value_name = "GROUP")]
    pub only: Vec<String>,
    /// Multiply every sample count (0.1 for a quick, noisier look).
    #[arg(long)]
    pub scale: Option<f64>,
}

/// Build everything the benchmarks need and run them.
pub fn run_all(ws: &Workspace, args: &BenchArgs) -> Result<()> {
    let built = packs::build_all(ws)?;
    let helmdeck = build_helmdeck(ws, true)?;
    let bench = step("building the benchmarks (release)", || {
        Ok(ws.build_binary("helmdeck-bench", "helmdeck-bench", "release", Progress::Shown)?)
    })?;
    let report = ws.target_dir.join("bench").join("report.json");
    let mut cmd = Command::new(bench);
    cmd.arg("--helmdeck").arg(&helmdeck).arg("--packs").arg(ws.target_dir.join("packs")).arg("--out").arg(&report);
    let wants = |group: &str| args.only.is_empty() || args.only.iter().any(|g| g == group);
    let native_groups: Vec<&String> = args.only.iter().filter(|g| ![BROWSER, MCP].contains(&g.as_str())).collect();
    for group in &native_groups {
        cmd.args(["--only", group]);
    }
    if let Some(scale) = args.scale {
        cmd.args(["--scale", &scale.to_string()]);
    }
    if args.only.is_empty() || !native_groups.is_empty() {
        eprintln!("==> running the benchmarks");
        run(cmd.current_dir(&ws.root))?;
    }
    if wants(BROWSER) || wants(MCP) {
        crate::setup::ensure_all(ws)?;
    }
    if wants(BROWSER) {
        let browser = step("browser benchmark (Helmdeck vs Playwright)", || crate::bench_browser::run(ws, &helmdeck))?;
        merge_into_report(&report, BROWSER, browser)?;
    }
    if wants(MCP) {
        let rounds = (200.0 * args.scale.unwrap_or(1.0)).round().max(10.0) as u32;
        let mcp = crate::bench_mcp::run_all(ws, &helmdeck, &built, rounds)?;
        merge_into_report(&report, MCP, mcp)?;
    }
    if wants(BROWSER) || wants(MCP) {
        eprintln!("    report: {}", report.display());
    }
    Ok(())
}

/// The group name of the browser comparison.
const BROWSER: &str = "browser";
/// The group name of the MCP measurements (`tools/call` vs REST, screenshot vs `@playwright/mcp`).
const MCP: &str = "mcp";

/// Add `value` under `key` in the JSON report at `path` (creating it when
/// only the browser benchmark ran).
fn merge_into_report(path: &std::path::Path, key: &str, value: serde_json::Value) -> Result<()> {
    let mut report: serde_json::Value = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(_) => serde_json::json!({ "format": 1 }),
    };
    report[key] = value;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    Ok(())
}
